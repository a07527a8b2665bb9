"""Deciding approval requests (approvals.py makes them): signed in through the API, or through the signed link of
the approver's e-mail; the e-mail itself; the timeout. A decision is taken once: a second one, one after the
request expired, or one for a run that no longer waits is a 409 and changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import logging
from html import escape
from typing import Any

from api import jobs, sql
from api.auth.models import Principal, Role
from api.db import Conn
from api.errors import Conflict, Forbidden, NotFound
from api.integrations.smtp.client import SmtpClient
from api.settings import Settings
from api.workflows import approval_links as links
from api.workflows import approvals, engine
from api.workflows.models import ApprovalRequest

Q = sql.load("api.workflows", "approvals.sql")
log = logging.getLogger(__name__)
STATUS = {"approve": "approved", "deny": "denied"}


class AlreadyDecided(Conflict):
    type, title = "/problems/approval-decided", "This request was already decided"


class ApprovalExpired(Conflict):
    type, title = "/problems/approval-expired", "This request was not decided in time"


async def _may_decide(conn: Conn, row: dict[str, Any], who: Principal) -> bool:
    if who.role is Role.admin:
        return True
    if row["approver"] == "manager":
        return row["approver_user_id"] == who.id or (row["approver_email"] or "").lower() == who.email.lower()
    if row["approver"] == "role":
        return str(who.role) == row["role"]
    return await (await conn.execute(Q.in_team, {"user_id": who.id, "team": row["team"]})).fetchone() is not None


async def get_for(conn: Conn, *, approval_id: int, principal: Principal) -> ApprovalRequest:
    """An approval request its approver (or an admin) may see; NotFound for anyone else."""
    row = await (await conn.execute(Q.get, {"id": approval_id})).fetchone()
    if row is None or not await _may_decide(conn, row, principal):
        raise NotFound(f"No approval request {approval_id} for you.")
    return ApprovalRequest(**row)


async def list_pending(conn: Conn, *, principal: Principal) -> list[ApprovalRequest]:
    """The requests waiting for ``principal``'s decision: theirs, their role's, their teams'."""
    rows = await (await conn.execute(Q.list_pending_for, {"user_id": principal.id, "email": principal.email,
                                                          "role": str(principal.role)})).fetchall()
    return [ApprovalRequest(**r) for r in rows]


async def decide(conn: Conn, *, approval_id: int, decision: str, comment: str | None,
                 principal: Principal, via: str = "api") -> ApprovalRequest:
    """The signed-in approver (or an admin) decides; ``via`` "slack" / "teams" for a button in Slack / Teams.
    NotFound for anyone else; AlreadyDecided, ApprovalExpired or Conflict (the run no longer waits) change
    nothing."""
    await get_for(conn, approval_id=approval_id, principal=principal)
    await _decide(conn, approval_id=approval_id, decision=decision, comment=comment, by_id=principal.id,
                  by=principal.email, via=via)
    return await get_for(conn, approval_id=approval_id, principal=principal)


async def decide_by_link(conn: Conn, settings: Settings, *, token: str, comment: str | None) -> ApprovalRequest:
    """The decision a signed link carries, taken for its recipient. LinkInvalid (changed, or for an earlier
    request), LinkExpired, AlreadyDecided (the link, or another, was used), Conflict."""
    link = links.verify(settings, token)
    account = await (await conn.execute(Q.user_by_email, {"email": link.recipient})).fetchone()
    await _decide(conn, approval_id=link.approval_id, decision=link.decision, comment=comment,
                  by_id=account["id"] if account else None, by=link.recipient, via="link", nonce=link.nonce)
    return await _request(conn, link.approval_id)


async def get(conn: Conn, *, approval_id: int) -> ApprovalRequest:
    """An approval request, for the channel that delivers it to its approvers; NotFound when there is none."""
    return await _request(conn, approval_id)


async def _request(conn: Conn, approval_id: int) -> ApprovalRequest:
    row = await (await conn.execute(Q.get, {"id": approval_id})).fetchone()
    if row is None:
        raise NotFound(f"No approval request {approval_id}.")
    return ApprovalRequest(**row)


