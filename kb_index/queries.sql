-- The index: articles and their chunks (embedding + tsvector). Used by ingestion and search.

-- name: index_state
-- Every article's id, content hash and source file.
SELECT id, content_hash, source_path FROM kb_articles

-- name: upsert_article
-- Inserts or replaces an article's fields; views, feedback and created_at are kept on update.
INSERT INTO kb_articles (id, title, category, tags, url, audience, status, format, body, source_path,
                         content_hash, created_by)
VALUES (%(id)s, %(title)s, %(category)s, %(tags)s, %(url)s, %(audience)s, %(status)s, %(format)s, %(body)s,
        %(source_path)s, %(content_hash)s, %(created_by)s)
ON CONFLICT (id) DO UPDATE SET
    title = excluded.title, category = excluded.category, tags = excluded.tags, url = excluded.url,
    audience = excluded.audience, status = excluded.status, format = excluded.format, body = excluded.body,
    source_path = excluded.source_path, content_hash = excluded.content_hash,
    version = kb_articles.version + 1, updated_at = now()
RETURNING (xmax = 0) AS inserted

-- name: delete_chunks
-- Removes an article's chunks (before writing the new ones, in the same transaction).
DELETE FROM kb_chunks WHERE article_id = %(id)s

-- name: copy_chunks
-- COPY target for an article's new chunks.
COPY kb_chunks (article_id, ord, heading_path, context, content, token_count, audience, status, category, model,
                embedding)
FROM STDIN

-- name: delete_article
-- Deletes an article; its chunks go with it (cascade).
DELETE FROM kb_articles WHERE id = %(id)s RETURNING id

