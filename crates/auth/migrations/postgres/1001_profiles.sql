CREATE TABLE profiles (
    id BIGINT PRIMARY KEY,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT profiles_handle_key UNIQUE (handle_key));