async def _decide(conn: Conn, *, approval_id: int, decision: str, comment: str | None, by_id: int | None, by: str,
                  via: str, nonce: str | None = None) -> None:
    async with conn.transaction():
        row = await (await conn.execute(Q.lock, {"id": approval_id})).fetchone()
        if row is None:
            raise NotFound(f"No approval request {approval_id}.")
        if nonce is not None and not hmac.compare_digest(nonce, row["link_nonce"]):
            raise links.LinkInvalid("This approval link is not for a request of this service desk.")
        if row["status"] != "pending":
            when = row["decided_at"].isoformat(timespec="seconds")
            who = f" by {row['decided_by']}" if row["decided_by"] else ""
            raise AlreadyDecided(f"This request was already decided: {row['status']}{who} at {when}.")
        if row["expired"]:
            raise ApprovalExpired(f"This request expired at {row['expires_at'].isoformat(timespec='seconds')} "
                                  "without a decision.")
        run = await (await conn.execute(engine.Q.lock_run, {"id": row["run_id"]})).fetchone()
        if run is None or run["status"] not in engine.ACTIVE or run["current_step"] != row["step_id"]:
            raise Conflict(f"The workflow run no longer waits for this decision (it is {run and run['status']}).")
        if by_id is not None and by_id == run["requester_id"]:
            raise Forbidden("Nobody approves their own request.")
        await conn.execute(Q.decide, {"id": approval_id, "status": STATUS[decision], "decided_by_id": by_id,
                                      "decided_by": by, "decided_via": via, "comment": comment or None})
        await engine.defer_step(conn, run_id=row["run_id"], step_id=row["step_id"])
    log.info("approval decided", extra={"approval_id": approval_id, "decision": decision, "via": via})


async def wake_expired(conn: Conn, *, approval_id: int) -> str:
    """The timeout job: a request still pending at its expiry queues its step, which applies ``on_timeout``."""
    async with conn.transaction():
        row = await (await conn.execute(Q.lock, {"id": approval_id})).fetchone()
        if row is None or row["status"] != "pending":
            return "decided before the timeout"
        if not row["expired"]:  # ran early: come back when it expires
            await jobs.defer(conn, approvals.TIMEOUT_TASK, queue=approvals.QUEUE, schedule_at=row["expires_at"],
                             approval_id=approval_id)
            return "not expired yet"
        await engine.defer_step(conn, run_id=row["run_id"], step_id=row["step_id"])
    return "timed out"


def _link(settings: Settings, row: dict[str, Any], decision: links.Decision, to: str) -> str:
    return links.url(settings, links.Link(approval_id=row["id"], decision=decision, nonce=row["link_nonce"],
                                          recipient=to, expires_at=int(row["expires_at"].timestamp())))


async def send_mail(conn: Conn, settings: Settings, *, approval_id: int, to: str) -> str:
    """E-mails ``to`` the request with signed approve and deny links (the same message on every attempt)."""
    row = await (await conn.execute(Q.get, {"id": approval_id})).fetchone()
    if row is None or row["status"] != "pending":
        return "decided: not sent"
    if not settings.smtp.host:
        log.warning("approval e-mail not sent: SMTP is not configured", extra={"approval_id": approval_id})
        return "not sent: no SMTP"
    what = row["ticket_title"] or row["workflow"]
    body = (f"{row['requester_name']} <{row['requester_email']}> asks for approval:\n\n    {what}\n"
            f"    (ticket {row['ticket_number']}, workflow {row['workflow']})\n\n"
            f"Approve: {_link(settings, row, 'approve', to)}\n\nDeny: {_link(settings, row, 'deny', to)}\n\n"
            f"Each link asks you to confirm. The request can be decided once; the links expire at "
            f"{row['expires_at'].isoformat(timespec='minutes')}. You can also decide in the service desk app.")
    key = f"approval-{approval_id}-{hashlib.sha256(to.lower().encode()).hexdigest()[:12]}"
    await SmtpClient(settings.smtp).send(to=to, subject=f"Approval needed: {what}", body=body, delivery_key=key)
    return "sent"


async def link_page(conn: Conn, settings: Settings, *, token: str) -> str:
    """The page a link opens: what is asked, and a button that confirms the link's decision (a POST, so a mail
    scanner that follows links decides nothing)."""
    link = links.verify(settings, token)
    row = await _request(conn, link.approval_id)
    verb = "Approve" if link.decision == "approve" else "Deny"
    state = ("" if row.status == "pending" else
             f"<p><strong>This request was already decided: {escape(row.status)}.</strong></p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{verb} request</title></head><body>"
            f"<h1>{verb}: {escape(row.ticket_title or row.workflow)}</h1>"
            f"<p>Requested by {escape(row.requester_name)} &lt;{escape(row.requester_email)}&gt;, ticket "
            f"{escape(row.ticket_number or '')}.</p>{state}"
            f"<form method='post' action='{links.PATH}?t={escape(token)}'>"
            f"<label>Comment (optional)<br><textarea name='comment' maxlength='2000'></textarea></label><br>"
            f"<button type='submit'>{verb}</button></form></body></html>")
