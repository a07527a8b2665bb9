-- The e-mail channel (api/channels/email): service-desk mailboxes read over IMAP, and every message in or out.
--
-- mailboxes: configured by admins; the IMAP password is a Fernet token (api/crypto.py, rotated by `deskmate keys
-- rotate`). uidvalidity / last_uid: the poll cursor, advanced in the same transaction as the ticket or comment a
-- message made, so a worker killed mid-batch reads the rest again and nothing twice.
CREATE TABLE mailboxes (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    host text NOT NULL,
    port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls text NOT NULL CHECK (tls IN ('none', 'starttls', 'ssl')),
    username text NOT NULL,
    password_encrypted text NOT NULL,
    folder text NOT NULL DEFAULT 'INBOX',
    address text,  -- the address people write to (Reply-To of what deskmate sends)
    processed_folder text,  -- NULL: processed mail stays and is flagged \Seen
    unknown_sender text NOT NULL DEFAULT 'reject' CHECK (unknown_sender IN ('create_contact', 'reject')),
    enabled boolean NOT NULL DEFAULT true,
    uidvalidity bigint,
    last_uid bigint NOT NULL DEFAULT 0,
    last_polled_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every message read (direction 'in') or sent (direction 'out'): the Message-ID is unique per mailbox (exactly
-- once), and a reply's In-Reply-To / References find the ticket through it. outcome of an inbound message:
-- ticket, comment, ignored (auto-reply, bounce: recorded, never answered), rejected (unknown sender), failed
-- (could not be processed: the error is the reason; the mail stays in the mailbox's processed folder).
CREATE TABLE email_messages (
    id bigserial PRIMARY KEY,
    mailbox_id bigint REFERENCES mailboxes ON DELETE SET NULL,
    message_id text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('in', 'out')),
    ticket_id bigint REFERENCES tickets,
    uid bigint,
    address text,  -- the sender of an inbound message, the recipient of an outbound one
    subject text,
    outcome text CHECK (outcome IN ('ticket', 'comment', 'ignored', 'rejected', 'failed', 'sent')),
    reason text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX email_messages_mailbox_message_idx ON email_messages (mailbox_id, message_id);
CREATE INDEX email_messages_message_idx ON email_messages (message_id);
CREATE INDEX email_messages_ticket_idx ON email_messages (ticket_id, id) WHERE ticket_id IS NOT NULL;

-- Files that came with a message, listed on its ticket. Kept in the database (size and type limits:
-- DESKMATE_EMAIL_MAX_ATTACHMENT_BYTES, DESKMATE_EMAIL_BLOCKED_EXTENSIONS).
CREATE TABLE email_attachments (
    id bigserial PRIMARY KEY,
    email_message_id bigint NOT NULL REFERENCES email_messages ON DELETE CASCADE,
    ticket_id bigint NOT NULL REFERENCES tickets,
    filename text NOT NULL,
    content_type text NOT NULL,
    size integer NOT NULL CHECK (size >= 0),
    content bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_attachments_ticket_idx ON email_attachments (ticket_id, id);
