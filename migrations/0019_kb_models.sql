-- Knowledge base: embeddings of any model (switchable, re-embedded in place without losing the old vectors).
--
-- kb_chunks.embedding loses its fixed dimension; every chunk names the model of its vector (``model``), and a
-- search compares a query vector only with chunks of the query's model. The HNSW index is an expression index
-- per dimension (``embedding::vector(384)`` for chunks whose vector has 384 dimensions); ``deskmate kb reembed``
-- creates the one for a new dimension. New vectors are staged in kb_chunk_vectors_next while the old ones keep
-- serving, and swapped in by one transaction when all chunks have one.

DROP INDEX kb_chunks_embedding_idx;
ALTER TABLE kb_chunks ALTER COLUMN embedding TYPE vector;
ALTER TABLE kb_chunks ADD COLUMN model text NOT NULL DEFAULT 'all-MiniLM-L6-v2';
ALTER TABLE kb_chunks ALTER COLUMN model DROP DEFAULT;
CREATE INDEX kb_chunks_embedding_384_idx ON kb_chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WHERE vector_dims(embedding) = 384;

-- Vectors of the next model, written by ``deskmate kb reembed`` batch by batch (so an interrupted run resumes).
CREATE TABLE kb_chunk_vectors_next (
    chunk_id bigint PRIMARY KEY REFERENCES kb_chunks ON DELETE CASCADE,
    model text NOT NULL,
    embedding vector NOT NULL
);

-- Questions are embedded with the KB's model, whatever its dimension.
ALTER TABLE kb_answers ALTER COLUMN question_embedding TYPE vector;

-- Only vectors of the same dimension are compared (a question asked before a model switch has none to match).
CREATE OR REPLACE FUNCTION kb_published_similarity(v vector) RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT 1 - (c.embedding <=> v)
                     FROM kb_chunks c JOIN kb_articles a ON a.id = c.article_id AND a.status = 'published'
                     WHERE vector_dims(c.embedding) = vector_dims(v)
                     ORDER BY c.embedding <=> v LIMIT 1), 0)
$$;
