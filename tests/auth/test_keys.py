"""Keys have one purpose each: per-site widget identity keys with key ids and overlap on rotation, chat
session keys of their own, and a rotatable encryption key ring with ``deskmate keys rotate``."""

from __future__ import annotations

import secrets
import time
import uuid

import jwt
import psycopg
import pytest
from cryptography.fernet import Fernet
from itsdangerous import URLSafeTimedSerializer
from typer.testing import CliRunner

from api import crypto
from api.chat import identity
from api.chat.identity import sign_identity, sign_session, verify_identity, verify_session
from api.cli import app as cli
from api.errors import Unauthorized
from api.settings import Settings, get_settings

OLD, NEW = secrets.token_urlsafe(40), secrets.token_urlsafe(40)


def _settings(tmp_path, **fields) -> Settings:
    return Settings(env="test", data_dir=tmp_path, _env_file=None, **fields)  # type: ignore[call-arg]


def test_the_master_secret_no_longer_signs_widget_identities(tmp_path):
    """Today's intranet recipe (itsdangerous over DESKMATE_SECRET_KEY) must not let anyone in."""
    settings = _settings(tmp_path, secret_key="m" * 40)
    forged = URLSafeTimedSerializer("m" * 40, salt="deskmate.widget-identity").dumps({"email": "ceo@example.com"})
    with pytest.raises(Unauthorized):
        verify_identity(settings, forged)
    assert verify_identity(settings, sign_identity(settings, "jordan.blake@example.com")) == "jordan.blake@example.com"


def test_site_keys_rotate_with_an_overlap(tmp_path):
    before = _settings(tmp_path, widget_site_keys=f"intranet:k1:{OLD}")
    during = _settings(tmp_path, widget_site_keys=f"intranet:k2:{NEW},intranet:k1:{OLD}")
    after = _settings(tmp_path, widget_site_keys=f"intranet:k2:{NEW}")
    old_token = sign_identity(before, "ann@example.com")
    assert jwt.get_unverified_header(old_token)["kid"] == "k1"
    assert verify_identity(during, old_token) == "ann@example.com"  # pages rendered before the switch still work
    new_token = sign_identity(during, "ann@example.com")
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"  # the newest key signs
    assert verify_identity(after, new_token) == "ann@example.com"
    with pytest.raises(Unauthorized, match="unknown or retired key"):
        verify_identity(after, old_token)


def test_each_site_signs_with_its_own_key(tmp_path):
    settings = _settings(tmp_path, widget_site_keys=f"intranet:a1:{OLD},portal:p1:{NEW}")
    assert jwt.get_unverified_header(sign_identity(settings, "x@example.com", site="portal"))["kid"] == "p1"
    # a token claiming to come from the intranet but signed with the portal's key is refused
    now = int(time.time())
    claims = {"sub": "x@example.com", "aud": identity.IDENTITY_AUDIENCE, "iss": "intranet", "iat": now, "exp": now + 60}
    mixed = jwt.encode(claims, NEW, algorithm="HS256", headers={"kid": "p1"})
    with pytest.raises(Unauthorized):
        verify_identity(settings, mixed)
    with pytest.raises(Unauthorized, match="No widget identity key"):
        sign_identity(settings, "x@example.com", site="elsewhere")


def test_a_site_key_signs_identities_only(tmp_path):
    """A key held by an intranet back end cannot mint chat sessions or other-audience tokens."""
    settings = _settings(tmp_path, widget_site_keys=f"intranet:k1:{OLD}")
    now = int(time.time())
    other = jwt.encode({"sub": "x@example.com", "aud": "deskmate-actions", "iss": "intranet", "iat": now,
                        "exp": now + 60}, OLD, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized):
        verify_identity(settings, other)
    session = URLSafeTimedSerializer(OLD, salt="deskmate.chat-session").dumps({"c": "conv-1"})
    with pytest.raises(Unauthorized):
        verify_session(settings, session, "conv-1")
    long_lived = jwt.encode({"sub": "x@example.com", "aud": identity.IDENTITY_AUDIENCE, "iss": "intranet",
                             "iat": now, "exp": now + 7 * 86400}, OLD, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized, match="too long"):
        verify_identity(settings, long_lived)


def test_malformed_site_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 32"):
        identity.parse_site_keys("intranet:k1:short")
    with pytest.raises(ValueError, match="twice"):
        identity.parse_site_keys(f"a:k1:{OLD},b:k1:{NEW}")


