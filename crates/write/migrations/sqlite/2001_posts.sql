CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL,
    text TEXT NOT NULL,
    reply_to INTEGER,
    created_at INTEGER NOT NULL,
    edited_at INTEGER,
    deleted_at INTEGER,
    version INTEGER NOT NULL DEFAULT 1);
CREATE INDEX posts_author_live ON posts (author_id, id) WHERE deleted_at IS NULL;
CREATE TABLE post_counts (user_id INTEGER PRIMARY KEY, posts INTEGER NOT NULL);
CREATE TABLE post_idempotency (
    user_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    post_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key));
