"""Definitions from files to the database: load and validate ``data/workflows/*.yml``, store them by version.

A definition is stored by the hash of its validated content: loading the same content again changes nothing;
new content becomes the next version, which new runs get (running ones keep theirs).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from psycopg.types.json import Jsonb

from api import sql
from api.db import Conn
from api.workflows.definitions import Workflow
from api.workflows.files import DefinitionError, read

Q = sql.load("api.workflows")


@dataclass(frozen=True)
class Loaded:
    workflow: Workflow
    path: Path


def parse(path: Path) -> Workflow:
    """The definition in ``path``; DefinitionError with every problem when it does not validate."""
    workflow = read(path, Workflow)
    if workflow.name != path.stem:
        raise DefinitionError(f"{path.name}: the name is {workflow.name!r}; name the file {workflow.name}.yml")
    return workflow


def load_dir(directory: Path) -> list[Loaded]:
    """Every definition of ``directory``, validated; DefinitionError listing every file that fails."""
    loaded, problems = [], []
    for path in sorted(directory.glob("*.yml")):
        try:
            loaded.append(Loaded(workflow=parse(path), path=path))
        except DefinitionError as exc:
            problems.append(exc.detail)
    if problems:
        raise DefinitionError(" | ".join(problems))
    return loaded


def content_hash(workflow: Workflow) -> str:
    body = json.dumps(workflow.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


async def sync(conn: Conn, workflows: list[Workflow]) -> dict[str, int]:
    """Stores every definition (a new version when its content changed); returns each name's current version."""
    versions = {}
    async with conn.transaction():
        await conn.execute(Q.lock_workflows)
        for wf in workflows:
            params = {"name": wf.name, "content_hash": content_hash(wf)}
            row = await (await conn.execute(Q.definition_by_hash, params)).fetchone()
            if row is None:
                await conn.execute(Q.upsert_workflow, {"name": wf.name, "version": 0})
                row = await (await conn.execute(Q.insert_definition, params | {
                    "body": Jsonb(wf.model_dump(mode="json", by_alias=True))})).fetchone()
                assert row is not None
            await conn.execute(Q.upsert_workflow, {"name": wf.name, "version": row["version"]})
            versions[wf.name] = row["version"]
    return versions
