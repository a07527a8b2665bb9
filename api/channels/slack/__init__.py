"""The Slack channel (docs/channels.md#slack): DMs and @mentions become turns of the conversation core.

    settings.py   SlackSettings (DESKMATE_SLACK_*); Slack is off unless the bot token and signing secret are set
    client.py     the Web API client (rate limits honoured) and ``post``, which raises ChannelDeliveryFailed
    people.py     Slack user → employee, by the profile's e-mail address, cached for a while
    render.py     a stored bot message as Block Kit blocks (text, buttons, citations)
    inbound.py    SlackChannel: the slack-bolt app, its listeners and the turns it runs in the background
    routes.py     POST /slack/events and POST /slack/interactions (outside /api/v1: Slack's own URLs)
    outbound.py   ``notify``: a ticket update posted in the conversation's thread
"""
