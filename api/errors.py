"""One error tree for deskmate; the app renders every one as ``application/problem+json``.

    DeskmateError (500)
    ├── BadRequest (400)
    │   └── ValidationFailed (422)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)
    │   ├── InvalidTransition (409)
    │   └── IdempotencyMismatch (422)
    ├── PreconditionFailed (412)
    ├── TooManyRequests (429)
    ├── DatabaseSetupError (503)
    │   └── MigrationError (503)
    └── IntegrationError (502)
        ├── RasaUnavailable (503)
        ├── SmtpError (502)
        ├── TwilioError (502)
        ├── WebhookError (502)
        └── OutboundRefused (502)

Services raise these, never ``HTTPException``. Lower-level errors are translated where they enter
(``raise Conflict(...) from exc``).
"""

from __future__ import annotations

from typing import Any


class DeskmateError(Exception):
    status = 500
    type = "about:blank"
    title = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    headers: dict[str, str] = {}

    def problem(self) -> dict[str, Any]:
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail, **self.extra}


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


class TooManyRequests(DeskmateError):
    status, type, title = 429, "/problems/rate-limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 60, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Retry-After": str(retry_after_s)}


class DatabaseSetupError(DeskmateError):
    status, type, title = 503, "/problems/database-setup", "Database not ready"


class MigrationError(DatabaseSetupError):
    type, title = "/problems/migration", "Database migration problem"


class IntegrationError(DeskmateError):
    status, type, title = 502, "/problems/integration", "An external system failed"


class RasaUnavailable(IntegrationError):
    status, type, title = 503, "/problems/assistant-unavailable", "The assistant is unavailable"


class SmtpError(IntegrationError):
    """Sending e-mail failed; ``permanent`` when retrying cannot help (a refused recipient)."""

    type, title = "/problems/smtp", "The mail server failed"

    def __init__(self, detail: str | None = None, *, permanent: bool = False, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.permanent = permanent


class TwilioError(IntegrationError):
    """Twilio refused or failed a request; ``code`` is Twilio's error code (21211, 20003, …) when known."""

    type, title = "/problems/twilio", "Twilio failed"

    def __init__(self, detail: str | None = None, *, code: int | None = None, permanent: bool = False,
                 **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.code = code
        self.permanent = permanent


class WebhookError(IntegrationError):
    """A webhook delivery failed; ``status`` of the receiver's answer when there was one."""

    type, title = "/problems/webhook", "The webhook receiver failed"

    def __init__(self, detail: str | None = None, *, http_status: int | None = None, permanent: bool = False,
                 **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.http_status = http_status
        self.permanent = permanent


class OutboundRefused(IntegrationError):
    """The outbound-HTTP guard (api/integrations/outbound.py) refused a URL or could not resolve its host;
    ``permanent`` when the address itself is not allowed."""

    type, title = "/problems/outbound-refused", "Outbound request refused"

    def __init__(self, detail: str | None = None, *, permanent: bool = False, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.permanent = permanent
