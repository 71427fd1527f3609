CREATE TABLE follows (
    follower BIGINT NOT NULL,
    followee BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (follower, followee));
CREATE INDEX follows_by_followee ON follows (followee, seq DESC);
CREATE INDEX follows_by_follower ON follows (follower, seq DESC);
CREATE TABLE follow_counts (
    user_id BIGINT PRIMARY KEY,
    followers BIGINT NOT NULL DEFAULT 0,
    following BIGINT NOT NULL DEFAULT 0);
CREATE INDEX follow_counts_followers ON follow_counts (followers);
