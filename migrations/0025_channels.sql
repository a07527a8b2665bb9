-- Channels beyond the widget (api/channels): Slack, Teams and e-mail conversations on the same core.
--
-- channel_key: the channel's own name for the conversation (Slack: team:channel:thread, Teams: the conversation
-- id and user), unique per channel, so an inbound message finds its conversation and a retry never starts a
-- second one. channel_ref: where replies and ticket updates go (Slack channel and thread, Teams conversation
-- reference with its serviceUrl); never a secret.
ALTER TABLE chat_conversations DROP CONSTRAINT chat_conversations_channel_check;
ALTER TABLE chat_conversations ADD CONSTRAINT chat_conversations_channel_check
    CHECK (channel IN ('web', 'slack', 'teams', 'email'));
ALTER TABLE chat_conversations ADD COLUMN channel_key text, ADD COLUMN channel_ref jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE UNIQUE INDEX chat_conversations_channel_key_idx ON chat_conversations (channel, channel_key)
    WHERE channel_key IS NOT NULL;

-- Inbound deliveries already taken (Slack event_id, Teams activity id): a retry or replay is acknowledged and
-- dropped. Pruned by age (retention).
CREATE TABLE channel_inbound (
    channel text NOT NULL,
    event_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, event_id)
);
CREATE INDEX channel_inbound_received_idx ON channel_inbound (received_at);
