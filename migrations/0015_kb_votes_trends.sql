-- KB: one helpfulness vote per person per article read directly (POST /kb/articles/{id}/track-helpful):
-- a repeated vote replaces the earlier one (the last vote wins). Votes through a rated answer were
-- already one per answer and cited article (kb_feedback_answer_key).

-- Keep each person's latest direct vote per article, drop the older repeats.
DELETE FROM kb_feedback f
USING kb_feedback newer
WHERE f.answer_id IS NULL AND newer.answer_id IS NULL
  AND newer.article_id = f.article_id AND newer.user_id = f.user_id
  AND newer.id > f.id;

CREATE UNIQUE INDEX kb_feedback_reader_key ON kb_feedback (article_id, user_id) WHERE answer_id IS NULL;

-- KB trends: how close the nearest chunk of a published article is to a vector (0 when there is none).
-- A question or ticket counts as covered by the KB once this reaches the confident threshold.
CREATE FUNCTION kb_published_similarity(v vector) RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT 1 - (c.embedding <=> v)
                     FROM kb_chunks c JOIN kb_articles a ON a.id = c.article_id AND a.status = 'published'
                     ORDER BY c.embedding <=> v LIMIT 1), 0)
$$;
