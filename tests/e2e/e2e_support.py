"""Constants shared by the e2e tests and their conftest (a module of its own: conftest names clash)."""

from __future__ import annotations

import os

CHANNEL_SECRET = "e2e-channel-" + os.urandom(12).hex()  # DESKMATE_RASA_CHANNEL_SECRET of every api started here
