"""One error tree for deskmate; the app renders every one as ``application/problem+json``.

    DeskmateError (500)
    ├── BadRequest (400)
    │   ├── ValidationFailed (422)
    │   │   └── DefinitionError (422)     api/workflows/files.py
    │   ├── WrongCode (422)               api/stepup/service.py
    │   ├── SignInFailed (400)            api/web/signin/oidc.py
    │   └── LinkRefused (400)             api/web/signin/links.py
    ├── Unauthorized (401)
    │   ├── TokenExpired (401)            api/auth/service.py
    │   ├── TokenRevoked (401)            api/auth/service.py
    │   └── SessionEnded (401)            api/web/signin/sessions.py
    ├── Forbidden (403)
    │   ├── StepUpRequired (403)          api/stepup/service.py
    │   ├── LinkInvalid (403)             api/workflows/approval_links.py
    │   ├── CsrfFailed (403)              api/web/signin/csrf.py
    │   └── UnknownAccount (403)          api/web/signin/links.py
    ├── NotFound (404)
    ├── Conflict (409)
    │   ├── InvalidTransition (409)
    │   ├── IdempotencyMismatch (422)
    │   ├── ChallengeExpired (410)        api/stepup/service.py
    │   ├── ChallengeUsed (409)           api/stepup/service.py
    │   ├── NoFactor (409)                api/stepup/service.py
    │   ├── AlreadyDecided (409)          api/workflows/approval_service.py
    │   └── ApprovalExpired (409)         api/workflows/approval_service.py
    ├── LinkExpired (410)                 api/workflows/approval_links.py
    ├── PreconditionFailed (412)
    ├── RetryLater (sends Retry-After; raise a subclass)
    │   ├── TooManyRequests (429)
    │   ├── StepUpLocked (423)            api/stepup/service.py
    │   └── DatabaseUnavailable (503)
    ├── DatabaseSetupError (503)
    │   └── MigrationError (503)
    ├── SecretUnreadable (500)            api/crypto.py
    └── IntegrationError (502)
        ├── RasaUnavailable (503)
        │   └── RasaTimeout (503)
        ├── SmtpError (502)
        ├── ImapError (502)
        ├── TwilioError (502)
        ├── DeliveryFailed (502)          api/stepup/delivery.py
        ├── WebhookError (502)
        ├── ChannelDeliveryFailed (502)   a channel (Slack, Teams, e-mail) refused a reply or a ticket update
        ├── SolmanError (502)             api/integrations/solman/client.py
        ├── GlpiError (502)               api/integrations/glpi/client.py
        ├── OutboundRefused (502)
        ├── EndpointError (502)           api/workflows/endpoints.py
        ├── DirectoryFailed (502)         api/workflows/access.py
        ├── NoDirectory (503)             api/workflows/access.py
        └── ProviderUnavailable (502)     api/web/signin/oidc.py

A class defined outside this module is marked with its module. Services raise these, never
``HTTPException``. Lower-level errors are translated where they enter (``raise Conflict(...) from exc``). :func:`problem` is the one builder of the RFC 9457 body; the app's
handlers and the middleware render through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details; some problems add members (``errors`` of a 422)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


_DOCUMENTED = {
    400: "Bad request", 401: "Authentication required", 403: "Not allowed", 404: "Not found",
    409: "Conflict", 412: "The resource changed (If-Match)", 413: "Request body too large",
    422: "The request is not valid", 429: "Too many requests (see Retry-After)",
    502: "An external system failed", 503: "Briefly unavailable, e.g. the database restarts (see Retry-After)",
}


def responses() -> dict[int | str, dict[str, Any]]:
    """The problems any endpoint may answer, for the OpenAPI document (``APIRouter(responses=...)``)."""
    retry = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return {status: {"description": text, "model": Problem,
                     "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                     **({"headers": retry} if status in (429, 503) else {})}
            for status, text in _DOCUMENTED.items()}


def problem_body(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> dict[str, Any]:
    """An ``application/problem+json`` body (RFC 9457): type, title, status, detail and any extra members."""
    return {"type": type_, "title": title, "status": status, "detail": detail, **extra}


def problem(status: int, title: str, detail: str, type_: str = "about:blank", *,
            headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    """The problem as a response."""
    body = json.dumps(problem_body(status, title, detail, type_, **extra), ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class DeskmateError(Exception):
    status = 500
    type = "about:blank"
    title = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    headers: dict[str, str] = {}

    def response(self) -> Response:
        return problem(self.status, self.title, self.detail, self.type, headers=self.headers, **self.extra)


class RetryLater(DeskmateError):
    """A refusal the client may retry after ``retry_after_s`` seconds (sent as Retry-After)."""

    retry_after_s = 60

    def __init__(self, detail: str | None = None, *, retry_after_s: int | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Retry-After": str(max(1, retry_after_s or self.retry_after_s))}


class BadRequest(DeskmateError):
    status, type, title = 400, "/problems/bad-request", "Bad request"


class ValidationFailed(BadRequest):
    status, type, title = 422, "/problems/validation", "The request is not valid"


class Unauthorized(DeskmateError):
    status, type, title = 401, "/problems/unauthorized", "Authentication required"


class Forbidden(DeskmateError):
    status, type, title = 403, "/problems/forbidden", "Not allowed"


class NotFound(DeskmateError):
    status, type, title = 404, "/problems/not-found", "Not found"


class Conflict(DeskmateError):
    status, type, title = 409, "/problems/conflict", "Conflict"


class InvalidTransition(Conflict):
    type, title = "/problems/invalid-transition", "Status change not allowed"


class IdempotencyMismatch(Conflict):
    status, type, title = 422, "/problems/idempotency-mismatch", "Idempotency key reused"


class PreconditionFailed(DeskmateError):
    status, type, title = 412, "/problems/precondition-failed", "The resource changed"


class TooManyRequests(RetryLater):
    status, type, title = 429, "/problems/rate-limited", "Too many requests"


class DatabaseUnavailable(RetryLater):
    """The database does not answer (restarting, failing over, unreachable); the request did nothing."""

    status, type, title = 503, "/problems/database-unavailable", "The service is briefly unavailable"
    retry_after_s = 5


class DatabaseSetupError(DeskmateError):
    status, type, title = 503, "/problems/database-setup", "Database not ready"


class MigrationError(DatabaseSetupError):
    type, title = "/problems/migration", "Database migration problem"


class IntegrationError(DeskmateError):
    """``permanent`` when retrying cannot help (a refused recipient, a bad URL)."""

    status, type, title = 502, "/problems/integration", "An external system failed"

    def __init__(self, detail: str | None = None, *, permanent: bool = False, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.permanent = permanent


class RasaUnavailable(IntegrationError):
    status, type, title = 503, "/problems/assistant-unavailable", "The assistant is unavailable"


class RasaTimeout(RasaUnavailable):
    """Rasa is up but did not answer within DESKMATE_RASA_TIMEOUT_S: the answer is slow, not lost."""

    type, title = "/problems/assistant-slow", "The assistant is taking longer than usual"


class SmtpError(IntegrationError):
    """Sending e-mail failed."""

    type, title = "/problems/smtp", "The mail server failed"


class ImapError(IntegrationError):
    """Reading a mailbox over IMAP failed (connection, login, a folder that does not exist)."""

    type, title = "/problems/imap", "The mail server failed"


class TwilioError(IntegrationError):
    """Twilio refused or failed a request; ``code`` is Twilio's error code (21211, 20003, …) when known."""

    type, title = "/problems/twilio", "Twilio failed"

    def __init__(self, detail: str | None = None, *, code: int | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.code = code


class ChannelDeliveryFailed(IntegrationError):
    """A message to a requester on their channel (Slack, Teams, e-mail) failed; ``code`` is the channel's error
    code (Slack's ``channel_not_found``, ``invalid_auth``, …) when it gave one; ``permanent`` when retrying cannot
    help (the conversation is gone, the bot was removed)."""

    type, title = "/problems/channel-delivery", "The chat channel failed"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.code = code


class WebhookError(IntegrationError):
    """A webhook delivery failed; ``status`` of the receiver's answer when there was one."""

    type, title = "/problems/webhook", "The webhook receiver failed"

    def __init__(self, detail: str | None = None, *, http_status: int | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.http_status = http_status


class SolmanError(IntegrationError):
    """SAP Solution Manager refused or failed a request; ``sap_code`` (extra) is SAP's message code when known."""

    type, title = "/problems/solman", "SAP Solution Manager failed"


class OutboundRefused(IntegrationError):
    """The outbound-HTTP guard (api/integrations/outbound.py) refused a URL or could not resolve its host;
    ``permanent`` when the address itself is not allowed."""

    type, title = "/problems/outbound-refused", "Outbound request refused"


class GlpiError(IntegrationError):
    """GLPI refused or failed a request: ``code`` is GLPI's ERROR_… code when it sent one, ``http_status`` its
    answer's status (None when there was no answer). ``permanent`` when retrying cannot help (403, validation)."""

    type, title = "/problems/glpi", "GLPI failed"

    def __init__(self, detail: str | None = None, *, code: str | None = None, http_status: int | None = None,
                 **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.code, self.http_status = code, http_status
