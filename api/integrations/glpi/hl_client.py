"""The GLPI 11 High-Level API (``api.php/v2``, OAuth2) client: the same ``GlpiApi`` as the legacy client.

    async with HlClient(base_url, client_id=…, client_secret=…, username=…, password=…, guard=guard) as glpi:
        ticket_id = await glpi.create_ticket({"name": "VPN down", …})

The first call gets a token (``POST …/api.php/token``, password grant, ``scope=api``); every call sends it as
``Authorization: Bearer …``. A token about to expire is refreshed first (refresh_token grant; a refused refresh
logs in again); a 401 on a call (the token was revoked or expired early) logs in again once and repeats the
call. The connector and the field maps see the legacy client's shapes (``hl_shapes.py``): status an int,
``itilcategories_id``, ``externalid``, dates as GLPI's ``YYYY-MM-DD HH:MM:SS``. Every failure is a
``GlpiError``, permanent or transient by the legacy client's rule, carrying HL's ``status`` code and its
``title``/``detail``/``additional_messages``. The host goes through the outbound guard once per client.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from api.errors import GlpiError, OutboundRefused
from api.integrations.glpi import hl_shapes as shapes
from api.integrations.glpi.client import TRANSIENT, content_range
from api.integrations.outbound import OutboundGuard, Target, tls_context

REFRESH_MARGIN_S = 60.0  # refresh a token that expires sooner than this
TICKETS = "Assistance/Ticket"


def hl_urls(base_url: str) -> tuple[str, str]:
    """(API root, token URL) of a configured URL: ``…/api.php/v2`` (or ``v2.1`` …) or just ``…/api.php``."""
    base = base_url.rstrip("/")
    root, _, last = base.rpartition("/")
    if last.startswith("v2"):
        return base, f"{root}/token"
    return f"{base}/v2", f"{base}/token"


def error_of(response: httpx.Response) -> tuple[str | None, str]:
    """HL's ``{status, title, detail, additional_messages}`` or OAuth's ``{error, error_description}`` body as
    (code, text); the raw text when it is neither."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:300]
    if isinstance(body, dict) and "status" in body and "title" in body:
        notes = [str(m.get("message", m)) if isinstance(m, dict) else str(m)
                 for m in body.get("additional_messages") or []]
        text = "; ".join(str(part) for part in (body["title"], body.get("detail"), *notes) if part)
        return str(body["status"]), text
    if isinstance(body, dict) and "error" in body:
        return str(body["error"]), str(body.get("error_description") or body.get("message") or body["error"])
    return None, response.text[:300]


def is_permanent(response: httpx.Response, code: str | None) -> bool:
    """4xx but the transient ones; and GLPI's ``500 ERROR "Failed to add item(s)"`` that carries its reasons
    (the HL API answers a refused add/update so: trying again cannot help)."""
    status = response.status_code
    if 400 <= status < 500:
        return status not in TRANSIENT
    if status == 500 and code == "ERROR":
        try:
            return bool(response.json().get("additional_messages"))
        except (ValueError, AttributeError):
            return False
    return False


