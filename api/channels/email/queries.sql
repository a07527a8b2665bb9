-- The e-mail channel's statements (api/channels/email).

-- name: create_mailbox
-- Saves a new mailbox; the password arrives already encrypted.
INSERT INTO mailboxes (name, host, port, tls, username, password_encrypted, address, folder, processed_folder,
                       unknown_sender, enabled)
VALUES (%(name)s, %(host)s, %(port)s, %(tls)s, %(username)s, %(password_encrypted)s, %(address)s, %(folder)s,
        %(processed_folder)s, %(unknown_sender)s, %(enabled)s)
RETURNING *;

-- name: get_mailbox
-- One mailbox, password token included (callers never return it).
SELECT * FROM mailboxes WHERE id = %(id)s;

-- name: lock_mailbox
-- One mailbox, locked for an update.
SELECT * FROM mailboxes WHERE id = %(id)s FOR UPDATE;

-- name: list_mailboxes
-- Every mailbox (only the enabled ones with enabled_only), by name.
SELECT * FROM mailboxes WHERE (NOT %(enabled_only)s OR enabled) ORDER BY name;

-- name: update_mailbox
-- Writes every field of a mailbox (the caller merged the patch); a new place to read resets the cursor.
UPDATE mailboxes SET name = %(name)s, host = %(host)s, port = %(port)s, tls = %(tls)s, username = %(username)s,
       password_encrypted = %(password_encrypted)s, address = %(address)s, folder = %(folder)s,
       processed_folder = %(processed_folder)s, unknown_sender = %(unknown_sender)s, enabled = %(enabled)s,
       uidvalidity = %(uidvalidity)s, last_uid = %(last_uid)s, updated_at = now()
WHERE id = %(id)s
RETURNING *;

-- name: delete_mailbox
-- Removes a mailbox; its messages stay (mailbox_id becomes NULL), so replies still thread.
DELETE FROM mailboxes WHERE id = %(id)s RETURNING id;

-- name: try_lock_mailbox
-- A session lock while one poll reads the mailbox (another poll of it skips it meanwhile).
SELECT pg_try_advisory_lock(hashtext('deskmate.mailbox'), %(id)s::int) AS locked;

-- name: unlock_mailbox
-- Releases the session lock of try_lock_mailbox.
SELECT pg_advisory_unlock(hashtext('deskmate.mailbox'), %(id)s::int) AS unlocked;

-- name: advance_cursor
-- Moves the mailbox's cursor past ``uid`` (never backwards within one UIDVALIDITY).
UPDATE mailboxes SET uidvalidity = %(uidvalidity)s,
       last_uid = CASE WHEN uidvalidity IS DISTINCT FROM %(uidvalidity)s THEN %(uid)s
                       ELSE greatest(last_uid, %(uid)s) END
WHERE id = %(id)s;

-- name: reset_cursor
-- A new UIDVALIDITY: every UID read before means nothing now; start from the beginning of the folder.
UPDATE mailboxes SET uidvalidity = %(uidvalidity)s, last_uid = 0 WHERE id = %(id)s;

-- name: record_poll
-- When the mailbox was last read and what went wrong (NULL: nothing).
UPDATE mailboxes SET last_polled_at = now(), last_error = %(error)s WHERE id = %(id)s;

-- name: claim_message
-- Records a message once per mailbox; no row back when this Message-ID was seen there before.
INSERT INTO email_messages (mailbox_id, message_id, direction, uid, address, subject)
VALUES (%(mailbox_id)s, %(message_id)s, %(direction)s, %(uid)s, %(address)s, %(subject)s)
ON CONFLICT (mailbox_id, message_id) DO NOTHING
RETURNING id;

-- name: set_outcome
-- What an inbound message became (ticket, comment, ignored, rejected), and why.
UPDATE email_messages SET outcome = %(outcome)s, reason = %(reason)s, ticket_id = %(ticket_id)s WHERE id = %(id)s;

-- name: record_outbound
-- A message deskmate sent on a ticket's thread (replies to it find the ticket); nothing when already recorded.
INSERT INTO email_messages (mailbox_id, message_id, direction, ticket_id, address, subject, outcome)
VALUES (%(mailbox_id)s, %(message_id)s, 'out', %(ticket_id)s, %(address)s, %(subject)s, 'sent')
ON CONFLICT (mailbox_id, message_id) DO NOTHING;

-- name: ticket_by_references
-- The ticket of the newest known message among these Message-IDs.
SELECT ticket_id FROM email_messages
WHERE message_id = ANY(%(refs)s) AND ticket_id IS NOT NULL
ORDER BY id DESC LIMIT 1;

-- name: ticket_id_by_number
-- A ticket's id from its number (INC-000123).
SELECT id FROM tickets WHERE number = %(number)s;

-- name: thread
-- The Message-IDs of a ticket's thread, oldest first, and the mailbox it came through.
SELECT message_id, mailbox_id FROM email_messages WHERE ticket_id = %(ticket_id)s ORDER BY id;

-- name: inbound_message
-- An inbound message with its mailbox's reply address, for the answer to it.
SELECT e.*, m.address AS mailbox_address FROM email_messages e LEFT JOIN mailboxes m ON m.id = e.mailbox_id
WHERE e.id = %(id)s;

-- name: sent_exists
-- Whether a message with this Message-ID was already sent (a retried reply job).
SELECT 1 AS sent FROM email_messages WHERE message_id = %(message_id)s AND direction = 'out';

-- name: ticket_for_mail
-- The ticket fields an e-mail about it needs, with the requester's address.
SELECT t.id, t.number, t.title, t.status, t.requester_id, u.email AS requester_email
FROM tickets t JOIN users u ON u.id = t.requester_id WHERE t.id = %(id)s;

-- name: mailbox_address
-- The reply address of a mailbox (NULL when unknown).
SELECT address FROM mailboxes WHERE id = %(id)s;

-- name: add_attachment
-- Keeps one attachment of a message, listed on its ticket.
INSERT INTO email_attachments (email_message_id, ticket_id, filename, content_type, size, content)
VALUES (%(email_message_id)s, %(ticket_id)s, %(filename)s, %(content_type)s, %(size)s, %(content)s);

-- name: list_attachments
-- A ticket's attachments from mail (without their bytes), oldest first.
SELECT id, ticket_id, filename, content_type, size, created_at FROM email_attachments
WHERE ticket_id = %(ticket_id)s ORDER BY id;

-- name: get_attachment
-- One attachment with its bytes.
SELECT * FROM email_attachments WHERE id = %(id)s;
