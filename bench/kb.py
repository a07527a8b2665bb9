"""Knowledge-base benchmark on the demo KB (data/kb, ~393 chunks): indexing and search, torch vs ONNX in one run.

    .venv/bin/python bench/kb.py [--quick] [--rounds 2] [--queries 190]     # ~2-4 minutes on 2 loaded cores

Prints one JSON object with the machine's description (progress on stderr); ``--json F`` also writes it to F
(``bench/record.py`` keeps every bench's JSON under bench/results/).
Both backends run side by side in the same process, alternating, so the ratio holds on a loaded machine where the
absolute figures do not. The scale part (10k / 100k synthetic chunks, HNSW vs exact, recall@10) is bench/kb_scale.py.

1. Indexing: the demo articles are ingested (chunking, embedding, COPY, the GIN and HNSW indexes kept up) into a
   fresh database, ``--rounds`` times per backend, alternating; chunks/s of the whole ingest and of the embedding
   alone (the same texts, batch 32).
2. Search, split into its parts for every eval question (queries_real.jsonl, cycled to ``--queries``): query
   embedding (per backend), the SQL vector part (HNSW), the SQL full-text part (lexemes + ranked matches), the
   fusion and hit building in Python; and ``kb_index.search`` end to end (hybrid, embedding included) per backend.
3. Memory: a fresh Python process per backend loads the embedder and embeds 64 chunks; its resident memory (RSS)
   before loading, after loading and after embedding. And a process with the api app created and the worker's
   modules imported, embedding through api/kb/embedding.py as both do (its RSS, and whether torch got imported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kb_index  # noqa: E402
from api import migrate  # noqa: E402
from api.dev import embedded_pg  # noqa: E402
from kb_index import _search  # noqa: E402
from kb_index._sql import Q  # noqa: E402

DATABASE = "deskmate_bench_kb"
ONNX_DIR = ROOT / "var" / "onnx" / kb_index.MODEL_NAME  # the default DESKMATE_KB_ONNX_DIR, `make model`


def progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU, load (other work on this shared machine skews them)."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def pct(values: list[float]) -> dict[str, float]:
    return {"p50": round(kb_index.percentile(values, 50), 2), "p95": round(kb_index.percentile(values, 95), 2)}


async def fresh_database(admin_url: str) -> str:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    url = make_conninfo(admin_url, dbname=DATABASE)
    migrate.migrate(url, ROOT / "migrations")
    return url


async def indexing(conn: psycopg.AsyncConnection, embedders: dict[str, kb_index.Embedder],
                   articles: list[kb_index.Article], rounds: int) -> dict[str, Any]:
    """Whole ingests of the demo KB and the embedding alone, per backend, alternating; the last ingest stays."""
    texts = [c.embedding_text(a.title) for a in articles
             for c in kb_index.chunk_article(a, count_tokens=embedders["torch"].count_tokens)]
    ingest: dict[str, list[float]] = {name: [] for name in embedders}
    embed: dict[str, list[float]] = {name: [] for name in embedders}
    chunks = 0
    for r in range(rounds):
        for name, embedder in embedders.items():
            started = time.perf_counter()
            embedder.embed(texts)
            embed[name].append(len(texts) / (time.perf_counter() - started))
            await conn.execute("TRUNCATE kb_articles CASCADE")
            started = time.perf_counter()
            report = await kb_index.ingest(conn, embedder, articles)
            ingest[name].append(report.chunks / (time.perf_counter() - started))
            chunks = report.chunks
            progress(f"indexing round {r + 1} {name}: ingest {ingest[name][-1]:.1f} chunks/s, "
                     f"embedding {embed[name][-1]:.1f} chunks/s")
    best = {name: max(v) for name, v in ingest.items()}
    return {"chunks": chunks, "rounds": rounds,
            "ingest_chunks_per_s": {name: [round(x, 1) for x in v] for name, v in ingest.items()},
            "embedding_chunks_per_s": {name: [round(x, 1) for x in v] for name, v in embed.items()},
            "ingest_onnx_over_torch": round(best["onnx"] / best["torch"], 2),
            "embedding_onnx_over_torch": round(max(embed["onnx"]) / max(embed["torch"]), 2)}


async def search_parts(conn: psycopg.AsyncConnection, query: str, vector: np.ndarray) -> dict[str, float]:
    """The hybrid search's parts as kb_index.search runs them (same statements, settings and fusion), timed."""
    params = {"vec": vector, "query": query, "category": None, "audiences": ["employee"], "model": kb_index.MODEL_NAME,
              "rank_weights": list(_search.RANK_WEIGHTS), "limit": 50, "statuses": ["published"]}
    times: dict[str, float] = {}
    async with conn.transaction():
        t0 = time.perf_counter()
        await conn.execute(Q.search_settings, {"ef_search": str(_search.EF_SEARCH)})
        t1 = time.perf_counter()
        statement = sql.SQL(Q.search_vector).format(dims=sql.Literal(len(vector)))
        vector_rows = await (await conn.execute(statement, params)).fetchall()
        t2 = time.perf_counter()
        words = [r["w"] for r in await (await conn.execute(Q.query_lexemes, params)).fetchall()]
        text_rows = await (await conn.execute(Q.search_text, params | _search.text_query(words))).fetchall() \
            if words else []
        t3 = time.perf_counter()
    t4 = time.perf_counter()
    fused = _search.fuse_scores([sorted(vector_rows, key=lambda r: -r["similarity"]), text_rows],
                                text_weight=_search.TEXT_SCORE_WEIGHT)
    [_search._hit(f, query, "hybrid") for f in fused[:5]]
    t5 = time.perf_counter()
    times |= {"settings": t1 - t0, "sql_vector": t2 - t1, "sql_text": t3 - t2, "commit": t4 - t3, "fusion": t5 - t4}
    return {k: v * 1000 for k, v in times.items()}


