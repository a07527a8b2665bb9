-- Step-up identity check (api/stepup, docs/stepup.md): one-time codes before sensitive workflow steps.
--
-- Factors on file: the mobile number (users.phone) and the e-mail address (users.email) the people table already
-- has, and an authenticator app (TOTP) when the employee enrolled one (stepup_totp). Codes are never stored: a
-- challenge keeps an HMAC-SHA256 of its code under a key the database does not hold.

-- The system actor that opens "possible account takeover" tickets (it has no token).
INSERT INTO users (email, name, role) VALUES ('stepup@deskmate.invalid', 'Step-up identity check', 'service')
ON CONFLICT DO NOTHING;

-- An enrolled authenticator app: its secret encrypted with api/crypto.py (ENCRYPTED_COLUMNS), and the last time
-- step accepted, so a code is never accepted twice.
CREATE TABLE stepup_totp (
    user_id bigint PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    secret_encrypted text NOT NULL,
    last_step bigint,
    enrolled_at timestamptz NOT NULL DEFAULT now()
);

-- One code sent (or asked from the authenticator) for one employee in one conversation.
CREATE TABLE stepup_challenges (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    conversation_id uuid NOT NULL REFERENCES chat_conversations ON DELETE CASCADE,
    factor text NOT NULL CHECK (factor IN ('sms', 'email', 'totp')),
    destination text NOT NULL,  -- masked, as the bot may show it ("+44 •••• ••12")
    code_salt bytea,
    code_hash bytea,  -- HMAC-SHA256(key, salt || code); NULL for TOTP (the app makes the code)
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    verified_at timestamptz,  -- set once: a challenge is single use
    CHECK ((factor = 'totp') = (code_hash IS NULL)),
    CHECK ((code_hash IS NULL) = (code_salt IS NULL))
);
CREATE INDEX stepup_challenges_conversation_idx ON stepup_challenges (conversation_id, user_id, verified_at DESC);
CREATE INDEX stepup_challenges_user_idx ON stepup_challenges (user_id, created_at DESC);

-- Wrong codes in a row per employee, and the lockout they lead to (with its one takeover ticket).
CREATE TABLE stepup_users (
    user_id bigint PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until timestamptz,
    lockout_ticket_id bigint REFERENCES tickets ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
