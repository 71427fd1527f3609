CREATE TABLE auth_identities (
    id INTEGER PRIMARY KEY,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL);
CREATE UNIQUE INDEX auth_identities_handle_key ON auth_identities (handle_key);
CREATE UNIQUE INDEX auth_identities_email_key ON auth_identities (email_key);
CREATE TABLE profiles (
    id INTEGER PRIMARY KEY,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at INTEGER NOT NULL);
CREATE TABLE auth_sessions (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER);
CREATE TABLE auth_refresh_tokens (
    hash BLOB PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES auth_sessions (id),
    expires_at INTEGER NOT NULL,
    used_at INTEGER);
CREATE INDEX auth_refresh_tokens_session ON auth_refresh_tokens (session_id);