async def searching(conn: psycopg.AsyncConnection, embedders: dict[str, kb_index.Embedder],
                    queries: list[str]) -> dict[str, Any]:
    for embedder in embedders.values():
        embedder.embed_query("warm up the model")
        await kb_index.search(conn, query="warm up", embedder=embedder, k=5)
    parts: dict[str, list[float]] = {}
    total: dict[str, list[float]] = {name: [] for name in embedders}
    for i, query in enumerate(queries):
        for name, embedder in embedders.items():
            started = time.perf_counter()
            vector = embedder.embed_query(query)
            parts.setdefault(f"query_embedding_{name}", []).append((time.perf_counter() - started) * 1000)
            if name == "onnx":
                for part, ms in (await search_parts(conn, query, vector)).items():
                    parts.setdefault(part, []).append(ms)
            started = time.perf_counter()
            await kb_index.search(conn, query=query, embedder=embedder, k=5)
            total[name].append((time.perf_counter() - started) * 1000)
        if (i + 1) % 50 == 0:
            progress(f"search: {i + 1}/{len(queries)} queries")
    return {"queries": len(queries),
            "hybrid_search_ms": {name: pct(v) for name, v in total.items()},
            "hybrid_p95_onnx_over_torch": round(kb_index.percentile(total["onnx"], 95)
                                                / kb_index.percentile(total["torch"], 95), 2),
            "parts_ms": {name: pct(v) for name, v in parts.items()},
            "parts_mean_ms": {name: round(float(np.mean(v)), 2) for name, v in parts.items()}}


RSS_PROBE = """
import json, sys, psutil, pathlib
sys.path.insert(0, sys.argv[1])
import kb_index
p = psutil.Process()
rss = lambda: round(p.memory_info().rss / 2**20, 1)
before = rss()
onnx = pathlib.Path(sys.argv[2]) if sys.argv[2] != "-" else None
e = kb_index.Embedder(onnx_path=onnx)
e.model()
loaded = rss()
texts = [c.embedding_text(a.title) for a in kb_index.load_dir(pathlib.Path(sys.argv[1]) / "data" / "kb")
         for c in kb_index.chunk_article(a, count_tokens=e.count_tokens)][:64]
e.embed(texts)
print(json.dumps({"backend": e.backend, "rss_mib_imports": before, "rss_mib_loaded": loaded,
                  "rss_mib_after_embedding_64_chunks": rss()}))
"""


