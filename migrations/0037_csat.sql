-- CSAT (issue #14): one satisfaction survey per ticket, asked when it is first resolved, on the channel the
-- ticket came from (api/csat, docs/csat.md). A ticket reopened and resolved again is not asked again ("once").
CREATE TABLE csat_surveys (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL UNIQUE REFERENCES tickets ON DELETE CASCADE,
    requester_id bigint NOT NULL REFERENCES users,
    -- who resolved it: the bot (a verified workflow run, tickets.resolution 'auto') or a person
    resolved_by text NOT NULL CHECK (resolved_by IN ('bot', 'person')),
    resolver_id bigint REFERENCES users,
    -- queued: the worker has not sent it yet; sent: asked; skipped: nowhere to ask (or CSAT turned off); failed:
    -- the channel refused for good (reason in error)
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'skipped', 'failed')),
    channel text CHECK (channel IN ('web', 'slack', 'teams', 'email')),
    conversation_id uuid REFERENCES chat_conversations ON DELETE SET NULL,
    error text,
    -- the e-mail links' nonce, hashed (sha256): a link is signed for this survey and this nonce only
    token_hash bytea UNIQUE,
    token_expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    asked_at timestamptz,
    answered_at timestamptz,
    score smallint CHECK (score BETWEEN 1 AND 5),
    comment text CHECK (char_length(comment) <= 2000),
    -- in a chat, the bot's "what would you like to add?": the requester's next message there is the comment
    comment_prompt_id bigint REFERENCES chat_messages ON DELETE SET NULL,
    CHECK ((answered_at IS NULL) = (score IS NULL))
);
CREATE INDEX csat_surveys_comment_prompt_idx ON csat_surveys (comment_prompt_id) WHERE comment_prompt_id IS NOT NULL;
CREATE INDEX csat_surveys_answered_idx ON csat_surveys (answered_at) WHERE answered_at IS NOT NULL;
