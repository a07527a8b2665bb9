-- name: ticket_origin
-- Where a ticket came from: its source and, for a ticket opened in a chat (directly or by a workflow run the
-- chat started), the conversation with its channel and reply address.
SELECT t.id, t.number, t.title, t.source_type, t.source_reference, t.requester_id,
       c.id AS conversation_id, c.channel, c.channel_key, c.channel_ref, c.employee_id
FROM tickets t
LEFT JOIN workflow_runs w ON t.source_reference LIKE 'workflow-run-%%'
     AND w.id = (CASE WHEN t.source_reference ~ '^workflow-run-[0-9]{1,18}$'
                      THEN substr(t.source_reference, 14)::bigint END)
LEFT JOIN chat_conversations c ON c.id = COALESCE(
     w.conversation_id,
     CASE WHEN t.source_reference ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          THEN t.source_reference::uuid END)
WHERE t.id = %(ticket_id)s
