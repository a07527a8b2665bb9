-- What the widget ran in when a conversation started (api/channels/web/models.py, ClientKind): 'mobile' when the
-- employee portal runs as the installed app or on a phone-sized screen; its tickets carry source MOBILE.
ALTER TABLE chat_conversations ADD COLUMN client text NOT NULL DEFAULT 'browser'
    CHECK (client IN ('browser', 'mobile'));
