"""Web pages and static assets: the chat widget and its demo page."""
