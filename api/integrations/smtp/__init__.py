"""E-mail over SMTP: ``SmtpClient(settings.smtp)`` (client.py), configured by ``SmtpSettings`` (settings.py)."""
