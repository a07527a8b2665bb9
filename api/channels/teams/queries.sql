-- The Teams channel's statements (api/channels/teams).

-- name: personal_conversation
-- The newest personal (1:1) Teams conversation with the bot of the active user with this address: where a
-- proactive message to them can go.
SELECT c.id, c.channel_ref
FROM chat_conversations c JOIN users u ON u.id = c.employee_id
WHERE c.channel = 'teams' AND lower(u.email) = lower(%(email)s) AND u.active
  AND c.channel_ref -> 'conversation' ->> 'conversationType' = 'personal'
ORDER BY c.last_message_at DESC, c.created_at DESC
LIMIT 1;
