"""SMS through Twilio: ``TwilioClient(settings.twilio)`` (client.py), configured by ``TwilioSettings`` (settings.py)."""
