CREATE TABLE worker_leases (
    worker_id INTEGER PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL);
