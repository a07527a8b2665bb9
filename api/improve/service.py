"""Candidate models: train on the approved examples, compare with the current model, promote only when not worse,
and hot-load the promoted model into the running Rasa.

    approved proposals ─► training.train ─► <models_dir>/<version>.tar.gz
                          evaluation.measure (current vs candidate, one temporary Rasa) ─► comparison table
                          no tracked metric worse ─► promote: current.txt, improve_models, PUT /model on Rasa

One training at a time: the job queue runs them in order (one lock), and the training itself holds a Postgres
advisory lock, so ``deskmate improve train`` in a shell cannot overlap a queued one either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from api import sql
from api.chat import nlu_eval
from api.db import Conn
from api.errors import Conflict, NotFound, RasaUnavailable
from api.improve import bot_models, evaluation, serving, training
from api.improve.models import ComparisonRow, ModelVersion
from api.settings import Settings

log = logging.getLogger(__name__)
Q = sql.load("api.improve")
TRAIN_LOCK = 0x646D696D  # pg advisory lock key of the one running training ("dmim")


def new_version(approved: list[training.Approved], now: datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<hash of the approved examples>``: sortable, and says what it trained on."""
    digest = hashlib.sha256(json.dumps([(a.intent, a.examples) for a in approved]).encode()).hexdigest()[:8]
    return f"{(now or datetime.now(UTC)):%Y%m%d-%H%M%S}-{digest}"


def _approved(rows: list[dict[str, Any]]) -> list[training.Approved]:
    return [training.Approved(r["id"], r["intent"], tuple(r["examples"])) for r in rows]


async def approved_examples(conn: Conn) -> tuple[list[training.Approved], list[int]]:
    """Every example a candidate trains on (approved and already in the model), and the newly approved ids."""
    rows = await (await conn.execute(Q.approved_examples)).fetchall()
    return _approved(rows), [r["id"] for r in rows if r["status"] == "approved"]


async def in_model_examples(conn: Conn) -> list[nlu_eval.Example]:
    """The examples the promoted model trained on beyond data/nlu: what the served hint is fitted on besides."""
    return training.as_examples(_approved(await (await conn.execute(Q.in_model_examples)).fetchall()))


def _model(row: dict[str, Any]) -> ModelVersion:
    return ModelVersion(**row)


async def _update(conn: Conn, version: str, status: str, **fields: Any) -> ModelVersion:
    params = {"baseline": None, "comparison": None, "decision": None, "error": None, "train_s": None} | fields
    if params["comparison"] is not None:
        params["comparison"] = Jsonb([r.model_dump() for r in params["comparison"]])
    row = await (await conn.execute(Q.update_model, params | {"version": version, "status": status})).fetchone()
    assert row is not None
    return _model(row)


def decision(rows: list[ComparisonRow]) -> tuple[bool, str]:
    """Promote when no tracked metric is worse; the reason in words."""
    worse = [r for r in rows if r.verdict == "worse"]
    if not any(r.verdict != "not measured" for r in rows):
        return False, "not promoted: no eval set could be measured"
    if worse:
        return False, "not promoted: worse on " + "; ".join(
            f"{r.set} {r.metric} {r.baseline:.3f} -> {r.candidate:.3f} (allowed -{r.tolerance:.3f}; "
            f"{r.lost} cases lost, {r.gained} gained, p={r.p_value:.3g})" for r in worse)
    better = [f"{r.set} {r.metric} {r.delta:+.3f}" for r in rows if r.verdict == "better"]
    return True, "promoted: nothing worse" + (f"; better on {', '.join(better)}" if better else "")


async def train_candidate(conn: Conn, settings: Settings, *, requested_by: int | None = None,
                          config: Path | None = None) -> ModelVersion:
    """Trains, measures and (when not worse) promotes one candidate; returns its record."""
    locked = await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (TRAIN_LOCK,))).fetchone()
    if not (locked and locked["ok"]):
        raise Conflict("A candidate model is being trained already; wait for it (deskmate improve status).")
    try:
        return await _train_locked(conn, settings, requested_by=requested_by,
                                   config=config or settings.improve_train_config)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (TRAIN_LOCK,))


