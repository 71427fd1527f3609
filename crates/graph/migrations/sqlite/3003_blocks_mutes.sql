CREATE TABLE blocks (
    blocker INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked));
CREATE INDEX blocks_by_blocker ON blocks (blocker, seq);
CREATE INDEX blocks_by_blocked ON blocks (blocked);
CREATE TABLE mutes (
    muter INTEGER NOT NULL,
    muted INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (muter, muted));
CREATE INDEX mutes_by_muter ON mutes (muter, seq);
