"""The e-mail channel: service-desk mailboxes read over IMAP become tickets and comments (issue #12).

    models.py / service.py / routes.py   mailboxes, configured by admins (/api/v1/mailboxes); the IMAP password
                                         is encrypted at rest (api/crypto.py) and never returned or logged
    imap.py                              the IMAP client (imap-tools): the only code that talks to the server
    parse.py                             one raw message -> sender, clean text, references, attachments, or why
                                         it is ignored (auto-replies, bounces); never raises
    ingest.py                            one message -> a ticket, a comment or a record, exactly once; polling
    outbound.py                          the acknowledgement, the unknown-sender answer and ``notify`` (ticket
                                         updates), threaded with In-Reply-To / References and the [INC-…] tag
    tasks.py                             the worker's periodic poll and the reply job

Exactly once: each message's Message-ID is unique per mailbox (``email_messages``) and the mailbox's UID cursor
moves in the same transaction as the ticket or comment the message made. docs/channels.md#e-mail.
"""
