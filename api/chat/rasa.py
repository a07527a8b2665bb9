"""The client of the Rasa servers: deskmate's input channel (bot/channel.py).

Every text goes with the gateway's hint (api/chat/hints.py) in ``metadata.nlu_hint``; Rasa's arbiter
(bot/arbiter.py) combines it with DIET's ranking.

With several Rasa servers (``DESKMATE_RASA_URLS``) each conversation sticks to one of them, chosen by
rendezvous hashing of the conversation id over the server URLs: every api replica with the same list picks the
same server, and a server leaving or joining moves only its own share of conversations. A server that refuses
the connection or answers 503 (still loading its model) is skipped for ``retry_after_s`` and the turn goes to the
conversation's next server; the tracker is in the shared tracker store, so any server can continue a
conversation, and a Redis lock store (docs/chat.md) keeps two servers from running one conversation's turns at
once during such a move. A timeout is never retried elsewhere: the first server may still be running the turn.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from api import keyfile
from api.chat.hints import Hinter
from api.errors import RasaTimeout, RasaUnavailable
from api.settings import Settings

CHANNEL_PATH = "/webhooks/deskmate"
SECRET_HEADER = "X-Deskmate-Channel-Secret"


def channel_secret(settings: Settings) -> str:
    """The secret Rasa's channel checks: DESKMATE_RASA_CHANNEL_SECRET, or in development a file in the data dir."""
    if settings.rasa_channel_secret is not None:
        return settings.rasa_channel_secret.get_secret_value()
    return keyfile.read_or_create(settings.data_dir / "rasa-channel.secret", nbytes=32)


def from_settings(settings: Settings, *, base_url: str | None = None) -> RasaClient:
    """The client the api and the CLI use: the channel's secret, the API token and the gateway's hints."""
    from api.kb.embedding import get_embedder

    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    servers = [base_url] if base_url else (settings.rasa_urls or [settings.rasa_url])
    return RasaClient(servers, token=token, channel_secret=channel_secret(settings),
                      timeout_s=settings.rasa_timeout_s,
                      hinter=Hinter(get_embedder(settings), enabled=settings.nlu_hints))


