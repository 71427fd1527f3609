CREATE TABLE posts (
    id BIGINT PRIMARY KEY,
    author_id BIGINT NOT NULL,
    text TEXT NOT NULL,
    reply_to BIGINT,
    created_at BIGINT NOT NULL,
    edited_at BIGINT,
    deleted_at BIGINT,
    version BIGINT NOT NULL DEFAULT 1);
CREATE INDEX posts_author_live ON posts (author_id, id DESC) WHERE deleted_at IS NULL;
CREATE TABLE post_counts (user_id BIGINT PRIMARY KEY, posts BIGINT NOT NULL);
CREATE TABLE post_idempotency (
    user_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    post_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, key));
