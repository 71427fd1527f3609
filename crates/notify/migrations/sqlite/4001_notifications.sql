-- NotificationService: a notification's id is given when it is stored (so ids, pages and
-- read marks follow the order notifications arrive in, whatever order their events were
-- made in); each event makes at most one per recipient (recipient, event), and each
-- action at most one (recipient, kind, actor, subject), where the subject is what undoing
-- removes: the liked post, the repost, the reply or mentioning post, 0 for a follow.
-- `post_id` is the post the notification shows.
CREATE TABLE notifications (
    recipient INTEGER NOT NULL,
    id INTEGER NOT NULL,
    event INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor INTEGER NOT NULL,
    post_id INTEGER,
    subject INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (recipient, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX notifications_once ON notifications (recipient, kind, actor, subject);
CREATE UNIQUE INDEX notifications_of_event ON notifications (recipient, event);
CREATE INDEX notifications_by_subject ON notifications (subject);
CREATE INDEX notifications_by_post ON notifications (post_id);
CREATE INDEX notifications_by_actor ON notifications (actor);

-- How far each user has read: every notification up to this id is read.
CREATE TABLE notification_marks (
    recipient INTEGER PRIMARY KEY,
    read_up_to INTEGER NOT NULL
);

-- Posts and users deleted: an event about one that arrives late (on another topic than
-- the deletion) makes nothing.
CREATE TABLE notification_gone (
    id INTEGER PRIMARY KEY
);
