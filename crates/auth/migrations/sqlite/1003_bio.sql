-- A profile's bio, and its version (the `version` of its events: 1 at signup, one more
-- for each change).
ALTER TABLE profiles ADD COLUMN bio TEXT NOT NULL DEFAULT '';
ALTER TABLE profiles ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
