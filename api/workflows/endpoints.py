"""``http`` steps: one call to an external API configured by name (``DESKMATE_WORKFLOW_ENDPOINTS``), through the
outbound guard (public addresses only, pinned after the check; api/integrations/outbound.py), with its secret
decrypted from the settings (api/crypto.py) only for the request.

Every attempt of a step sends the step's idempotency key as ``Idempotency-Key``, so an API that honours it applies
the call once however often the engine repeats it (a retry, a worker killed after the call). The answer becomes the
step's result, ``{"status": 201, "body": {...}}`` (JSON, else text), which later steps reference
(``$steps.<id>.body.<field>``); it is stored with the run, so an API that answers secrets must not be called.

Errors are ``EndpointError``: ``permanent`` (refused address, unknown endpoint, 3xx/4xx answer, an answer too
large) stops the run with its text; otherwise (no answer, 408/425/429/5xx) the engine retries with backoff.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from api import crypto
from api.errors import IntegrationError, OutboundRefused
from api.integrations.outbound import OutboundGuard, tls_context
from api.settings import Settings
from api.workflows import refs
from api.workflows.definitions import HttpStep
from api.workflows.settings import EndpointSettings

RETRYABLE = frozenset({408, 425, 429})
MAX_ANSWER_BYTES = 64 * 1024  # an answer is kept as the step's result


class EndpointError(IntegrationError):
    """An ``http`` step's call failed; ``permanent`` when repeating it cannot help."""

    type, title = "/problems/workflow-endpoint", "An external API of a workflow failed"


def _auth(name: str, endpoint: EndpointSettings, settings: Settings) -> dict[str, str]:
    if endpoint.auth == "none":
        return {}
    try:
        secret = crypto.decrypt(settings, endpoint.secret_encrypted) if endpoint.secret_encrypted \
            else endpoint.secret.get_secret_value() if endpoint.secret else ""
    except crypto.SecretUnreadable as exc:
        raise EndpointError(f"endpoint {name!r}: its secret cannot be decrypted: {exc.detail}", permanent=True) from exc
    return {"Authorization": f"Bearer {secret}"} if endpoint.auth == "bearer" else {endpoint.header: secret}


def _answer(response: httpx.Response) -> Any:
    if len(response.content) > MAX_ANSWER_BYTES:
        raise EndpointError(f"{response.url.host} answered {len(response.content)} bytes; a step keeps at most "
                            f"{MAX_ANSWER_BYTES}", permanent=True)
    if not response.content:
        return None
    if response.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
        try:
            return response.json()
        except ValueError as exc:
            raise EndpointError(f"{response.url.host} answered invalid JSON: {exc}", permanent=True) from exc
    return response.text


async def call(settings: Settings, step: HttpStep, *, data: dict[str, Any], key: str) -> dict[str, Any]:
    """Makes the step's call (``data``: the run's inputs and results, for references); returns
    ``{"status": …, "body": …}``. Raises EndpointError."""
    endpoint = settings.workflow_endpoints.get(step.endpoint)
    if endpoint is None:
        known = ", ".join(sorted(settings.workflow_endpoints)) or "none"
        raise EndpointError(f"no endpoint {step.endpoint!r} is configured (DESKMATE_WORKFLOW_ENDPOINTS; configured: "
                            f"{known})", permanent=True)
    url = endpoint.url.rstrip("/") + refs.render(step.path, data, escape=lambda value: quote(value, safe=""))
    body = refs.resolve(step.body, data) if step.body is not None else None
    try:
        target = await OutboundGuard(settings.outbound).resolve(url)
    except OutboundRefused as exc:
        raise EndpointError(f"endpoint {step.endpoint!r}: {exc.detail}", permanent=exc.permanent) from exc
    headers = {"Host": target.host_header, "User-Agent": "deskmate-workflows/1", "Accept": "application/json",
               "Idempotency-Key": key, **_auth(step.endpoint, endpoint, settings)}
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    try:
        async with httpx.AsyncClient(timeout=endpoint.timeout_s, follow_redirects=False, verify=tls_context()) as http:
            response = await http.request(step.method, target.url, json=body, headers=headers, extensions=extensions)
    except httpx.TimeoutException as exc:
        raise EndpointError(f"no answer from {target.host_header} in {endpoint.timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise EndpointError(f"cannot reach {target.host_header}: {type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if not response.is_success:
        permanent = status < 500 and status not in RETRYABLE
        raise EndpointError(f"{target.host_header} answered {status} {response.reason_phrase} to {step.method} "
                            f"{step.path}: {response.text[:200]}", permanent=permanent)
    return {"status": status, "body": _answer(response)}
