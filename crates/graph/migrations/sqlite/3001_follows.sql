CREATE TABLE follows (
    follower INTEGER NOT NULL,
    followee INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (follower, followee));
CREATE INDEX follows_by_followee ON follows (followee, seq);
CREATE INDEX follows_by_follower ON follows (follower, seq);
CREATE TABLE follow_counts (
    user_id INTEGER PRIMARY KEY,
    followers INTEGER NOT NULL DEFAULT 0,
    following INTEGER NOT NULL DEFAULT 0);
