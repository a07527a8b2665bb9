-- A run started from the chat remembers its conversation: the step-up pass it waits for must be the
-- employee's in that conversation (api/workflows/wiring.py, api/stepup/service.py recent).
ALTER TABLE workflow_runs ADD COLUMN conversation_id uuid;
