"""The client of the Rasa server: its REST channel, tracker and NLU endpoints, on loopback."""

from __future__ import annotations

from typing import Any

import httpx

from api.errors import RasaUnavailable


class RasaClient:
    """Talks to one Rasa 3.6 server. Connection failures, timeouts and 5xx raise RasaUnavailable."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._params = {"token": token} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport,
                                       limits=httpx.Limits(max_connections=50, max_keepalive_connections=50))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"Rasa did not answer: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code in (401, 403, 404):
            raise RasaUnavailable(f"Rasa answered {response.status_code} to {path}")
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa refused {path} ({response.status_code})")
        return response.json()

    async def send(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """One user turn through the REST channel; returns the bot's messages."""
        body = {"sender": sender, "message": text, "metadata": metadata}
        replies = await self._request("POST", "/webhooks/rest/webhook", json=body)
        return replies if isinstance(replies, list) else []

    async def latest_intent(self, *, sender: str) -> tuple[str | None, float | None]:
        """The intent Rasa detected in the conversation's latest user message."""
        tracker = await self._request("GET", f"/conversations/{sender}/tracker",
                                      params={"include_events": "NONE", **self._params})
        intent = (tracker.get("latest_message") or {}).get("intent") or {}
        return intent.get("name"), intent.get("confidence")

    async def parse(self, text: str) -> dict[str, Any]:
        """Rasa's NLU result for ``text``: intent, intent_ranking, entities."""
        result: dict[str, Any] = await self._request("POST", "/model/parse", json={"text": text}, params=self._params)
        return result

    async def ready(self) -> bool:
        try:
            await self._request("GET", "/webhooks/rest/")
        except RasaUnavailable:
            return False
        return True
