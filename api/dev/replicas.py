"""``deskmate run --replicas api=2,rasa=2,worker=2``: several of each Procfile process on one machine, one Postgres.

Every replica is a process of its own, named ``api.1``, ``api.2`` … (a process run once keeps its plain name), and
gets the port it listens on in its environment, counting up from the one-process port:

    api       DESKMATE_PORT          DESKMATE_PORT, +1, …          (8000, 8001, …)
    rasa      DESKMATE_RASA_PORT     the port of DESKMATE_RASA_URL  (5005, 5006, …)
    actions   DESKMATE_ACTIONS_PORT  DESKMATE_ACTIONS_PORT          (5055, 5056, …)
    worker    —                      procrastinate hands each job to one worker (row locks)

Each api is told every Rasa (``DESKMATE_RASA_URLS``, and ``DESKMATE_IMPROVE_RELOAD_URLS`` so a promoted model
reaches all of them); Rasa ``i`` calls action server ``i`` (round robin when there are fewer), and action server
``j`` calls api ``j`` the same way. One action server serves every Rasa unless you ask for more: it waits on the
api, not on the CPU, and costs memory per copy. More than one Rasa also starts a Redis (Debian's
``redis-server``, loopback, password file in the data dir) as the process ``redis``: Rasa's lock store, so that
two Rasa servers never handle one conversation's messages at the same time (bot/lock_store.py).

Nothing here starts a process: ``plan`` says what to run and ``write_redis_config`` writes Redis's file.
"""

from __future__ import annotations

import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from api import keyfile
from api.settings import Settings

MAX_REPLICAS = 8
REDIS_SERVER = "/usr/bin/redis-server"
REDIS_DB = 1
PORT_VARIABLES = {"api": "DESKMATE_PORT", "rasa": "DESKMATE_RASA_PORT", "actions": "DESKMATE_ACTIONS_PORT"}
_ITEM = re.compile(r"^([A-Za-z0-9_-]+)=(\d+)$")


class ReplicaError(ValueError):
    """A --replicas value that cannot be run (says why)."""


def parse(spec: str, *, processes: list[str]) -> dict[str, int]:
    """``api=2,worker=2`` → {"api": 2, "worker": 2}; every name must be one of the Procfile's ``processes``."""
    counts: dict[str, int] = {}
    for item in (part.strip() for part in spec.split(",")):
        match = _ITEM.match(item)
        if match is None:
            raise ReplicaError(f"{item!r} is not NAME=COUNT (e.g. api=2,rasa=2,worker=2)")
        name, count = match.group(1), int(match.group(2))
        if name not in processes:
            raise ReplicaError(f"the Procfile has no process {name!r} (it has {', '.join(processes)})")
        if name in counts:
            raise ReplicaError(f"{name} is given twice")
        if not 1 <= count <= MAX_REPLICAS:
            raise ReplicaError(f"{name}={count}: the count must be between 1 and {MAX_REPLICAS}")
        counts[name] = count
    return counts


@dataclass(frozen=True)
class Redis:
    """The Redis that holds the Rasa servers' conversation locks."""

    port: int
    directory: Path
    password: str

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{REDIS_DB}"

    @property
    def config(self) -> Path:
        return self.directory / "redis.conf"


@dataclass(frozen=True)
class Plan:
    """What ``deskmate run`` starts: name → command, each with its own variables, and where the copies listen."""

    commands: dict[str, str]
    envs: dict[str, dict[str, str]]
    api_urls: list[str] = field(default_factory=list)
    rasa_urls: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)  # process → the port it must find free
    redis: Redis | None = None

    def summary(self) -> list[str]:
        """The banner's lines about the copies (none when every process runs once)."""
        lines = []
        if len(self.api_urls) > 1:
            lines.append(f"api replicas: {', '.join(self.api_urls)} (the widget and the links use the first; "
                         "send load to all)")
        if len(self.rasa_urls) > 1:
            lines.append(f"rasa replicas: {', '.join(self.rasa_urls)} (each api spreads conversations over them)")
        if self.redis:
            lines.append(f"rasa lock store: redis at 127.0.0.1:{self.redis.port}, under {self.redis.directory}")
        return lines


