CREATE TABLE blocks (
    blocker BIGINT NOT NULL,
    blocked BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (blocker, blocked));
CREATE INDEX blocks_by_blocker ON blocks (blocker, seq DESC);
CREATE INDEX blocks_by_blocked ON blocks (blocked);
CREATE TABLE mutes (
    muter BIGINT NOT NULL,
    muted BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (muter, muted));
CREATE INDEX mutes_by_muter ON mutes (muter, seq DESC);
