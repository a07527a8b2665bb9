"""The employee portal (``/me``): my tickets, each with its public comments, the conversation that opened it and a
reply form; the chat widget signed in as the session's employee; an installable web app (manifest, app-shell
service worker). Reads and writes through the ticket and chat services, with the same rights as the API."""
