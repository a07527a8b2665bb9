"""The sync engine: deskmate tickets kept in step with external service desks (docs/integrations/glpi.md,
docs/integrations/solman.md).

    ticket event ──triage step (outbox.record)──▶ sync_outbox ──sync.push job──▶ connector ──▶ external ticket
    external ticket ◀── sync.poll job (every minute) ── changes since the cursor ──▶ ticket service (meta.sync)

The outbox row is written in the transaction that processes the event, so no change is lost; the push job
only wakes the outbox up. Links (ticket ↔ external id, comment ↔ follow-up) are unique per connector, so
retries, restarts and concurrent workers never make a second external ticket. Changes that came in from a
connector carry ``meta.sync = <connector name>`` on their events and are not sent back to it.

One engine, one connector per kind: the engine talks to a connector only through a session
(``protocol.Session``), opened by ``kinds.open_session`` for the connector's ``kind`` (``glpi``:
api/integrations/glpi/sync.py, ``solman``: api/integrations/solman/sync.py). Each kind brings its config model
(``connectors.CONFIGS``), its secrets (``connectors.SECRETS``) and its cursor (GLPI's ``date_mod``, SolMan's
changed-at in UTC).
"""
