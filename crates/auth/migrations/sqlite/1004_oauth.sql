-- OAuth apps, authorization codes and tokens of the Mastodon API. Secrets, codes and
-- tokens are kept as their SHA-256 only.
CREATE TABLE oauth_apps (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL,
    name TEXT NOT NULL,
    website TEXT,
    redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE oauth_codes (
    hash BLOB PRIMARY KEY,
    app_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    challenge TEXT,
    expires_at INTEGER NOT NULL
);
CREATE TABLE oauth_tokens (
    id INTEGER PRIMARY KEY,
    access_hash BLOB NOT NULL UNIQUE,
    refresh_hash BLOB UNIQUE,
    app_id INTEGER NOT NULL,
    user_id INTEGER,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX oauth_tokens_user ON oauth_tokens (user_id);
