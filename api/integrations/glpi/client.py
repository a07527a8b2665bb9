"""The GLPI legacy REST API (``apirest.php``) client: sessions, paging, tickets and their follow-ups.

    async with LegacyClient(base_url, user_token=…, app_token=…, guard=guard) as glpi:
        ticket_id = await glpi.create_ticket({"name": "VPN down", …})

A session starts on the first call (``initSession`` with ``Authorization: user_token …`` and ``App-Token``)
and ends with the ``async with`` (``killSession``). A 401 ``ERROR_SESSION_TOKEN_INVALID`` (the session
expired) logs in again once and repeats the call. GET requests never carry a body. Every failure is a
``GlpiError``: ``permanent`` for 4xx answers (after the re-login), transient for no answer, timeouts, 5xx
and 429. The host goes through the outbound guard (api/integrations/outbound.py) once per session.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx

from api.errors import GlpiError, OutboundRefused
from api.integrations.outbound import OutboundGuard, Target, tls_context

SESSION_EXPIRED = "ERROR_SESSION_TOKEN_INVALID"
RANGE_EXCEEDED = "ERROR_RANGE_EXCEED_TOTAL"
TRANSIENT = frozenset({408, 425, 429})
_CONTENT_RANGE = re.compile(r"^(\d+)-(\d+)/(\d+)$")


class GlpiApi(Protocol):
    """What the sync engine needs from GLPI; one implementation per API (this legacy REST client, and
    hl_client.HlClient for GLPI 11's High-Level API), in the legacy API's shapes."""

    async def find_ticket(self, *, externalid: str) -> dict[str, Any] | None: ...
    async def get_ticket(self, ticket_id: int) -> dict[str, Any]: ...
    async def create_ticket(self, fields: dict[str, Any]) -> int: ...
    async def update_ticket(self, ticket_id: int, fields: dict[str, Any]) -> None: ...
    async def add_followup(self, ticket_id: int, *, content: str, private: bool) -> int: ...
    async def add_solution(self, ticket_id: int, *, content: str) -> int: ...
    async def followups(self, ticket_id: int) -> list[dict[str, Any]]: ...
    def tickets_by_date_mod(self, *, page_size: int = 50) -> AsyncIterator[dict[str, Any]]: ...


def error_of(response: httpx.Response) -> tuple[str | None, str]:
    """GLPI's ``[CODE, message]`` error body as (code, message); the raw text when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:300]
    if isinstance(body, list) and len(body) == 2 and all(isinstance(x, str) for x in body):
        return body[0], body[1]
    return None, response.text[:300]


def content_range(response: httpx.Response) -> tuple[int, int, int] | None:
    """(start, end, total) of a ``Content-Range: start-end/total`` header."""
    match = _CONTENT_RANGE.match(response.headers.get("content-range", "").strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


class LegacyClient:
    """One GLPI server's legacy REST API, for the length of an ``async with``."""

    def __init__(self, base_url: str, *, user_token: str, app_token: str | None, guard: OutboundGuard,
                 timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._user_token, self._app_token = user_token, app_token
        self._guard, self._timeout_s = guard, timeout_s
        self._http: httpx.AsyncClient | None = None
        self._target: Target | None = None
        self._session: str | None = None

    async def __aenter__(self) -> LegacyClient:
        self._http = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False, verify=tls_context())
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._session is not None and self._target is not None:
                await self._send("GET", "killSession", headers=self._headers())
        except GlpiError:
            pass  # the session expires by itself
        finally:
            self._session = None
            if self._http is not None:
                await self._http.aclose()

    # ------------------------------------------------------------------ transport
    def _headers(self, *, login: bool = False) -> dict[str, str]:
        assert self._target is not None
        headers = {"Host": self._target.host_header, "Content-Type": "application/json",
                   "User-Agent": "deskmate-sync/1"}
        if self._app_token:
            headers["App-Token"] = self._app_token
        if login:
            headers["Authorization"] = f"user_token {self._user_token}"
        elif self._session:
            headers["Session-Token"] = self._session
        return headers

    async def _send(self, method: str, path: str, *, headers: dict[str, str], params: dict[str, Any] | None = None,
                    body: Any = None) -> httpx.Response:
        assert self._http is not None and self._target is not None
        url = self._target.url.copy_with(path=f"{self._target.url.path.rstrip('/')}/{path}")
        extensions = {"sni_hostname": self._target.sni_hostname} if self._target.sni_hostname else {}
        content = None if method == "GET" or body is None else json.dumps(body).encode()  # GET: never a body
        try:
            return await self._http.request(method, url, params=params, content=content, headers=headers,
                                            extensions=extensions)
        except httpx.TimeoutException as exc:
            raise GlpiError(f"GLPI ({self._target.host_header}) did not answer in {self._timeout_s:g} s.") from exc
        except httpx.HTTPError as exc:
            raise GlpiError(f"Cannot reach GLPI ({self._target.host_header}): {type(exc).__name__}: {exc}") from exc

    async def _login(self) -> None:
        if self._target is None:  # checked once per session, when the first call needs it
            try:
                self._target = await self._guard.resolve(self.base_url)
            except OutboundRefused as exc:
                raise GlpiError(exc.detail, permanent=exc.permanent) from exc
        response = await self._send("GET", "initSession", headers=self._headers(login=True))
        if response.status_code != 200:
            raise self._error("initSession", response)
        self._session = str(response.json()["session_token"])

    def _error(self, what: str, response: httpx.Response) -> GlpiError:
        code, message = error_of(response)
        status = response.status_code
        permanent = 400 <= status < 500 and status not in TRANSIENT
        return GlpiError(f"GLPI answered {status} to {what}: {code + ': ' if code else ''}{message}",
                         code=code, http_status=status, permanent=permanent)

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      body: Any = None, ok: tuple[int, ...] = (200, 201, 206)) -> httpx.Response:
        """Sends one call in the session (logging in first, and once more when the session expired)."""
        if self._session is None:
            await self._login()
        response = await self._send(method, path, headers=self._headers(), params=params, body=body)
        if response.status_code == 401 and error_of(response)[0] == SESSION_EXPIRED:
            await self._login()
            response = await self._send(method, path, headers=self._headers(), params=params, body=body)
        if response.status_code not in ok:
            raise self._error(f"{method} {path}", response)
        return response

    async def pages(self, path: str, *, params: dict[str, Any], page_size: int = 50) -> AsyncIterator[dict[str, Any]]:
        """Every row of a list, page by page (``range``, 206 + ``Content-Range`` until the total)."""
        start = 0
        while True:
            try:
                response = await self.request("GET", path, params=params | {"range": f"{start}-{start + page_size - 1}"})
            except GlpiError as exc:
                if exc.code == RANGE_EXCEEDED:
                    return
                raise
            for row in response.json():
                yield row
            bounds = content_range(response)
            if response.status_code == 200 or bounds is None or bounds[1] + 1 >= bounds[2]:
                return
            start = bounds[1] + 1

    # ------------------------------------------------------------------ tickets
    async def find_ticket(self, *, externalid: str) -> dict[str, Any] | None:
        """The ticket whose ``externalid`` is exactly this (searchText is a LIKE filter: checked here)."""
        async for row in self.pages("Ticket/", params={"searchText[externalid]": externalid}):
            if row.get("externalid") == externalid:
                return row
        return None

    async def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        return dict((await self.request("GET", f"Ticket/{ticket_id}")).json())

    async def create_ticket(self, fields: dict[str, Any]) -> int:
        return int((await self.request("POST", "Ticket/", body={"input": fields}, ok=(201,))).json()["id"])

    async def update_ticket(self, ticket_id: int, fields: dict[str, Any]) -> None:
        answer = (await self.request("PUT", f"Ticket/{ticket_id}", body={"input": fields})).json()
        if isinstance(answer, list) and answer and answer[0].get(str(ticket_id)) is False:
            raise GlpiError(f"GLPI refused to update ticket {ticket_id}: {answer[0].get('message', '')}",
                            code="ERROR_GLPI_UPDATE", permanent=True)

    async def add_followup(self, ticket_id: int, *, content: str, private: bool) -> int:
        fields = {"itemtype": "Ticket", "items_id": ticket_id, "content": content, "is_private": int(private)}
        response = await self.request("POST", f"Ticket/{ticket_id}/ITILFollowup", body={"input": fields}, ok=(201,))
        return int(response.json()["id"])

    async def add_solution(self, ticket_id: int, *, content: str) -> int:
        fields = {"itemtype": "Ticket", "items_id": ticket_id, "content": content}
        response = await self.request("POST", f"Ticket/{ticket_id}/ITILSolution", body={"input": fields}, ok=(201,))
        return int(response.json()["id"])

    async def followups(self, ticket_id: int) -> list[dict[str, Any]]:
        return [row async for row in self.pages(f"Ticket/{ticket_id}/ITILFollowup", params={})]

    def tickets_by_date_mod(self, *, page_size: int = 50) -> AsyncIterator[dict[str, Any]]:
        """Tickets, the last changed first (stop reading when older than what you need)."""
        return self.pages("Ticket/", params={"sort": "date_mod", "order": "DESC"}, page_size=page_size)
