"""The agent console (docs/console.md): queues, the ticket page and bulk actions, over the ticket services."""