def test_sessions_have_their_own_rotatable_keys(tmp_path):
    dev = _settings(tmp_path)
    token = sign_session(dev, "conv-1")
    verify_session(dev, token, "conv-1")
    assert (tmp_path / "session.key").exists() and (tmp_path / "session.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(Unauthorized):  # not the master secret (which the dev data dir may hold as well)
        verify_session(dev, URLSafeTimedSerializer(dev.effective_secret_key(), salt="deskmate.chat-session")
                       .dumps({"c": "conv-1"}), "conv-1")
    old = _settings(tmp_path, session_keys=OLD)
    rotated = _settings(tmp_path, session_keys=f"{NEW},{OLD}")
    verify_session(rotated, sign_session(old, "conv-2"), "conv-2")
    with pytest.raises(Unauthorized):
        verify_session(_settings(tmp_path, session_keys=NEW), sign_session(old, "conv-2"), "conv-2")


def test_encryption_keys_rotate(tmp_path):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = crypto.encrypt(_settings(tmp_path, encryption_keys=old_key), "whsec_abc")
    both = _settings(tmp_path, encryption_keys=f"{new_key},{old_key}")
    assert crypto.decrypt(both, token) == "whsec_abc"
    assert Fernet(new_key).decrypt(crypto.encrypt(both, "x").encode()) == b"x"  # the newest key encrypts
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(_settings(tmp_path, encryption_keys=new_key), token)


def test_secrets_from_before_own_keys_stay_readable(tmp_path):
    """A secret stored under the key derived from DESKMATE_SECRET_KEY (today's scheme) still decrypts."""
    legacy = Fernet(crypto._legacy_key("m" * 40)).encrypt(b"whsec_old").decode()
    settings = _settings(tmp_path, secret_key="m" * 40, encryption_keys=Fernet.generate_key().decode())
    assert crypto.decrypt(settings, legacy) == "whsec_old"


async def test_rotate_reencrypts_stored_secrets_with_the_newest_key(conn, tmp_path):
    await conn.execute("CREATE TEMP TABLE vault (id int PRIMARY KEY, secret_encrypted text)")
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = _settings(tmp_path, encryption_keys=old_key)
    both = _settings(tmp_path, encryption_keys=f"{new_key},{old_key}")
    await conn.execute("INSERT INTO vault VALUES (1, %s), (2, %s), (3, NULL), (4, %s)",
                       (crypto.encrypt(old, "one"), crypto.encrypt(both, "two"),
                        Fernet(Fernet.generate_key()).encrypt(b"lost").decode()))
    result = await crypto.rotate(conn, both, columns=(crypto.Column("vault", "id", "secret_encrypted"),))
    assert (result.rotated, result.current, result.unreadable) == (1, 1, 1)
    rows = {r["id"]: r["secret_encrypted"] for r in await (await conn.execute("SELECT * FROM vault")).fetchall()}
    only_new = _settings(tmp_path, encryption_keys=new_key)
    assert crypto.decrypt(only_new, rows[1]) == "one" and crypto.decrypt(only_new, rows[2]) == "two"
    assert rows[3] is None


async def test_every_encrypted_column_is_listed_for_rotation(conn):
    rows = await (await conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name LIKE '%%encrypted%%'")).fetchall()
    assert {(r["table_name"], r["column_name"]) for r in rows} == {
        (c.table, c.column) for c in crypto.ENCRYPTED_COLUMNS}


def test_cli_keys_rotate_in_development(monkeypatch, settings, tmp_path):
    """A new development key goes first in the key file; stored secrets move to it; the app still reads them."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("DESKMATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKMATE_ENV", "test")
    get_settings.cache_clear()
    try:
        stored = crypto.encrypt(settings, f"whsec_{uuid.uuid4().hex}")
        before = crypto.key_ring(settings)
        result = CliRunner().invoke(cli, ["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "re-encrypted" in result.stdout
        after = crypto.key_ring(settings)
        assert after[1:len(before) + 1] == before and after[0] not in before
        assert (settings.data_dir / crypto.DEV_KEYS_FILE).stat().st_mode & 0o777 == 0o600
        assert crypto.decrypt(settings, stored).startswith("whsec_")
        with psycopg.connect(settings.database_url.get_secret_value()) as db:
            tokens = [t for (t,) in db.execute("SELECT secret_encrypted FROM alert_rules WHERE secret_encrypted IS NOT NULL")]
        assert tokens and all(Fernet(after[0]).decrypt(t.encode()) for t in tokens)
    finally:
        get_settings.cache_clear()


def test_cli_prints_new_keys():
    site = CliRunner().invoke(cli, ["keys", "new-site-key", "--site", "intranet"])
    [entry] = identity.parse_site_keys(site.stdout.strip())
    assert entry.site == "intranet" and entry.kid.startswith("intranet-")
    Fernet(CliRunner().invoke(cli, ["keys", "new-encryption-key"]).stdout.strip())
