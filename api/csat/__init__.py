"""CSAT (issue #14): a one-question survey (1–5, an optional comment) for the requester of a resolved ticket.

``queue`` asks for it in the transaction that resolves the ticket (once per ticket); ``send`` is the worker's part
that asks on the ticket's origin channel (a bot message with 1–5 buttons in the widget, Slack or Teams; a mail with
five signed single-use links, ``links``); ``service`` records answers (the chat's button, handled in the chat core
before Rasa, and the e-mail page) and reports them, split by who resolved the ticket. docs/csat.md.
"""
