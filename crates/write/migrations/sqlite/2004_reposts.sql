-- Reposts: a post of its own, with the post it reposts; one live repost per user and
-- original.
ALTER TABLE posts ADD COLUMN repost_of INTEGER;
CREATE UNIQUE INDEX posts_one_repost ON posts (author_id, repost_of)
    WHERE repost_of IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX posts_reposts_of ON posts (repost_of, id)
    WHERE repost_of IS NOT NULL AND deleted_at IS NULL;
