"""Auto-resolution workflows: definitions as data, a durable engine, runs with tickets (docs/workflows.md)."""
