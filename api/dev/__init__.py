"""Development tooling: the embedded database, the process supervisor, the stack `deskmate run` starts, demo data."""
