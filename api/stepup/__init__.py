"""Step-up identity check: a one-time code to a factor on file before a sensitive step (docs/stepup.md).

``service.start`` sends a code (SMS, e-mail) or asks for the authenticator's (TOTP); ``service.verify`` checks
it; ``service.require_recent`` is what the workflow engine asks before a password reset or an unlock.
"""
