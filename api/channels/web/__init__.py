"""The web widget's channel: conversations started from a page, proved by a chat session token."""
