-- Me too: who is affected by a ticket reported in the chat, and which tickets are major incidents.
-- api/incidents is the only writer of both tables.

-- Everyone affected by a ticket: its requester when the ticket came from the chat (role 'requester'), and
-- every employee the bot linked to it instead of opening a duplicate (role 'linked'). Each row keeps the
-- employee's own words and their embedding (the knowledge base's MiniLM, 384 dimensions): new reports are
-- matched against them. One row per ticket and person.
CREATE TABLE incident_affected_users (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    conversation_id uuid REFERENCES chat_conversations ON DELETE SET NULL,
    role text NOT NULL CHECK (role IN ('requester', 'linked')),
    report text NOT NULL DEFAULT '' CHECK (length(report) <= 2000),
    embedding vector(384),
    category_id bigint REFERENCES categories ON DELETE SET NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ticket_id, user_id)
);
CREATE INDEX incident_affected_users_recent_idx ON incident_affected_users (linked_at DESC);
CREATE INDEX incident_affected_users_conversation_idx ON incident_affected_users (conversation_id);
CREATE INDEX incident_affected_users_user_idx ON incident_affected_users (user_id);

-- Tickets declared a major incident: by an agent (POST /tickets/{ref}/major-incident) or automatically when
-- DESKMATE_METOO_THRESHOLD people reported the same thing within the window. The summary (with the title)
-- is what new reports are matched against, for as long as the ticket is open.
CREATE TABLE major_incidents (
    ticket_id bigint PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,
    declared_by bigint REFERENCES users ON DELETE SET NULL,
    automatic boolean NOT NULL,
    summary text NOT NULL DEFAULT '' CHECK (length(summary) <= 2000),
    embedding vector(384),
    declared_at timestamptz NOT NULL DEFAULT now()
);

-- When a ticket with linked people is resolved, tell them (e-mail and in-app) through the alert rules:
-- the recipient kind 'affected' is everyone linked to the ticket (not its requester, whom other rules reach).
-- Admins may change or disable the rule like any other.
INSERT INTO alert_rules (name, events, conditions, channels)
VALUES ('Known issue resolved: tell the affected people', ARRAY['status_changed'],
        '{"statuses": ["resolved"]}'::jsonb,
        jsonb_build_array(
            jsonb_build_object('channel', 'EMAIL', 'recipients', jsonb_build_array(jsonb_build_object('kind', 'affected')),
                'template', jsonb_build_object(
                    'subject', '[{{ ticket.number }}] Fixed: {{ ticket.title }}',
                    'body', E'Good news: the issue you reported, {{ ticket.number }} "{{ ticket.title }}", is resolved.\n'
                            || E'{% if event.reason %}\n{{ event.reason }}\n{% endif %}\n'
                            || E'If it still does not work for you, tell the assistant in the chat and it will open '
                            || E'a ticket for you.\n')),
            jsonb_build_object('channel', 'IN_APP', 'recipients', jsonb_build_array(jsonb_build_object('kind', 'affected')),
                'template', jsonb_build_object(
                    'subject', '{{ ticket.number }} is resolved',
                    'body', 'The issue you reported, "{{ ticket.title }}", is resolved.{% if event.reason %} {{ event.reason }}{% endif %}'))))
ON CONFLICT (name) DO NOTHING;
