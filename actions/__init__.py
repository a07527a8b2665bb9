"""deskmate custom actions for the Rasa action server (rasa_sdk 3.6, Python 3.10).

Thin by design: they read the conversation, call the deskmate api through
:mod:`actions.api_client` (the one place that speaks HTTP) and turn the answer into
chat messages. Business rules live in the api.

Run: ``python -m actions.server --host 127.0.0.1 --port 5055`` from the repository root
(rasa_sdk's server behind the shared secret ``DESKMATE_ACTIONS_SECRET``, see actions/server.py).
"""
