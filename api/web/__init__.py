"""Web pages and static assets: the chat widget and its demo page (routes.py), what every page shares (pages.py),
and signing in to the console and the portal (signin/)."""
