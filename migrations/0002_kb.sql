-- Knowledge base: articles, their chunks (embedding + full-text), the answers given, feedback, the
-- embeddings of tickets (for KB trends) and suggested new articles.

CREATE TABLE kb_articles (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]*$' AND length(id) <= 100),
    -- numeric handle for tables keyed by bigint (idempotency_keys.resource_id)
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    category text,
    tags text[] NOT NULL DEFAULT '{}',
    url text,
    audience text NOT NULL DEFAULT 'employee' CHECK (audience IN ('employee', 'agent')),
    status text NOT NULL DEFAULT 'published' CHECK (status IN ('draft', 'published')),
    format text NOT NULL DEFAULT 'markdown' CHECK (format IN ('markdown', 'html', 'text')),
    body text NOT NULL,
    -- the file a directory ingest read it from; NULL when written through the API
    source_path text,
    -- hash of everything that shapes the index (fields, chunker version, model): unchanged = not re-embedded
    content_hash text NOT NULL,
    views bigint NOT NULL DEFAULT 0,
    version integer NOT NULL DEFAULT 1,
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_articles_source_idx ON kb_articles (source_path) WHERE source_path IS NOT NULL;

-- One row per chunk; an article's chunks are replaced together, in one transaction.
CREATE TABLE kb_chunks (
    id bigserial PRIMARY KEY,
    article_id text NOT NULL REFERENCES kb_articles ON DELETE CASCADE,
    ord integer NOT NULL,
    heading_path text[] NOT NULL DEFAULT '{}',
    -- title, heading path and tags: weighted above the content in full-text search
    context text NOT NULL,
    content text NOT NULL,
    token_count integer NOT NULL,
    -- copies of the article's fields that filter searches (any change to an article rewrites its chunks),
    -- so the vector search is one index scan on this table with the filters applied inside it
    audience text NOT NULL,
    status text NOT NULL,
    category text,
    embedding vector(384) NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', context), 'A') || setweight(to_tsvector('english', content), 'B')) STORED,
    UNIQUE (article_id, ord)
);
CREATE INDEX kb_chunks_embedding_idx ON kb_chunks USING hnsw (embedding vector_cosine_ops);
CREATE INDEX kb_chunks_tsv_idx ON kb_chunks USING gin (tsv);

-- Every answer given (api and bot); weak ones feed KB trends, feedback is stored on them.
CREATE TABLE kb_answers (
    id bigserial PRIMARY KEY,
    user_id bigint REFERENCES users ON DELETE SET NULL,
    question text NOT NULL,
    question_embedding vector(384),
    mode text NOT NULL CHECK (mode IN ('llm', 'extractive', 'none')),
    confident boolean NOT NULL,
    best_similarity real,
    -- cited articles in citation order; no foreign key: an answer outlives a deleted article
    article_ids text[] NOT NULL DEFAULT '{}',
    answer text NOT NULL,
    helpful boolean,
    feedback_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_answers_weak_idx ON kb_answers (created_at) WHERE NOT confident;
CREATE INDEX kb_answers_user_idx ON kb_answers (user_id, id);

-- Helpfulness votes per article: from track-helpful, or one per cited article of a rated answer.
CREATE TABLE kb_feedback (
    id bigserial PRIMARY KEY,
    article_id text NOT NULL REFERENCES kb_articles ON DELETE CASCADE,
    answer_id bigint REFERENCES kb_answers ON DELETE CASCADE,
    user_id bigint REFERENCES users ON DELETE SET NULL,
    helpful boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX kb_feedback_answer_key ON kb_feedback (answer_id, article_id) WHERE answer_id IS NOT NULL;
CREATE INDEX kb_feedback_article_idx ON kb_feedback (article_id);

-- Ticket texts embedded once (recomputed when title or description change), for KB trends.
CREATE TABLE kb_ticket_vectors (
    ticket_id bigint PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,
    text_hash text NOT NULL,
    embedding vector(384) NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);

-- Clusters of unanswered questions and tickets, kept so they can be approved (-> draft article) or
-- dismissed; open ones are refreshed every time the trends are computed.
CREATE TABLE kb_suggestions (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    questions text[] NOT NULL,
    size integer NOT NULL CHECK (size > 0),
    answer_ids bigint[] NOT NULL DEFAULT '{}',
    ticket_ids bigint[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'dismissed')),
    article_id text REFERENCES kb_articles ON DELETE SET NULL,
    decided_by bigint REFERENCES users ON DELETE SET NULL,
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_suggestions_status_idx ON kb_suggestions (status, size DESC);

-- Articles as the API shows them: with their helpfulness counts.
CREATE VIEW kb_articles_v AS
SELECT a.*,
       coalesce(f.helpful, 0) AS helpful_count,
       coalesce(f.not_helpful, 0) AS not_helpful_count
FROM kb_articles a
LEFT JOIN (
    SELECT article_id, count(*) FILTER (WHERE helpful) AS helpful, count(*) FILTER (WHERE NOT helpful) AS not_helpful
    FROM kb_feedback GROUP BY article_id
) f ON f.article_id = a.id;
