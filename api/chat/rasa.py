"""The client of the Rasa server: deskmate's input channel (bot/channel.py), on loopback.

Every text goes with the gateway's hint (api/chat/hints.py) in ``metadata.nlu_hint``; Rasa's arbiter
(bot/arbiter.py) combines it with DIET's ranking.
"""

from __future__ import annotations

import time
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
    return RasaClient(base_url or settings.rasa_url, token=token, channel_secret=channel_secret(settings),
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


class RasaClient:
    """Talks to one Rasa 3.6 server.

    A timeout raises RasaTimeout (the answer is slow); a refused connection, 5xx or a refused secret raises
    RasaUnavailable.
    """

    def __init__(self, base_url: str, *, token: str | None = None, channel_secret: str = "", timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None, hinter: Hinter | None = None) -> None:
        self._params = {"token": token} if token else {}
        self.hinter = hinter
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport,
                                       headers={SECRET_HEADER: channel_secret},
                                       limits=httpx.Limits(max_connections=50, max_keepalive_connections=50))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RasaTimeout(f"Rasa did not answer in time: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"Rasa did not answer: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code in (401, 403, 404):
            raise RasaUnavailable(f"Rasa answered {response.status_code} to {path}")
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa refused {path} ({response.status_code})")
        return response.json()

    async def send(self, *, sender: str, text: str, metadata: dict[str, Any]) -> Reply:
        """One user turn through deskmate's channel: the bot's messages and the detected intent."""
        body = {"sender": sender, "message": text, "metadata": await self._with_hint(text, metadata)}
        started = time.perf_counter()
        answer = await self._request("POST", f"{CHANNEL_PATH}/webhook", json=body)
        rasa_s = time.perf_counter() - started
        if not isinstance(answer, dict):
            raise RasaUnavailable("Rasa's channel answered something other than a JSON object")
        intent: dict[str, Any] = answer["intent"] if isinstance(answer.get("intent"), dict) else {}
        messages = answer.get("messages")
        action_s = answer.get("timing", {}).get("action_s") if isinstance(answer.get("timing"), dict) else None
        return Reply(messages=messages if isinstance(messages, list) else [],
                     intent=intent.get("name"), confidence=intent.get("confidence"), rasa_s=rasa_s,
                     action_s=float(action_s) if isinstance(action_s, int | float) else None)

    async def _with_hint(self, text: str, metadata: dict[str, Any]) -> dict[str, Any]:
        hint = await self.hinter.hint(text) if self.hinter else None
        return {**metadata, "nlu_hint": hint} if hint else metadata

    async def parse(self, text: str) -> dict[str, Any]:
        """Rasa's NLU result for ``text`` (intent, intent_ranking, entities), hint included, as a turn would get it."""
        body = {"text": text, "metadata": await self._with_hint(text, {})}
        result = await self._request("POST", f"{CHANNEL_PATH}/parse", json=body)
        if not isinstance(result, dict):
            raise RasaUnavailable("Rasa's channel answered something other than a JSON object")
        return result

    async def ready(self) -> bool:
        try:
            await self._request("GET", f"{CHANNEL_PATH}/")
        except RasaUnavailable:
            return False
        return True