def _names(name: str, count: int) -> list[str]:
    return [name] if count == 1 else [f"{name}.{i}" for i in range(1, count + 1)]


def _pick(urls: list[str], i: int) -> str:
    return urls[i % len(urls)]


def plan(procfile: dict[str, str], counts: dict[str, int], *, settings: Settings,
         redis_password: str = "") -> Plan:
    """The processes for ``procfile`` with ``counts`` copies (1 for a process not named), their variables and ports.

    ``redis_password`` is used when more than one Rasa runs (a Redis then joins the processes)."""
    n = {name: counts.get(name, 1) for name in procfile}
    host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
    rasa_base = urlsplit(settings.rasa_url).port or 5005
    api_ports = [settings.port + i for i in range(n.get("api", 1))]
    rasa_ports = [rasa_base + i for i in range(n.get("rasa", 1))]
    actions_ports = [settings.actions_port + i for i in range(n.get("actions", 1))]
    api_urls = [f"http://{host}:{p}" for p in api_ports]
    rasa_urls = [f"http://127.0.0.1:{p}" for p in rasa_ports]
    actions_urls = [f"http://127.0.0.1:{p}/webhook" for p in actions_ports]
    redis = None
    if n.get("rasa", 0) > 1:
        redis = Redis(settings.demo_redis_port, settings.data_dir / "redis", redis_password)
    commands: dict[str, str] = {}
    envs: dict[str, dict[str, str]] = {}
    ports: dict[str, int] = {}
    if redis:
        commands["redis"] = f"exec {REDIS_SERVER} {redis.config}"
        envs["redis"] = {}
        ports["redis"] = redis.port
    for name, command in procfile.items():
        for i, replica in enumerate(_names(name, n[name])):
            commands[replica] = command
            env: dict[str, str] = {}
            if name == "api":
                env["DESKMATE_PORT"] = str(api_ports[i])
                if "rasa" in procfile and len(rasa_urls) > 1:
                    env["DESKMATE_RASA_URLS"] = ",".join(rasa_urls)
                    if not settings.improve_reload_urls:
                        env["DESKMATE_IMPROVE_RELOAD_URLS"] = ",".join(rasa_urls)
                ports[replica] = api_ports[i]
            elif name == "rasa":
                env["DESKMATE_RASA_PORT"] = str(rasa_ports[i])
                if "actions" in procfile:
                    env["DESKMATE_ACTIONS_URL"] = _pick(actions_urls, i)
                if redis:
                    env["DESKMATE_RASA_LOCK_STORE_URL"] = redis.url
                ports[replica] = rasa_ports[i]
            elif name == "actions":
                env["DESKMATE_ACTIONS_PORT"] = str(actions_ports[i])
                if "api" in procfile:
                    env["DESKMATE_API_URL"] = _pick(api_urls, i)
                ports[replica] = actions_ports[i]
            envs[replica] = env
    return Plan(commands, envs, api_urls if "api" in procfile else [], rasa_urls if "rasa" in procfile else [],
                ports, redis)


def taken_ports(ports: dict[str, int]) -> list[str]:
    """``process (port N)`` for each port in ``ports`` that something on loopback already listens on."""
    taken = []
    for name, port in ports.items():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                taken.append(f"{name} (port {port})")
    return taken


def redis_password(settings: Settings) -> str:
    """The Redis password (kept in the data dir, mode 0600)."""
    return keyfile.read_or_create(settings.data_dir / "redis.password", nbytes=24)


def write_redis_config(redis: Redis) -> None:
    """Writes Redis's configuration (loopback only, password, nothing saved to disk: locks live seconds);
    raises ReplicaError when redis-server is not installed."""
    if not Path(REDIS_SERVER).exists() and shutil.which("redis-server") is None:
        raise ReplicaError(f"more than one rasa needs Redis as their lock store, and {REDIS_SERVER} is missing "
                           "(make debs, or apt-get install redis-server)")
    redis.directory.mkdir(parents=True, exist_ok=True)
    text = "\n".join([
        "bind 127.0.0.1", f"port {redis.port}", "protected-mode yes", f'requirepass "{redis.password}"',
        'save ""', "appendonly no", f'dir "{redis.directory}"', 'logfile ""', "daemonize no", ""])
    keyfile.replace_secret(redis.config, text)