APP_PROBE = """
import json, sys, psutil
sys.path.insert(0, sys.argv[1])
from api.settings import Settings
from api.app import create_app
from api.kb import embedding
from api.jobs import worker
settings = Settings(_env_file=None)
create_app(settings)
p = psutil.Process()
rss = lambda: round(p.memory_info().rss / 2**20, 1)
before = rss()
e = embedding.get_embedder(settings)
e.embed(["my vpn drops every hour and outlook asks for my password again"] * 32)
print(json.dumps({"backend": e.backend, "rss_mib_app_and_worker_imported": before, "rss_mib_after_embedding": rss(),
                  "torch_imported": "torch" in sys.modules}))
"""


def memory(onnx_file: Path) -> dict[str, Any]:
    """Resident memory of fresh processes per backend: the embedder alone (imports, model loaded, after embedding
    64 chunks), and the api's and worker's imports with the model loaded through api/kb/embedding.py."""
    out: dict[str, Any] = {}
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for name, arg in (("torch", "-"), ("onnx", str(onnx_file))):
        done = subprocess.run([sys.executable, "-c", RSS_PROBE, str(ROOT), arg], capture_output=True, text=True,
                              check=True, env=env)
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
        done = subprocess.run([sys.executable, "-c", APP_PROBE, str(ROOT)], capture_output=True, text=True, check=True,
                              env=env | {"DESKMATE_KB_EMBED_BACKEND": name, "DESKMATE_KB_ONNX_DIR": str(onnx_file.parents[1])})
        out[f"api_process_{name}"] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"bench": "kb (demo KB)", "machine": machine()}
    onnx_file = kb_index.export_onnx(kb_index.default_model_path(), ONNX_DIR)
    embedders = {"torch": kb_index.Embedder(batch_size=32), "onnx": kb_index.Embedder(batch_size=32, onnx_path=onnx_file)}
    loads = {}
    for name, embedder in embedders.items():
        started = time.perf_counter()
        embedder.model()
        loads[name] = round(time.perf_counter() - started, 2)
    report["model_load_s"] = loads
    articles = kb_index.load_dir(ROOT / "data" / "kb")
    if args.database_url:
        admin_url = args.database_url
    else:
        server, _ = embedded_pg.start(ROOT / "var" / "bench")
        admin_url = server.get_uri()
    url = await fresh_database(admin_url)
    queries = [q.query for q in kb_index.load_queries(ROOT / "data" / "kb_eval" / "queries_real.jsonl")]
    queries = (queries * (args.queries // len(queries) + 1))[:args.queries]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
        await kb_index.register(conn)
        progress("indexing the demo KB, torch and onnx alternating")
        report["indexing"] = await indexing(conn, embedders, articles, args.rounds)
        await conn.execute("ANALYZE kb_chunks")
        progress("searching")
        report["search"] = await searching(conn, embedders, queries)
    progress("memory (a fresh process per backend)")
    report["memory"] = memory(onnx_file)
    report["machine"]["loadavg_1_5_15_end"] = [round(x, 2) for x in os.getloadavg()]
    report["note"] = ("2 shared cores, other sessions' tests and benchmarks running: absolute figures are "
                      "pessimistic and noisy; the onnx/torch ratios are measured side by side in this run")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Demo-KB benchmark: indexing and search, torch vs ONNX (JSON).")
    parser.add_argument("--rounds", type=int, default=None, help="ingests per backend (default 2)")
    parser.add_argument("--queries", type=int, default=None, help="search queries (default 190, the realistic set)")
    parser.add_argument("--database-url", default=None, help="a server to use instead of the embedded one")
    parser.add_argument("--quick", action="store_true", help="1 round, 60 queries")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    ns = parser.parse_args()
    ns.rounds = ns.rounds or (1 if ns.quick else 2)
    ns.queries = ns.queries or (60 if ns.quick else 190)
    if ns.rounds < 1 or ns.queries < 1:
        parser.error("--rounds and --queries must be at least 1")
    result = asyncio.run(main(ns))
    text = json.dumps(result, indent=2)
    print(text)
    if ns.json:
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(text + "\n")
