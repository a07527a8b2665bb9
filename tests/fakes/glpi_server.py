"""The fake GLPI of the tests: it lives in ``api/dev/fake_glpi.py`` (``deskmate dev fake-glpi`` serves it too)."""

from api.dev.fake_glpi import BASE, Delivery, FakeGlpi, FakeGlpiServer, FakeWebhook, GlpiFail, Sent

__all__ = ["BASE", "Delivery", "FakeGlpi", "FakeGlpiServer", "FakeWebhook", "GlpiFail", "Sent"]
