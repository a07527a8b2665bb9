"""The fake GLPI of the tests: it lives in ``api/dev/fake_glpi.py`` (``deskmate dev fake-glpi`` serves it too)."""

from api.dev.fake_glpi import BASE, FakeGlpi, FakeGlpiServer, GlpiFail, Sent

__all__ = ["BASE", "FakeGlpi", "FakeGlpiServer", "GlpiFail", "Sent"]
