-- Ticket updates go back to the requester where the ticket came from (issue #12): the alert channel ORIGIN
-- (api/channels/origin.py) answers in the ticket's chat conversation (widget, Slack, Teams) or mail thread.
ALTER TABLE alert_deliveries DROP CONSTRAINT alert_deliveries_channel_check;
ALTER TABLE alert_deliveries ADD CONSTRAINT alert_deliveries_channel_check
    CHECK (channel IN ('EMAIL', 'SMS', 'WEBHOOK', 'IN_APP', 'ORIGIN'));

-- Two default rules, editable and disableable like any other: the default ORIGIN template words them for the
-- requester. Internal notes never match (include_internal_comments is false); the requester's own comments and
-- status changes are not echoed back to them (an event's actor is never its recipient).
INSERT INTO alert_rules (name, events, conditions, channels)
VALUES ('Tell the requester where they asked: status', ARRAY['status_changed'],
        '{"statuses": ["in_progress", "pending", "resolved", "cancelled"]}'::jsonb,
        '[{"channel": "ORIGIN", "recipients": [{"kind": "requester"}]}]'::jsonb),
       ('Tell the requester where they asked: replies', ARRAY['commented'], '{}'::jsonb,
        '[{"channel": "ORIGIN", "recipients": [{"kind": "requester"}]}]'::jsonb);