-- name: count_view
-- Counts views of an article (one, or the demo history's many at once).
UPDATE kb_articles SET views = views + %(times)s WHERE id = %(id)s

-- name: search_settings
-- For this transaction: the HNSW candidate list, scanning on when filters reject rows (pgvector >= 0.8), and
-- custom plans (the pool prepares statements; a generic plan cannot see the small LIMIT and may skip the index).
SELECT set_config('hnsw.ef_search', %(ef_search)s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),
       set_config('plan_cache_mode', 'force_custom_plan', true)

-- name: search_vector
-- The chunks nearest to a query vector (cosine) among visible ones of the query's model: one HNSW index scan on
-- kb_chunks (the expression index of this dimension, ``{dims}`` is filled in by the caller; filters applied in the
-- scan; hnsw.iterative_scan keeps going when they reject many), then the titles.
WITH nearest AS MATERIALIZED (
    SELECT id, article_id, heading_path, content, embedding::vector({dims}) <=> %(vec)s::vector({dims}) AS distance
    FROM kb_chunks
    WHERE vector_dims(embedding) = {dims} AND model = %(model)s
      AND status = ANY(%(statuses)s) AND audience = ANY(%(audiences)s)
      AND (%(category)s::text IS NULL OR category = %(category)s)
    ORDER BY embedding::vector({dims}) <=> %(vec)s::vector({dims})
    LIMIT %(limit)s
)
SELECT n.id AS chunk_id, n.article_id, n.heading_path, n.content, 1 - n.distance AS similarity,
       a.title, a.url, a.category, a.audience, a.tags
FROM nearest n JOIN kb_articles a ON a.id = n.article_id
ORDER BY n.distance

-- name: query_lexemes
-- The query's distinct words as full-text lexemes (stemmed, English stop words dropped), at most 8.
SELECT w FROM unnest(tsvector_to_array(to_tsvector('english', %(query)s))) AS w LIMIT 8

-- name: search_text
-- Chunks matching ``match`` (built from the query's lexemes: enough of them must co-occur), ranked by cover
-- density over all the query's lexemes (``any_word``; ``rank_weights`` of the D, C, B, A fields: B is the content,
-- A the title, heading path and tags), among visible ones. At most ``text_candidates`` matches
-- are ranked, so a query whose words are everywhere in a big KB stays fast.
WITH candidates AS MATERIALIZED (
    SELECT c.id, c.article_id, c.heading_path, c.content, c.embedding, c.model, c.tsv
    FROM kb_chunks c
    WHERE c.tsv @@ %(match)s::tsquery
      AND c.status = ANY(%(statuses)s) AND c.audience = ANY(%(audiences)s)
      AND (%(category)s::text IS NULL OR c.category = %(category)s)
    LIMIT %(text_candidates)s
),
ranked AS (
    SELECT *, ts_rank_cd(%(rank_weights)s::float4[], tsv, %(any_word)s::tsquery) AS text_rank FROM candidates
    ORDER BY text_rank DESC, id
    LIMIT %(limit)s
)
SELECT r.id AS chunk_id, r.article_id, r.heading_path, r.content, r.text_rank,
       CASE WHEN %(vec)s::vector IS NULL OR r.model <> %(model)s::text THEN NULL
            ELSE 1 - (r.embedding <=> %(vec)s::vector) END AS similarity,
       a.title, a.url, a.category, a.audience, a.tags
FROM ranked r JOIN kb_articles a ON a.id = r.article_id
ORDER BY r.text_rank DESC, r.id

-- name: article_bodies
-- The bodies of some articles, to quote whole sections of them in answers.
SELECT id, title, body FROM kb_articles WHERE id = ANY(%(ids)s)

-- name: section_similarity
-- Per article and heading path, the best cosine similarity of a query vector to the section's chunks.
SELECT article_id, heading_path, max(1 - (embedding <=> %(vec)s)) AS similarity
FROM kb_chunks WHERE article_id = ANY(%(ids)s) AND vector_dims(embedding) = vector_dims(%(vec)s::vector)
GROUP BY article_id, heading_path

-- name: index_models
-- The models of the vectors in the index (normally one).
SELECT DISTINCT model FROM kb_chunks

-- name: reembed_discard
-- Drops vectors staged for another model (an earlier re-embedding that was abandoned).
DELETE FROM kb_chunk_vectors_next WHERE model <> %(model)s

-- name: reembed_counts
-- How many chunks there are and how many still need a vector of the new model.
SELECT count(*) AS total,
       count(*) FILTER (WHERE c.model <> %(model)s AND n.chunk_id IS NULL) AS todo
FROM kb_chunks c LEFT JOIN kb_chunk_vectors_next n ON n.chunk_id = c.id AND n.model = %(model)s

-- name: reembed_batch
-- The next chunks without a vector of the new model, with what their embedded text is made of.
SELECT c.id, c.ord, c.heading_path, c.content, c.token_count, a.title
FROM kb_chunks c JOIN kb_articles a ON a.id = c.article_id
WHERE c.model <> %(model)s
  AND NOT EXISTS (SELECT 1 FROM kb_chunk_vectors_next n WHERE n.chunk_id = c.id AND n.model = %(model)s)
ORDER BY c.id
LIMIT %(limit)s

-- name: reembed_stage
-- Keeps one chunk's vector of the new model until the swap.
INSERT INTO kb_chunk_vectors_next (chunk_id, model, embedding) VALUES (%(chunk_id)s, %(model)s, %(embedding)s)
ON CONFLICT (chunk_id) DO UPDATE SET model = excluded.model, embedding = excluded.embedding

-- name: reembed_lock
-- Holds off index writes (ingestion, article edits) until the swap commits; searches go on.
LOCK TABLE kb_chunks IN SHARE ROW EXCLUSIVE MODE

-- name: reembed_swap
-- Puts the staged vectors in place, all at once.
UPDATE kb_chunks c SET embedding = n.embedding, model = n.model
FROM kb_chunk_vectors_next n WHERE n.chunk_id = c.id AND n.model = %(model)s

-- name: reembed_clear
-- Empties the staging table after the swap.
DELETE FROM kb_chunk_vectors_next

-- name: reembed_vector_index
-- The HNSW index for vectors of one dimension ({dims} is filled in by the caller), if there is none yet.
CREATE INDEX IF NOT EXISTS {name} ON kb_chunks USING hnsw ((embedding::vector({dims})) vector_cosine_ops)
    WHERE vector_dims(embedding) = {dims}

-- name: articles_for_hash
-- Every article's fields, to recompute content hashes for a new model.
SELECT id, title, body, category, tags, url, audience, status, format FROM kb_articles

-- name: set_content_hash
-- Records an article's content hash (after a re-embedding, the new model's).
UPDATE kb_articles SET content_hash = %(content_hash)s WHERE id = %(id)s
