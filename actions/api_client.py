"""The one HTTP client of the deskmate api used by the actions.

Every call sends ``Authorization: Bearer <service token>`` and, when the conversation
belongs to a signed-in employee, the turn's ``X-Deskmate-Assertion`` (minted by the api's
gateway, passed through Rasa's metadata). The action server has no standing right to act for
anyone: without an assertion the api treats it as an anonymous visitor. Every failure
(problem+json error, other HTTP error, timeout, connection refused, bad JSON) is raised as
:class:`ApiError`; actions turn it into a short friendly message and a log line.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import aiohttp

from actions import tracing

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 10.0


class ApiError(Exception):
    """The api could not be reached or answered with an error.

    ``status`` is the HTTP status, or None when no HTTP answer arrived (timeout,
    connection refused). ``title``/``detail``/``type`` come from problem+json when present.
    """

    def __init__(
        self,
        *,
        status: int | None,
        title: str,
        detail: str = "",
        type: str = "about:blank",
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(f"{method} {path} -> {status}: {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.method = method
        self.path = path

    @property
    def not_found(self) -> bool:
        """404 and 403 look the same to the user: the api never leaks existence."""
        return self.status in (403, 404)

    @property
    def unavailable(self) -> bool:
        return self.status is None or self.status >= 500


class ApiClient:
    """Client of the deskmate REST api (``/api/v1``).

    Parameters
    ----------
    base_url: the api root, e.g. ``http://127.0.0.1:8000``.
    token: the service token of the action server.
    assertion: the turn's signed assertion, or None (an anonymous conversation).
    timeout: seconds for one whole request (DESKMATE_ACTIONS_API_TIMEOUT_S, shorter than Rasa's
        timeout for the action server).
    trace_id: the turn's trace id, sent as W3C ``traceparent`` on every call (actions/tracing.py).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        assertion: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        trace_id: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.assertion = assertion
        self.timeout = timeout
        self.trace_id = trace_id

    @classmethod
    def from_env(cls, *, assertion: str | None = None, trace_id: str | None = None) -> ApiClient:
        """Configured from DESKMATE_API_URL, DESKMATE_SERVICE_TOKEN and DESKMATE_ACTIONS_API_TIMEOUT_S."""
        return cls(
            os.environ.get("DESKMATE_API_URL") or DEFAULT_BASE_URL,
            os.environ.get("DESKMATE_SERVICE_TOKEN", ""),
            assertion=assertion,
            timeout=float(os.environ.get("DESKMATE_ACTIONS_API_TIMEOUT_S") or DEFAULT_TIMEOUT_S),
            trace_id=trace_id,
        )

    # --- tickets -----------------------------------------------------------------
    async def get_ticket(self, ref: str | int) -> dict:
        return await self._request("GET", f"/api/v1/tickets/{ref}")

    async def latest_ticket(self) -> dict | None:
        """The requester's newest ticket, or None when they have none."""
        page = await self._request(
            "GET", "/api/v1/tickets", params={"requester": "me", "limit": "1"}
        )
        items = page.get("items") or []
        return items[0] if items else None

    async def add_comment(self, ticket_id: int, body: str) -> dict:
        return await self._request(
            "POST", f"/api/v1/tickets/{ticket_id}/comments",
            json={"body": body, "internal": False},
        )

    async def transition_ticket(self, ticket_id: int, status: str, *, reason: str) -> dict:
        return await self._request(
            "POST", f"/api/v1/tickets/{ticket_id}/transition",
            json={"status": status, "reason": reason},
        )

    # --- chat ----------------------------------------------------------------------
    async def open_conversation_ticket(self, conversation_id: str, request: dict[str, Any]) -> dict:
        """A ticket from the conversation (the api builds title, transcript and defaults); one per turn."""
        return await self._request(
            "POST", f"/api/v1/chat/conversations/{conversation_id}/tickets", json=request,
        )

    # --- knowledge -------------------------------------------------------------------
    async def answer_question(self, question: str, intent: str | None = None) -> dict:
        """The knowledge base's answer; ``intent`` (the detected one) boosts articles of its topic."""
        body = {"question": question, **({"intent": intent} if intent else {})}
        return await self._request("POST", "/api/v1/kb/answer", json=body)

    # --- workflows and the step-up check (the turn's employee, in this conversation) -----------
    async def start_workflow(self, name: str, inputs: dict[str, Any], *, key: str) -> dict:
        """Starts workflow ``name`` for the turn's employee; a retry with the same ``key`` returns the same run."""
        return await self._request(
            "POST", f"/api/v1/workflows/{name}/runs", json={"inputs": inputs},
            headers={"Idempotency-Key": key},
        )

    async def access_catalogue(self) -> list[dict]:
        """The groups the turn's employee may ask to join: name, description, dn (503 without a directory)."""
        return await self._request("GET", "/api/v1/workflows/access_request/catalogue")

    async def software_catalogue(self) -> list[dict]:
        """The software the turn's employee may ask for: slug, name, description, needs_approval, team, team_name."""
        return await self._request("GET", "/api/v1/workflows/software_request/catalogue")

    async def get_workflow_run(self, name: str, run_id: int) -> dict:
        return await self._request("GET", f"/api/v1/workflows/{name}/runs/{run_id}")

    async def report_not_fixed(self, name: str, run_id: int) -> dict:
        """The employee says the fix did not work: the run's ticket goes back to a person."""
        return await self._request("POST", f"/api/v1/workflows/{name}/runs/{run_id}/not-fixed")

    async def start_challenge(self, *, key: str) -> dict:
        """Sends the employee a one-time code (or asks for the authenticator's); the destination comes back masked."""
        return await self._request(
            "POST", "/api/v1/stepup/challenges", json={}, headers={"Idempotency-Key": key},
        )

    # --- transport -------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if self.assertion:
            all_headers["X-Deskmate-Assertion"] = self.assertion
        if parent := tracing.traceparent(self.trace_id):
            all_headers["traceparent"] = parent
        all_headers.update(headers or {})
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.request(
                    method, self.base_url + path, json=json, params=params,
                    headers=all_headers,
                ) as resp:
                    if resp.status >= 400:
                        raise await _error_from_response(resp, method, path)
                    if resp.status == 204:
                        return {}
                    return await resp.json(content_type=None)
        except ApiError:
            raise
        except asyncio.TimeoutError as exc:  # noqa: UP041 - not the builtin on Python 3.10
            raise ApiError(status=None, title="timeout", method=method, path=path) from exc
        except aiohttp.ClientError as exc:
            raise ApiError(
                status=None, title=f"unreachable ({type(exc).__name__})",
                method=method, path=path,
            ) from exc
        except ValueError as exc:  # a 2xx body that is not JSON
            raise ApiError(status=None, title="invalid JSON", method=method, path=path) from exc


async def _error_from_response(resp: aiohttp.ClientResponse, method: str, path: str) -> ApiError:
    """Builds an ApiError from a problem+json (or any other) error response."""
    problem: dict[str, Any] = {}
    try:
        body = await resp.json(content_type=None)
        if isinstance(body, dict):
            problem = body
    except (ValueError, aiohttp.ClientError):
        pass
    return ApiError(
        status=resp.status,
        title=str(problem.get("title") or resp.reason or "error"),
        detail=str(problem.get("detail") or ""),
        type=str(problem.get("type") or "about:blank"),
        method=method,
        path=path,
    )