@dataclass
class Reply:
    """One turn's answer from Rasa: the bot's messages and the intent it detected in the user's text."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    rasa_s: float | None = None  # the wait for Rasa's answer
    action_s: float | None = None  # the part of it Rasa waited for the action server (bot/channel.py reports it)


def rendezvous(servers: Sequence[str], key: str) -> list[str]:
    """``servers`` in the order ``key`` (a conversation id) tries them: highest hash of (server, key) first."""
    return sorted(servers, key=lambda s: hashlib.sha256(f"{s}\n{key}".encode()).digest(), reverse=True)


class RasaClient:
    """Talks to one or several Rasa 3.6 servers (``base_url``: one URL or a list).

    A timeout raises RasaTimeout (the answer is slow); a refused connection, 5xx or a refused secret raises
    RasaUnavailable. With several servers, a refused connection or a 503 moves the request to the key's next
    server first (see the module's docstring); RasaUnavailable comes when none answered.
    """

    def __init__(self, base_url: str | Sequence[str], *, token: str | None = None, channel_secret: str = "",
                 timeout_s: float = 10.0, transport: httpx.AsyncBaseTransport | None = None,
                 hinter: Hinter | None = None, retry_after_s: float = 5.0) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.servers = list(dict.fromkeys(u.strip().rstrip("/") for u in urls if u.strip()))
        if not self.servers:
            raise ValueError("RasaClient needs at least one Rasa server URL")
        self._params = {"token": token} if token else {}
        self.hinter = hinter
        self.retry_after_s = retry_after_s
        self._down_until: dict[str, float] = {}
        self._http = {url: httpx.AsyncClient(base_url=url, timeout=timeout_s, transport=transport,
                                             headers={SECRET_HEADER: channel_secret},
                                             limits=httpx.Limits(max_connections=50, max_keepalive_connections=50))
                      for url in self.servers}

    async def aclose(self) -> None:
        for http in self._http.values():
            await http.aclose()

    def servers_for(self, key: str) -> list[str]:
        """The servers in the order a request for ``key`` tries them: its rendezvous order, servers that failed in
        the last ``retry_after_s`` moved to the end (still tried, last)."""
        now = time.monotonic()
        return sorted(rendezvous(self.servers, key), key=lambda s: self._down_until.get(s, 0.0) > now)

    async def _request(self, method: str, path: str, *, key: str, **kwargs: Any) -> Any:
        failed: list[str] = []
        for server in self.servers_for(key):
            try:
                response = await self._http[server].request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never reached Rasa: the next may answer
                failed.append(f"{server}: {type(exc).__name__}")
            except httpx.TimeoutException as exc:
                raise RasaTimeout(f"Rasa did not answer in time: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise RasaUnavailable(f"Rasa did not answer: {type(exc).__name__}") from exc
            else:
                if response.status_code == 503:  # up, but not serving yet (its model is loading)
                    failed.append(f"{server}: 503")
                elif response.status_code >= 500 or response.status_code in (401, 403, 404):
                    raise RasaUnavailable(f"Rasa answered {response.status_code} to {path}")
                elif response.status_code >= 400:
                    raise RasaUnavailable(f"Rasa refused {path} ({response.status_code})")
                else:
                    self._down_until.pop(server, None)
                    return response.json()
            self._down_until[server] = time.monotonic() + self.retry_after_s
        raise RasaUnavailable(f"Rasa did not answer: {'; '.join(failed)}")

    async def send(self, *, sender: str, text: str, metadata: dict[str, Any],
                   hint: Awaitable[dict[str, Any] | None] | None = None) -> Reply:
        """One user turn through deskmate's channel: the bot's messages and the detected intent.

        ``hint``: the text's hint already under way (``self.hint(text)`` started earlier); by default it is
        computed here."""
        hinted = await hint if hint is not None else await self.hint(text)
        body = {"sender": sender, "message": text, "metadata": {**metadata, "nlu_hint": hinted} if hinted else metadata}
        started = time.perf_counter()
        answer = await self._request("POST", f"{CHANNEL_PATH}/webhook", key=sender, json=body)
        rasa_s = time.perf_counter() - started
        if not isinstance(answer, dict):
            raise RasaUnavailable("Rasa's channel answered something other than a JSON object")
        intent: dict[str, Any] = answer["intent"] if isinstance(answer.get("intent"), dict) else {}
        messages = answer.get("messages")
        action_s = answer.get("timing", {}).get("action_s") if isinstance(answer.get("timing"), dict) else None
        return Reply(messages=messages if isinstance(messages, list) else [],
                     intent=intent.get("name"), confidence=intent.get("confidence"), rasa_s=rasa_s,
                     action_s=float(action_s) if isinstance(action_s, int | float) else None)

    async def hint(self, text: str) -> dict[str, Any] | None:
        """The gateway's ``nlu_hint`` for ``text`` (None without a hinter, or for a button payload)."""
        return await self.hinter.hint(text) if self.hinter else None

    async def _with_hint(self, text: str, metadata: dict[str, Any]) -> dict[str, Any]:
        hint = await self.hint(text)
        return {**metadata, "nlu_hint": hint} if hint else metadata

    async def parse(self, text: str) -> dict[str, Any]:
        """Rasa's NLU result for ``text`` (intent, intent_ranking, entities), hint included, as a turn would get it."""
        body = {"text": text, "metadata": await self._with_hint(text, {})}
        result = await self._request("POST", f"{CHANNEL_PATH}/parse", key=text, json=body)
        if not isinstance(result, dict):
            raise RasaUnavailable("Rasa's channel answered something other than a JSON object")
        return result

    async def ready(self) -> bool:
        """True when at least one server answers the channel's health check."""
        try:
            await self._request("GET", f"{CHANNEL_PATH}/", key="ready")
        except RasaUnavailable:
            return False
        return True
