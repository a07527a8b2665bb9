"""``deskmate dev …``: tools for trying deskmate on one machine (docs/integrations/glpi.md#try-it-without-a-glpi)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from api.cli_helpers import fail, migrate_db, with_conn
from api.dev import glpi as dev_glpi
from api.dev.fake_glpi import FakeGlpiServer
from api.settings import get_settings

dev_app = typer.Typer(help="Tools for trying deskmate without the real systems around it.", no_args_is_help=True)


@dev_app.command("fake-glpi")
def fake_glpi(
    port: Annotated[int, typer.Option(help="the fake's port on 127.0.0.1")] = 8090,
    connector: Annotated[str, typer.Option(help="the connector pointed at the fake (created or updated)")] = "demo-glpi",
    webhooks_to: Annotated[str | None, typer.Option(
        help="deskmate's address (http://127.0.0.1:8000): the fake sends it signed GLPI webhooks")] = None,
) -> None:
    """Serve a fake GLPI (its REST API, apirest.php) and point a sync connector at it, until Ctrl-C."""
    settings = get_settings()
    if not settings.outbound.allow_private:
        fail(dev_glpi.LOOPBACK_HINT)
    migrate_db(settings, quiet=True)
    server = FakeGlpiServer(port=port)
    server.fake.echo = lambda line: typer.echo(f"glpi    | {line}")
    try:
        server.start()
    except OSError as exc:
        fail(f"the fake GLPI did not start on port {port}: {exc}")
    try:
        saved, created = with_conn(settings, lambda conn: dev_glpi.point_connector(
            conn, settings, name=connector, glpi=server))
        typer.echo(f"fake GLPI at {server.url}")
        if webhooks_to:
            hook = with_conn(settings, lambda conn: dev_glpi.send_webhooks(
                conn, settings, name=connector, glpi=server, api_url=webhooks_to))
            typer.echo(f"webhooks: every change is sent, signed, to {hook} (a new secret is on the connector)")
        typer.echo(f"connector {saved.name!r} {'created' if created else 'replaced (the fake starts empty)'}: "
                   f"it points at the fake "
                   f"(tokens stored encrypted); tickets sync once `make run` runs with "
                   f"DESKMATE_OUTBOUND_ALLOW_PRIVATE=true, GLPI changes come back every "
                   f"{saved.config.poll_interval_s} s")
        typer.echo("add a follow-up in the fake as in a real GLPI:\n  " + "\n  ".join(dev_glpi.followup_recipe(server)))
        typer.echo("serving; Ctrl-C stops")
        # Ctrl-C and SIGTERM stop it even when started with SIGINT ignored (a background job of a script, nohup)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        threading.Event().wait()
    except KeyboardInterrupt:
        typer.echo("fake GLPI stopped")
    finally:
        server.stop()