async def _train_locked(conn: Conn, settings: Settings, *, requested_by: int | None, config: Path) -> ModelVersion:
    approved, new_ids = await approved_examples(conn)
    version = new_version(approved)
    out = bot_models.models_dir(settings)
    await conn.execute(Q.insert_model, {
        "version": version, "path": str(bot_models.model_path(settings, version)), "config": str(config),
        "proposal_ids": [a.proposal_id for a in approved], "examples": sum(len(a.examples) for a in approved),
        "requested_by": requested_by})
    log.info("improve: training candidate %s on %d approved examples (%s)", version,
             sum(len(a.examples) for a in approved), config)
    started = time.monotonic()
    try:
        model = await training.train(settings, version=version, approved=approved, out_dir=out, config=config)
        await _update(conn, version, "evaluating", train_s=round(time.monotonic() - started, 1))
        baseline = bot_models.current_model_path(settings)
        label = bot_models.current_version(settings) or str(baseline)
        in_model = [a for a in approved if a.proposal_id not in new_ids]
        before, after = await evaluation.measure(
            settings, baseline=evaluation.Served(baseline, training.as_examples(in_model)),
            candidate=evaluation.Served(model, training.as_examples(approved)), log_file=out / f"{version}.eval-rasa.log")
    except (training.TrainingFailed, RasaUnavailable, RuntimeError, OSError) as exc:
        log.error("improve: candidate %s failed: %s", version, exc)
        return await _update(conn, version, "failed", error=str(getattr(exc, "detail", None) or exc)[:4000])
    rows = evaluation.compare(before, after, tolerance=settings.improve_tolerance,
                              alpha=settings.improve_significance)
    promote_it, why = decision(rows)
    (out / f"{version}.comparison.json").write_text(json.dumps(
        {"version": version, "baseline": label, "decision": why, "rows": [r.model_dump() for r in rows],
         "summaries": {"baseline": {k: nlu_eval.summarise(v) for k, v in before.items()},
                       "candidate": {k: nlu_eval.summarise(v) for k, v in after.items()}},
         "changed": evaluation.changes(before, after)}, indent=2, default=str), encoding="utf-8")
    log.info("improve: %s %s\n%s", version, why, evaluation.table(rows))
    record = await _update(conn, version, "evaluating" if promote_it else "not_promoted", baseline=label,
                           comparison=rows, decision=why)
    if not promote_it:
        await conn.execute(Q.mark_trained, {"ids": new_ids, "status": "not_promoted", "version": version})
        return record
    return await promote(conn, settings, version=version, force=False)


async def get_model(conn: Conn, *, version: str) -> ModelVersion:
    row = await (await conn.execute(Q.get_model, {"version": version})).fetchone()
    if row is None:
        raise NotFound(f"No model version {version!r}.")
    return _model(row)


async def list_models(conn: Conn, *, limit: int = 20) -> list[ModelVersion]:
    return [_model(r) for r in await (await conn.execute(Q.list_models, {"limit": limit})).fetchall()]


async def promote(conn: Conn, settings: Settings, *, version: str, user_id: int | None = None,
                  force: bool = False) -> ModelVersion:
    """Makes ``version`` the served model: recorded, named in current.txt, and hot-loaded into Rasa.

    A candidate the comparison found worse needs ``force`` (an admin's override, recorded as such).
    """
    async with conn.transaction():
        await conn.execute(Q.promote_lock)
        row = await (await conn.execute(Q.lock_model, {"version": version})).fetchone()
        if row is None:
            raise NotFound(f"No model version {version!r}.")
        status, measured = row["status"], (row["decision"] or "").startswith("promoted")
        if status in ("training", "failed") or (status == "evaluating" and not measured):
            raise Conflict(f"Model {version} is {status}; only a trained and measured model can be promoted.")
        if status == "not_promoted" and not force:
            raise Conflict(f"Model {version} was {row['decision']}. Promote it with force to override.")
        if not Path(row["path"]).is_file():
            raise Conflict(f"The file of model {version} is gone: {row['path']}")
        note = f"promoted by hand over the comparison ({row['decision']})" if status == "not_promoted" else None
        await conn.execute(Q.retire_promoted, {"version": version})
        done = await (await conn.execute(Q.promote_model, {"version": version, "user_id": user_id,
                                                           "decision": note})).fetchone()
        await conn.execute(Q.mark_in_model, {"ids": row["proposal_ids"], "version": version})
        bot_models.set_current(settings, version)
    assert done is not None
    reload = await hot_load(settings, Path(row["path"]))
    await conn.execute(Q.set_reload, {"version": version, "reload": Jsonb(reload)})
    log.info("improve: promoted %s; Rasa: %s", version, reload)
    return _model(dict(done) | {"reload": reload})


def reload_targets(settings: Settings) -> list[str]:
    """The Rasa servers a promoted model goes to: DESKMATE_IMPROVE_RELOAD_URLS, else every server the gateway uses
    (DESKMATE_RASA_URLS, else DESKMATE_RASA_URL)."""
    return settings.improve_reload_urls or settings.rasa_urls or [settings.rasa_url]


async def hot_load(settings: Settings, model: Path) -> dict[str, str]:
    """Tells every Rasa server (:func:`reload_targets`) to serve ``model``."""
    from api.dev.stack import rasa_token  # the token the stack gives Rasa (api.dev.stack imports this package)

    result = {}
    for url in reload_targets(settings):
        api = serving.ModelApi(url, token=rasa_token(settings))
        try:
            await api.load(model)
            served = (await api.status()).get("model_file") or ""
            result[url] = f"serving {Path(served).name}" if Path(served).name == model.name else \
                f"error: serves {served!r} after loading"
        except RasaUnavailable as exc:
            result[url] = f"error: {exc.detail}"
    return result
