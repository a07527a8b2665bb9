"""``make run``'s banner prints one-time sign-in links of the demo agent and the demo employee that work."""

from __future__ import annotations

import re

import httpx
import psycopg

from api.auth.models import Role
from api.dev import stack
from api.settings import Settings


async def test_the_banner_links_sign_the_agent_in_to_the_console_and_the_employee_to_the_portal(
        web_asgi, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor) -> None:
    agent, employee = await make_actor(Role.agent), await make_actor()
    settings = web_settings.model_copy(update={"public_url": "http://127.0.0.1:8123"})
    lines = await stack.signin_lines(conn, settings, (  # type: ignore[arg-type]
        ("agent console", agent.user.email), ("employee portal", employee.user.email),
        ("nobody", "nobody-here@example.com")))
    text = stack.banner(settings, demo_tokens=None, extra=lines)

    links = re.findall(r"http://127\.0\.0\.1:8123/signin/link/\S+", text)
    assert len(links) == 2 and "nobody-here" not in text
    landed = []
    for link in links:
        transport = httpx.ASGITransport(app=web_asgi[1])
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8123",
                                     headers={"Accept": "text/html"}) as browser:
            first = await browser.get(link.removeprefix("http://127.0.0.1:8123"))
            again = await browser.get(first.headers["location"])
            landed.append((first.status_code, first.headers["location"], again.status_code))
    assert landed == [(303, "/console", 200), (303, "/me", 200)]
