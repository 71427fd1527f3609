-- Mentions resolved when a post is written; counts per post; likes.
ALTER TABLE posts ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
CREATE INDEX posts_replies ON posts (reply_to, id) WHERE reply_to IS NOT NULL AND deleted_at IS NULL;
CREATE TABLE post_stats (
    post_id BIGINT PRIMARY KEY,
    replies BIGINT NOT NULL DEFAULT 0,
    likes BIGINT NOT NULL DEFAULT 0,
    reposts BIGINT NOT NULL DEFAULT 0);
-- The replies made before this step.
INSERT INTO post_stats (post_id, replies)
    SELECT reply_to, count(*) FROM posts
    WHERE reply_to IS NOT NULL AND deleted_at IS NULL GROUP BY reply_to;
CREATE TABLE likes (
    user_id BIGINT NOT NULL,
    post_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (user_id, post_id));
CREATE INDEX likes_of_post ON likes (post_id, id DESC);
CREATE INDEX likes_by_user ON likes (user_id, id DESC);
