"""Clients of outside systems: one package each (smtp, twilio, webhooks; later ldap, glpi, solman, llm).

Every integration looks the same, so a new one copies an existing one:

    api/integrations/smtp/
      settings.py   SmtpSettings: a pydantic-settings model with its own env prefix (DESKMATE_SMTP_*),
                    nested in api.settings.Settings as ``settings.smtp``
      client.py     SmtpClient(settings.smtp): the only code that talks to the server; it raises
                    errors of the tree (SmtpError …), translated where they enter (``raise … from exc``)

A client gets its configuration in its constructor and never reads the global settings. Callers
build it where they need it (``SmtpClient(settings.smtp)``); tests build one with the settings of a
local server. Outbound HTTP to addresses people configure goes through ``outbound.OutboundGuard``.
"""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict


def settings_config(env_prefix: str) -> SettingsConfigDict:
    """The settings config every integration's settings model uses (same rules as api.settings)."""
    return SettingsConfigDict(env_prefix=env_prefix, env_ignore_empty=True, extra="ignore", env_file=".env",
                              populate_by_name=True)
