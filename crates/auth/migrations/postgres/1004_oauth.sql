-- OAuth apps, authorization codes and tokens of the Mastodon API. Secrets, codes and
-- tokens are kept as their SHA-256 only.
CREATE TABLE oauth_apps (
    id BIGINT PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    secret_hash BYTEA NOT NULL,
    name TEXT NOT NULL,
    website TEXT,
    redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE oauth_codes (
    hash BYTEA PRIMARY KEY,
    app_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    challenge TEXT,
    expires_at BIGINT NOT NULL
);
CREATE TABLE oauth_tokens (
    id BIGINT PRIMARY KEY,
    access_hash BYTEA NOT NULL UNIQUE,
    refresh_hash BYTEA UNIQUE,
    app_id BIGINT NOT NULL,
    user_id BIGINT,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_tokens_user ON oauth_tokens (user_id);
