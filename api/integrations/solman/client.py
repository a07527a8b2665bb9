"""SAP Solution Manager 7.2 incidents over SAP Gateway OData V2 (../shared/specs/solman.md).

What the client does, as the Gateway wants it:
- **Auth:** HTTP Basic with a technical user (the common case), or an OAuth2 client-credentials token from the
  Gateway's token endpoint (cached until it expires; fetched again once on a 401).
- **CSRF:** every modifying request (POST, MERGE, DELETE) carries a token fetched with ``X-CSRF-Token: Fetch``
  and the session cookies that came with it. A 403 with ``x-csrf-token: Required`` ("CSRF token validation
  failed": the token or the session expired) fetches a new token once and repeats the request.
- **Client and language:** ``sap-client`` and ``sap-language`` on every request.
- **Paging:** ``$filter``/``$orderby``/``$top``, then the server's ``__next`` links (``$skiptoken``), only on
  the configured host.
- **Errors:** the V2 ``{"error": {"code", "message": {"value"}, "innererror": {"errordetails"}}}`` envelope
  becomes a SolmanError with SAP's code and text; 400/401/403/404 are permanent, 429/5xx/no answer are not.

Everything the spec marks "verify against the customer system" — service and entity set names, the key and
changed-at properties, status and priority codes, the text type of a reply — is configuration
(:class:`SolmanConfig`, docs/integrations/solman.md), not code.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from api.errors import OutboundRefused, SolmanError
from api.integrations.outbound import OutboundGuard, tls_context

MODIFYING = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})
V2_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
RETRYABLE = frozenset({408, 425, 429})


class SolmanConfig(BaseModel):
    """Where the incidents live and what their properties are called. The defaults are SAP's documented create
    service and commonly seen names; check every one against the customer's ``$metadata``."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="https://solman.example.com:44300 (no path)")
    sap_client: str | None = Field(default=None, pattern=r"^\d{3}$")
    language: str = Field(default="EN", pattern=r"^[A-Za-z]{2}$")
    create_service: str = "/sap/opu/odata/sap/AI_CRM_GW_CREATE_INCIDENT_SRV/"
    create_set: str = "IncidentSet"
    read_service: str = "/sap/opu/odata/sap/AI_CRM_GW_MYMESSAGE_SRV/"
    read_set: str = "IncidentSet"
    text_set: str = "TextSet"
    key_property: str = "ObjectId"
    changed_property: str = "ChangedAt"
    status_property: str = "StatusCode"
    text_property: str = "Text"
    text_type_property: str = "TextType"
    reply_text_type: str = "SU99"
    process_type: str = "SMIN"
    page_size: int = Field(default=100, ge=1, le=1000)
    timeout_s: float = Field(default=20.0, gt=0, le=300)


class SolmanCredentials(BaseModel):
    """Basic (``user`` + ``password``) or OAuth2 client credentials (``token_url`` + ``client_id`` +
    ``client_secret``)."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = None
    password: SecretStr | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None

    def __repr__(self) -> str:
        return f"SolmanCredentials(user={self.user!r}, client_id={self.client_id!r})"


def parse_date(value: Any) -> datetime | None:
    """A V2 JSON date (``/Date(1700000000000)/``) as an aware UTC datetime; None when absent or not a date."""
    match = V2_DATE.match(str(value or ""))
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC) if match else None


def filter_date(value: datetime) -> str:
    """A datetime for ``$filter`` (``datetime'2026-01-05T09:00:00'``, UTC)."""
    return "datetime'" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "'"


def quoted_key(value: str) -> str:
    """An entity key in a URL: ``('8000000123')`` with quotes doubled."""
    return "('" + value.replace("'", "''") + "')"


def error_of(response: httpx.Response) -> tuple[str, str]:
    """SAP's error code and text from a V2 error body (or the status line when it has none)."""
    try:
        error = response.json()["error"]
        code = str(error.get("code") or "")
        text = str((error.get("message") or {}).get("value") or "")
        details = [str(d.get("message")) for d in (error.get("innererror") or {}).get("errordetails") or []
                   if d.get("message") and d.get("message") != text]
        return code, "; ".join([text, *details]) if details else text
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", response.text[:300] or response.reason_phrase


