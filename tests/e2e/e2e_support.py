"""Constants and helpers shared by the e2e tests and their conftest (a module of its own: conftest names clash)."""

from __future__ import annotations

import os
import socket

CHANNEL_SECRET = "e2e-channel-" + os.urandom(12).hex()  # DESKMATE_RASA_CHANNEL_SECRET of every api started here


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
