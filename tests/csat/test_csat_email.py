"""CSAT by e-mail: a mail in the ticket's thread with five signed links; a link opens a page (nothing recorded on
GET), its form records the score and comment once; a changed, foreign or expired link is refused."""

from __future__ import annotations

import re
import time

from csat_support import resolve, send_now, survey_of, ticket_from

from api.auth.models import Role
from api.csat import links
from api.types import SourceType

LINK = re.compile(r"(\d) — (http\S+)")


async def _mailed(conn, delivery_settings, smtp, make_actor, principal_of) -> tuple[dict, dict[int, str]]:
    """An e-mail ticket resolved by an agent and its survey sent: the ticket and the mail's link per score."""
    employee, agent = await make_actor(), await make_actor(Role.admin)
    ticket = await ticket_from(conn, await principal_of(employee), source=SourceType.EMAIL)
    await resolve(conn, await principal_of(agent), ticket["id"])
    assert await send_now(conn, delivery_settings, ticket["id"]) == "sent"
    assert smtp.sink.wait_for(1)
    [mail] = smtp.sink.received
    assert mail.message["To"] == employee.user.email and ticket["number"] in mail.message["Subject"]
    urls = {int(n): url for n, url in LINK.findall(mail.message.get_content())}
    return ticket, urls


def _path(url: str) -> str:
    return url[url.index("/csat/"):]


async def test_the_mail_links_open_a_page_and_its_form_rates_once_with_a_comment(
        client, conn, delivery_settings, smtp, make_actor, principal_of):
    ticket, urls = await _mailed(conn, delivery_settings, smtp, make_actor, principal_of)
    assert sorted(urls) == [1, 2, 3, 4, 5]
    survey = await survey_of(conn, ticket["id"])
    assert (survey["status"], survey["channel"], survey["token_hash"] is not None) == ("sent", "email", True)

    page = await client.get(_path(urls[2]))
    assert page.status_code == 200 and "2 out of 5" in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and "default-src 'none'" in page.headers[
        "content-security-policy"]
    assert (await survey_of(conn, ticket["id"]))["score"] is None  # opening a link (a mail scanner) rates nothing

    r = await client.post(_path(urls[2]), data={"comment": "  Took a while, but fixed.  "})
    assert r.status_code == 200 and "2 out of 5" in r.text
    survey = await survey_of(conn, ticket["id"])
    assert (survey["score"], survey["comment"], survey["resolved_by"]) == (2, "Took a while, but fixed.", "person")

    again = await client.post(_path(urls[5]), data={"comment": "changed my mind"})
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert "already rated" in (await client.get(_path(urls[5]))).text
    assert (await survey_of(conn, ticket["id"]))["score"] == 2


async def test_a_changed_foreign_or_expired_link_is_refused(client, conn, delivery_settings, smtp, make_actor,
                                                            principal_of, settings):
    ticket, urls = await _mailed(conn, delivery_settings, smtp, make_actor, principal_of)
    survey = await survey_of(conn, ticket["id"])
    token = _path(urls[4]).removeprefix("/csat/")
    forged = links.sign(settings.model_copy(update={"secret_key": None, "data_dir": settings.data_dir / "other"}),
                        links.verify(settings, token))
    other_nonce = links.sign(settings, links.Link(survey["id"], 5, links.new_nonce(), int(time.time()) + 60))
    expired = links.sign(settings, links.Link(survey["id"], 5, "x", int(time.time()) - 1))

    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), forged, other_nonce):
        r = await client.post(f"/csat/{bad}", data={"comment": "forged"})
        assert r.status_code == 403, (bad, r.text)
        assert r.json()["type"] == "/problems/csat-link-invalid"
    r = await client.get(f"/csat/{expired}")
    assert r.status_code == 410 and r.json()["type"] == "/problems/csat-link-expired"
    assert (await survey_of(conn, ticket["id"]))["score"] is None


async def test_a_comment_over_the_limit_is_refused(client, conn, delivery_settings, smtp, make_actor, principal_of):
    ticket, urls = await _mailed(conn, delivery_settings, smtp, make_actor, principal_of)
    r = await client.post(_path(urls[3]), data={"comment": "x" * 2001})
    assert r.status_code == 422
    assert (await survey_of(conn, ticket["id"]))["score"] is None


async def test_without_a_key_to_sign_the_links_the_mail_is_not_sent(conn, delivery_settings, smtp, make_actor,
                                                                    principal_of):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    ticket = await ticket_from(conn, await principal_of(employee), source=SourceType.EMAIL)
    await resolve(conn, await principal_of(agent), ticket["id"])
    keyless = delivery_settings.model_copy(update={"env": "production", "secret_key": None})

    assert await send_now(conn, keyless, ticket["id"]) == "failed"
    assert (await survey_of(conn, ticket["id"]))["error"].startswith("Set DESKMATE_SECRET_KEY")
    assert smtp.sink.received == []