@dataclass
class _Session:
    csrf: str | None = None
    bearer: str | None = None
    bearer_expires: float = 0.0


class SolmanClient:
    """One SolMan system. Raises SolmanError (``permanent`` when retrying cannot help)."""

    def __init__(self, config: SolmanConfig, credentials: SolmanCredentials, *, guard: OutboundGuard) -> None:
        self.config, self.credentials, self.guard = config, credentials, guard
        self._session = _Session()
        self._http = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False, verify=tls_context())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> SolmanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- the operations ----

    async def create_incident(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Creates an incident (``ProcessType`` defaults to the configured one); returns the created entity."""
        body = {"ProcessType": self.config.process_type, **fields}
        return await self._entity("POST", self.config.create_service, self.config.create_set, json=body)

    async def incident(self, key: str) -> dict[str, Any]:
        return await self._entity("GET", self.config.read_service, self.config.read_set + quoted_key(key))

    async def update_incident(self, key: str, fields: dict[str, Any]) -> None:
        """MERGE (a partial update, OData V2) of ``fields``."""
        await self._send("MERGE", self.config.read_service, self.config.read_set + quoted_key(key), json=fields)

    async def add_text(self, key: str, text: str, *, text_type: str | None = None) -> dict[str, Any]:
        """A text (a reply, by default the configured reply text type) on the incident."""
        c = self.config
        return await self._entity("POST", c.read_service, c.text_set, json={
            c.key_property: key, c.text_type_property: text_type or c.reply_text_type, c.text_property: text})

    async def texts(self, key: str) -> list[dict[str, Any]]:
        c = self.config
        return [t async for t in self._pages(c.read_service, c.text_set,
                                             {"$filter": f"{c.key_property} eq '{key.replace(chr(39), chr(39) * 2)}'"})]

    async def changed_since(self, since: datetime) -> AsyncIterator[dict[str, Any]]:
        """Incidents changed after ``since``, oldest change first, across the server's pages."""
        c = self.config
        params = {"$filter": f"{c.changed_property} gt {filter_date(since)}", "$orderby": f"{c.changed_property} asc",
                  "$top": str(c.page_size)}
        async for entity in self._pages(c.read_service, c.read_set, params):
            yield entity

    # ---- the protocol ----

    def _url(self, service: str, path: str) -> str:
        return self.config.base_url.rstrip("/") + "/" + service.strip("/") + "/" + path.lstrip("/")

    def _params(self, params: dict[str, str] | None = None) -> dict[str, str]:
        out = {"sap-language": self.config.language, **(params or {})}
        if self.config.sap_client:
            out["sap-client"] = self.config.sap_client
        return out

    async def _auth(self) -> dict[str, str]:
        creds = self.credentials
        if creds.token_url:
            if not self._session.bearer or time.monotonic() >= self._session.bearer_expires:
                await self._fetch_token()
            return {"Authorization": f"Bearer {self._session.bearer}"}
        if creds.user and creds.password:
            pair = f"{creds.user}:{creds.password.get_secret_value()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        raise SolmanError("No SolMan credentials: set user and password, or token_url, client_id and "
                          "client_secret.", permanent=True)

    async def _fetch_token(self) -> None:
        creds = self.credentials
        if not (creds.client_id and creds.client_secret and creds.token_url):
            raise SolmanError("OAuth2 needs token_url, client_id and client_secret.", permanent=True)
        response = await self._raw("POST", creds.token_url, data={
            "grant_type": "client_credentials", "client_id": creds.client_id,
            "client_secret": creds.client_secret.get_secret_value()}, headers={"Accept": "application/json"})
        if not response.is_success:
            code, text = error_of(response)
            raise SolmanError(f"The token endpoint answered {response.status_code}: {text or code}",
                              permanent=response.status_code in (400, 401, 403), http_status=response.status_code)
        answer = response.json()
        self._session.bearer = str(answer["access_token"])
        self._session.bearer_expires = time.monotonic() + max(float(answer.get("expires_in") or 300) - 30, 5)

    async def _fetch_csrf(self, service: str) -> None:
        """The CSRF token and the session cookies it belongs to (the service document with ``X-CSRF-Token: Fetch``)."""
        response = await self._raw("GET", self._url(service, ""), params=self._params(),
                                   headers={**await self._auth(), "X-CSRF-Token": "Fetch", "Accept": "application/json"})
        self._raise_for(response, what="fetching a CSRF token")
        token = response.headers.get("x-csrf-token")
        if not token or token.lower() == "required":
            raise SolmanError("SolMan sent no CSRF token: is the service activated in /IWFND/MAINT_SERVICE?",
                              permanent=True, http_status=response.status_code)
        self._session.csrf = token  # its session cookies are in the client's jar, sent with what follows

    async def _send(self, method: str, service: str, path: str, *, json: Any = None,
                    params: dict[str, str] | None = None, url: str | None = None) -> httpx.Response:
        target = url or self._url(service, path)
        for attempt in (1, 2):
            headers = {**await self._auth(), "Accept": "application/json"}
            if method in MODIFYING:
                if self._session.csrf is None:
                    await self._fetch_csrf(service)
                headers["X-CSRF-Token"] = self._session.csrf or ""
            response = await self._raw(method, target, json=json, headers=headers,
                                       params=None if url else self._params(params))
            if attempt == 1 and response.status_code == 403 and \
                    response.headers.get("x-csrf-token", "").lower() == "required":
                self._session.csrf = None  # expired token or session: fetch a new one, once
                continue
            if attempt == 1 and response.status_code == 401 and self.credentials.token_url:
                self._session.bearer = None  # an expired bearer token: fetch a new one, once
                continue
            self._raise_for(response, what=f"{method} {path or service}")
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _entity(self, method: str, service: str, path: str, *, json: Any = None) -> dict[str, Any]:
        response = await self._send(method, service, path, json=json)
        return dict(response.json()["d"])

    async def _pages(self, service: str, entity_set: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        response = await self._send("GET", service, entity_set, params=params)
        while True:
            body = response.json()["d"]
            for entity in body.get("results", []):
                yield dict(entity)
            following = body.get("__next")
            if not following:
                return
            if httpx.URL(str(following)).host not in ("", httpx.URL(self.config.base_url).host):
                raise SolmanError(f"SolMan's next-page link points elsewhere ({following}); refused.", permanent=True)
            url = str(httpx.URL(self.config.base_url).join(str(following)))
            response = await self._send("GET", service, entity_set, url=url)

    async def _raw(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request to a guard-checked address (pinned to the checked IP, Host and SNI keep the name)."""
        try:
            target = await self.guard.resolve(url)
        except OutboundRefused as exc:
            raise SolmanError(exc.detail, permanent=exc.permanent) from exc
        headers = {**kwargs.pop("headers", {}), "Host": target.host_header}
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        try:
            return await self._http.request(method, target.url, headers=headers, extensions=extensions, **kwargs)
        except httpx.TimeoutException as exc:
            raise SolmanError(f"No answer from {target.host_header} in {self.config.timeout_s:g} s.") from exc
        except httpx.HTTPError as exc:
            raise SolmanError(f"Cannot reach {target.host_header}: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _raise_for(response: httpx.Response, *, what: str) -> None:
        if response.is_success:
            return
        status = response.status_code
        code, text = error_of(response)
        permanent = 400 <= status < 500 and status not in RETRYABLE
        retry_after = response.headers.get("retry-after", "")
        raise SolmanError(f"SolMan answered {status} to {what}: {text}" + (f" ({code})" if code else ""),
                          permanent=permanent, http_status=status, sap_code=code or None,
                          retry_after_s=float(retry_after) if retry_after.isdigit() else None)
