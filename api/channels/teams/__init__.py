"""The Microsoft Teams channel (docs/channels.md#microsoft-teams): Bot Framework activities in, replies and notifications
out through the Bot Connector, on the Microsoft 365 Agents SDK's activity model (``microsoft-agents-activity``)."""
