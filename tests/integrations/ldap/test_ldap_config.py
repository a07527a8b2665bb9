"""The bind password stored encrypted (DESKMATE_LDAP_BIND_PASSWORD_ENCRYPTED) and `deskmate secrets encrypt`."""

from __future__ import annotations

from cryptography.fernet import Fernet
from fakes.slapd_server import PASSWORDS, Slapd, ldap_settings
from pydantic import SecretStr
from typer.testing import CliRunner

from api import crypto
from api.cli import app as cli
from api.integrations.ldap.connect import bind_password, directory
from api.settings import Settings, get_settings


def _settings(tmp_path, **values) -> Settings:
    return Settings(env="test", data_dir=tmp_path, encryption_keys=SecretStr(Fernet.generate_key().decode()),
                    _env_file=None, **values)  # type: ignore[call-arg]


async def test_the_encrypted_bind_password_binds(slapd: Slapd, tmp_path):
    base = _settings(tmp_path)
    token = crypto.encrypt(base, PASSWORDS["deskmate"])
    settings = base.model_copy(update={"ldap": ldap_settings(
        slapd, bind_password_encrypted=token, bind_password=SecretStr("ignored-when-encrypted-is-set"))})
    assert PASSWORDS["deskmate"] not in repr(settings) and token in repr(settings.ldap)  # only the token is stored
    assert bind_password(settings).get_secret_value() == PASSWORDS["deskmate"]  # type: ignore[union-attr]
    ldap = directory(settings)
    assert (await ldap.find_user(username="alice")) is not None
    await ldap.aclose()


def test_cli_encrypts_a_secret_read_on_stdin(monkeypatch, tmp_path):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("DESKMATE_ENCRYPTION_KEYS", key)
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["secrets", "encrypt"], input="bind-secret\n")
        empty = CliRunner().invoke(cli, ["secrets", "encrypt"], input="")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "bind-secret" not in result.stdout
    assert Fernet(key).decrypt(result.stdout.strip().encode()) == b"bind-secret"
    assert empty.exit_code == 1 and "nothing to encrypt" in empty.output