class HlClient:
    """One GLPI server's High-Level API, for the length of an ``async with``."""

    def __init__(self, base_url: str, *, client_id: str, client_secret: str, username: str, password: str,
                 guard: OutboundGuard, timeout_s: float = 15.0) -> None:
        self.base_url = base_url
        self._root, self._token_url = hl_urls(base_url)
        self._client_id, self._client_secret = client_id, client_secret
        self._username, self._password = username, password
        self._guard, self._timeout_s = guard, timeout_s
        self._http: httpx.AsyncClient | None = None
        self._targets: dict[str, Target] = {}
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return f"HlClient({self._root!r}, client_id={self._client_id!r}, username={self._username!r})"

    async def __aenter__(self) -> HlClient:
        self._http = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False, verify=tls_context())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._access = self._refresh = None  # the token expires by itself (the HL API has no logout)
        if self._http is not None:
            await self._http.aclose()

    # ------------------------------------------------------------------ transport
    async def _target(self, url: str) -> Target:
        if url not in self._targets:
            try:
                self._targets[url] = await self._guard.resolve(url)
            except OutboundRefused as exc:
                raise GlpiError(exc.detail, permanent=exc.permanent) from exc
        return self._targets[url]

    async def _send(self, method: str, url: str, path: str = "", *, headers: dict[str, str],
                    params: dict[str, Any] | None = None, content: bytes | None = None) -> httpx.Response:
        assert self._http is not None
        target = await self._target(url)
        full = target.url.copy_with(path=f"{target.url.path.rstrip('/')}/{path}" if path else target.url.path)
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        headers = headers | {"Host": target.host_header, "User-Agent": "deskmate-sync/1", "Accept": "application/json"}
        try:
            return await self._http.request(method, full, params=params, content=content, headers=headers,
                                            extensions=extensions)
        except httpx.TimeoutException as exc:
            raise GlpiError(f"GLPI ({target.host_header}) did not answer in {self._timeout_s:g} s.") from exc
        except httpx.HTTPError as exc:
            raise GlpiError(f"Cannot reach GLPI ({target.host_header}): {type(exc).__name__}: {exc}") from exc

    def _error(self, what: str, response: httpx.Response) -> GlpiError:
        code, text = error_of(response)
        status = response.status_code
        return GlpiError(f"GLPI answered {status} to {what}: {code + ': ' if code else ''}{text}",
                         code=code, http_status=status, permanent=is_permanent(response, code))

    async def _grant(self, **form: str) -> None:
        """Gets a token (the password grant, or a refresh) and keeps it."""
        body = httpx.QueryParams({"client_id": self._client_id, "client_secret": self._client_secret, **form})
        response = await self._send("POST", self._token_url, content=str(body).encode(),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        if response.status_code != 200:
            raise self._error(f"the {form['grant_type']} grant", response)
        token = response.json()
        self._access, self._refresh = str(token["access_token"]), token.get("refresh_token")
        self._expires_at = time.monotonic() + float(token.get("expires_in") or 3600)

    async def _login(self) -> None:
        await self._grant(grant_type="password", username=self._username, password=self._password, scope="api")

    async def _fresh_token(self) -> None:
        """A token valid for a while: a new one when there is none, a refreshed one when it expires soon."""
        if self._access is None:
            await self._login()
        elif self._expires_at - time.monotonic() < REFRESH_MARGIN_S:
            try:
                if not self._refresh:
                    raise GlpiError("no refresh token", permanent=True)
                await self._grant(grant_type="refresh_token", refresh_token=self._refresh)
            except GlpiError as exc:
                if not exc.permanent:
                    raise
                await self._login()  # the refresh token was refused: log in again

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                      ok: tuple[int, ...] = (200, 206)) -> httpx.Response:
        """Sends one call with a valid token (logging in once more when GLPI says the token is not valid)."""
        content = None if method == "GET" or body is None else json.dumps(body).encode()
        await self._fresh_token()
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._access}", "Content-Type": "application/json"}
            response = await self._send(method, self._root, path, headers=headers, params=params, content=content)
            if response.status_code == 401 and attempt == 1:
                await self._login()
                continue
            break
        if response.status_code not in ok:
            raise self._error(f"{method} {path}", response)
        return response

    async def pages(self, path: str, *, params: dict[str, Any], page_size: int = 50) -> AsyncIterator[dict[str, Any]]:
        """Every row of a search, page by page (``start`` + ``limit``, until ``Content-Range`` says the total)."""
        start = 0
        while True:
            response = await self.request("GET", path, params=params | {"start": start, "limit": page_size})
            rows = response.json()
            for row in rows:
                yield row
            bounds = content_range(response)
            if not rows or bounds is None or start + len(rows) >= bounds[2]:
                return
            start += len(rows)

    # ------------------------------------------------------------------ tickets
    async def find_ticket(self, *, externalid: str) -> dict[str, Any] | None:
        query = {"filter": f"external_id=={shapes.rsql_value(externalid)}"}
        async for row in self.pages(TICKETS, params=query):
            if row.get("external_id") == externalid:
                return shapes.ticket(row)
        return None

    async def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        return shapes.ticket((await self.request("GET", f"{TICKETS}/{ticket_id}")).json())

    async def create_ticket(self, fields: dict[str, Any]) -> int:
        response = await self.request("POST", TICKETS, body=shapes.ticket_input(fields), ok=(201,))
        return int(response.json()["id"])

    async def update_ticket(self, ticket_id: int, fields: dict[str, Any]) -> None:
        await self.request("PATCH", f"{TICKETS}/{ticket_id}", body=shapes.ticket_input(fields))

    async def add_followup(self, ticket_id: int, *, content: str, private: bool) -> int:
        response = await self.request("POST", f"{TICKETS}/{ticket_id}/Timeline/Followup",
                                      body={"content": content, "is_private": private}, ok=(201,))
        return int(response.json()["id"])

    async def add_solution(self, ticket_id: int, *, content: str) -> int:
        response = await self.request("POST", f"{TICKETS}/{ticket_id}/Timeline/Solution", body={"content": content},
                                      ok=(201,))
        return int(response.json()["id"])

    async def followups(self, ticket_id: int) -> list[dict[str, Any]]:
        rows = (await self.request("GET", f"{TICKETS}/{ticket_id}/Timeline/Followup")).json()
        return [shapes.followup(row) for row in rows]

    async def tickets_by_date_mod(self, *, page_size: int = 50) -> AsyncIterator[dict[str, Any]]:
        """Tickets, the last changed first (stop reading when older than what you need)."""
        async for row in self.pages(TICKETS, params={"sort": "date_mod:desc"}, page_size=page_size):
            yield shapes.ticket(row)
