-- Analytics (api/analytics/queries.sql): every metric selects a period by a timestamp; without these each one
-- scans its whole table. Per-ticket lookups use ticket_events_ticket_idx (ticket_id, id) already.
CREATE INDEX tickets_created_idx ON tickets (created_at);
CREATE INDEX tickets_resolved_idx ON tickets (resolved_at) WHERE resolved_at IS NOT NULL;
-- status changes (backlog, reopen rate) and breaches by time
CREATE INDEX ticket_events_status_changed_idx ON ticket_events (created_at) WHERE kind = 'status_changed';
CREATE INDEX ticket_events_sla_breach_idx ON ticket_events (created_at) WHERE kind = 'sla_breach';
CREATE INDEX chat_conversations_created_idx ON chat_conversations (created_at);
CREATE INDEX chat_messages_user_created_idx ON chat_messages (created_at) WHERE direction = 'user';
CREATE INDEX workflow_runs_conversation_idx ON workflow_runs (conversation_id) WHERE conversation_id IS NOT NULL;
CREATE INDEX kb_answers_unhelpful_idx ON kb_answers (created_at) WHERE helpful IS FALSE OR NOT confident;
