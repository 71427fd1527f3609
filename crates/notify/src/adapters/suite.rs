//! The behaviour every [`NotificationStore`] adapter must have: each case a test of its
//! own, run against each adapter (`sqlite`, `postgres`).

use std::sync::Arc;

use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::Id;

use super::postgres::PgNotifications;
use super::sqlite::SqliteNotifications;
use crate::domain::{Change, Kind, NewNotification, NO_SUBJECT};
use crate::ports::{NotificationStore, Query};

async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn NotificationStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    (dir, Arc::new(SqliteNotifications::new(db).await.unwrap()))
}

async fn postgres_store() -> (chirp_testkit::TestDatabase, Arc<dyn NotificationStore>) {
    let pg = chirp_testkit::postgres().await;
    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&crate::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    (pg, Arc::new(PgNotifications::new(db)))
}

chirp_testkit::port_suite! {
    cases: [
        pages_come_newest_first_by_kind_without_hidden_actors,
        a_redelivered_change_adds_nothing_and_an_undo_removes,
        a_deleted_post_or_user_takes_its_notifications_and_late_events_make_none,
        an_edit_sets_whom_a_post_notifies_as_a_mention,
        read_marks_only_move_forward_and_unread_leaves_out_the_hidden,
        one_or_every_notification_of_a_recipient_is_dismissed,
    ],
    adapters: {
        sqlite => sqlite_store,
        postgres => postgres_store,
    },
}

/// Recipient 1's notification `id`, of `kind` by `actor` about post `post`.
fn n(id: u64, kind: Kind, actor: u64, post: u64) -> Change {
    let post = (post != 0).then_some(Id(post));
    Change::Add(NewNotification {
        recipient: Id(1),
        id: Id(id),
        event: Id(id),
        kind,
        actor: Id(actor),
        post,
        subject: post.unwrap_or(NO_SUBJECT),
        created_at_ms: id as i64,
    })
}

async fn ids(s: &dyn NotificationStore, q: Query) -> Vec<u64> {
    s.page(Id(1), &q)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.get())
        .collect()
}

fn q(limit: usize) -> Query {
    Query {
        limit,
        ..Query::default()
    }
}

async fn pages_come_newest_first_by_kind_without_hidden_actors(s: &dyn NotificationStore) {
    let added = s
        .apply(&[
            n(10, Kind::Follow, 2, 0),
            n(11, Kind::Like, 3, 500),
            n(12, Kind::Reply, 4, 501),
            n(13, Kind::Like, 4, 502),
            n(14, Kind::Mention, 5, 503),
        ])
        .await
        .unwrap();
    assert_eq!(added.len(), 5);
    assert_eq!(ids(s, q(3)).await, [14, 13, 12]);
    let next = Query {
        before: Some(12),
        ..q(3)
    };
    assert_eq!(ids(s, next).await, [11, 10]);
    let likes = Query {
        kinds: vec![Kind::Like, Kind::Follow],
        ..q(10)
    };
    assert_eq!(ids(s, likes).await, [13, 11, 10]);
    let hidden = Query {
        hidden: vec![Id(4), Id(9)],
        ..q(10)
    };
    assert_eq!(ids(s, hidden).await, [14, 11, 10]);
    let row = &s.page(Id(1), &q(1)).await.unwrap()[0];
    assert_eq!(
        (row.kind, row.actor, row.post, row.created_at_ms),
        (Kind::Mention, Id(5), Some(Id(503)), 14)
    );
    // Another recipient's are theirs.
    assert!(s.page(Id(2), &q(10)).await.unwrap().is_empty());
}

async fn a_redelivered_change_adds_nothing_and_an_undo_removes(s: &dyn NotificationStore) {
    assert_eq!(
        s.apply(&[n(10, Kind::Like, 3, 500)]).await.unwrap().len(),
        1
    );
    // The same event again, and the same action under another id (a like whose undo was
    // lost would be one): nothing more.
    assert_eq!(
        s.apply(&[n(10, Kind::Like, 3, 500)]).await.unwrap().len(),
        0
    );
    assert_eq!(
        s.apply(&[n(11, Kind::Like, 3, 500)]).await.unwrap().len(),
        0
    );
    // A redelivered event is given a new id when it comes again: its event's id is what
    // stops it (here with another action, so that only the event can).
    let again = match n(20, Kind::Follow, 3, 0) {
        Change::Add(mut a) => {
            a.event = Id(10);
            Change::Add(a)
        }
        other => other,
    };
    assert_eq!(s.apply(&[again]).await.unwrap().len(), 0);
    assert_eq!(ids(s, q(10)).await, [10]);
    // What an event stored, however often it comes: the first delivery's notification
    // (its id, 10, not the redelivery's 20); nothing for an event that stored none (11,
    // the same action again) or another recipient.
    let Change::Add(first) = n(10, Kind::Like, 3, 500) else {
        unreachable!()
    };
    let keys = [(Id(1), Id(10)), (Id(1), Id(11)), (Id(2), Id(10))];
    assert_eq!(s.stored(&keys).await.unwrap(), [first]);
    assert!(s.stored(&[]).await.unwrap().is_empty());
    let unlike = Change::Remove {
        recipient: Id(1),
        kind: Kind::Like,
        actor: Id(3),
        subject: Id(500),
    };
    // Undone, twice, and the follow of the same actor stays.
    s.apply(&[n(12, Kind::Follow, 3, 0), unlike.clone(), unlike])
        .await
        .unwrap();
    assert_eq!(ids(s, q(10)).await, [12]);
    // Liked again later: a new notification.
    assert_eq!(
        s.apply(&[n(13, Kind::Like, 3, 500)]).await.unwrap().len(),
        1
    );
    assert_eq!(ids(s, q(10)).await, [13, 12]);
}

async fn a_deleted_post_or_user_takes_its_notifications_and_late_events_make_none(
    s: &dyn NotificationStore,
) {
    // A repost (subject 600) of post 500, a like of 500, a reply 501 by 4, a follow by 4.
    let repost = Change::Add(NewNotification {
        recipient: Id(1),
        id: Id(10),
        event: Id(10),
        kind: Kind::Repost,
        actor: Id(3),
        post: Some(Id(500)),
        subject: Id(600),
        created_at_ms: 10,
    });
    s.apply(&[
        repost,
        n(11, Kind::Like, 2, 500),
        n(12, Kind::Reply, 4, 501),
        n(13, Kind::Follow, 4, 0),
        n(14, Kind::Like, 5, 502),
    ])
    .await
    .unwrap();
    // The repost deleted: its notification only.
    s.apply(&[Change::PostGone(Id(600))]).await.unwrap();
    assert_eq!(ids(s, q(10)).await, [14, 13, 12, 11]);
    // The original deleted: what shows it.
    s.apply(&[Change::PostGone(Id(500))]).await.unwrap();
    assert_eq!(ids(s, q(10)).await, [14, 13, 12]);
    // User 4 deleted: their reply and follow.
    s.apply(&[Change::UserGone(Id(4))]).await.unwrap();
    assert_eq!(ids(s, q(10)).await, [14]);
    // Late events about what is gone make nothing.
    let late = [
        n(20, Kind::Like, 6, 500),
        n(21, Kind::Follow, 4, 0),
        n(22, Kind::Mention, 7, 600),
    ];
    assert_eq!(s.apply(&late).await.unwrap().len(), 0);
    assert_eq!(ids(s, q(10)).await, [14]);
    // A deleted recipient's own go too, with their mark.
    s.mark_read(Id(1), 14).await.unwrap();
    s.apply(&[Change::UserGone(Id(1))]).await.unwrap();
    assert!(ids(s, q(10)).await.is_empty());
    assert_eq!(s.read_up_to(Id(1)).await.unwrap(), 0);
}

async fn an_edit_sets_whom_a_post_notifies_as_a_mention(s: &dyn NotificationStore) {
    let mention = |recipient: u64, id: u64| {
        Change::Add(NewNotification {
            recipient: Id(recipient),
            id: Id(id),
            event: Id(id),
            kind: Kind::Mention,
            actor: Id(9),
            post: Some(Id(500)),
            subject: Id(500),
            created_at_ms: 0,
        })
    };
    let reply = Change::Add(NewNotification {
        recipient: Id(1),
        id: Id(10),
        event: Id(10),
        kind: Kind::Reply,
        actor: Id(9),
        post: Some(Id(500)),
        subject: Id(500),
        created_at_ms: 0,
    });
    s.apply(&[reply, mention(2, 10)]).await.unwrap();
    let edit = |recipients: &[u64], id: u64| Change::Mentions {
        post: Id(500),
        author: Id(9),
        recipients: recipients.iter().copied().map(Id).collect(),
        id: Id(id),
        event: Id(id),
        at_ms: 0,
    };
    // Now 1 (replied to: told already) and 3 (new); 2 is no longer mentioned.
    assert_eq!(s.apply(&[edit(&[1, 3], 11)]).await.unwrap().len(), 1);
    let of = |user: u64| async move {
        s.page(Id(user), &q(10))
            .await
            .unwrap()
            .iter()
            .map(|r| (r.id.get(), r.kind))
            .collect::<Vec<_>>()
    };
    assert_eq!(of(1).await, [(10, Kind::Reply)]);
    assert!(of(2).await.is_empty());
    assert_eq!(of(3).await, [(11, Kind::Mention)]);
    // Again (redelivered): the same. Then no mentions at all.
    assert_eq!(s.apply(&[edit(&[1, 3], 11)]).await.unwrap().len(), 0);
    s.apply(&[edit(&[], 12)]).await.unwrap();
    assert!(of(3).await.is_empty());
    assert_eq!(of(1).await, [(10, Kind::Reply)]);
}

async fn read_marks_only_move_forward_and_unread_leaves_out_the_hidden(s: &dyn NotificationStore) {
    assert_eq!(s.read_up_to(Id(1)).await.unwrap(), 0);
    assert_eq!(s.unread(Id(1), &[]).await.unwrap(), 0);
    s.apply(&[
        n(10, Kind::Follow, 2, 0),
        n(11, Kind::Like, 3, 500),
        n(12, Kind::Like, 4, 500),
        n(13, Kind::Mention, 4, 501),
    ])
    .await
    .unwrap();
    assert_eq!(s.unread(Id(1), &[]).await.unwrap(), 4);
    assert_eq!(s.unread(Id(1), &[Id(4), Id(8)]).await.unwrap(), 2);
    s.mark_read(Id(1), 11).await.unwrap();
    assert_eq!(s.read_up_to(Id(1)).await.unwrap(), 11);
    assert_eq!(s.unread(Id(1), &[]).await.unwrap(), 2);
    // A mark never moves back.
    s.mark_read(Id(1), 10).await.unwrap();
    assert_eq!(s.read_up_to(Id(1)).await.unwrap(), 11);
    s.mark_read(Id(1), 13).await.unwrap();
    assert_eq!(s.unread(Id(1), &[]).await.unwrap(), 0);
    // Others' marks are theirs.
    assert_eq!(s.read_up_to(Id(2)).await.unwrap(), 0);
}

async fn one_or_every_notification_of_a_recipient_is_dismissed(s: &dyn NotificationStore) {
    let mut others = n(20, Kind::Follow, 2, 0);
    if let Change::Add(x) = &mut others {
        x.recipient = Id(2);
    }
    s.apply(&[
        n(10, Kind::Follow, 2, 0),
        n(11, Kind::Like, 3, 500),
        n(12, Kind::Reply, 4, 501),
        others,
    ])
    .await
    .unwrap();
    assert_eq!(s.dismiss(Id(1), Some(Id(11))).await.unwrap(), 1);
    assert_eq!(ids(s, q(10)).await, [12, 10]);
    // Not theirs, or gone already: nothing.
    assert_eq!(s.dismiss(Id(1), Some(Id(20))).await.unwrap(), 0);
    assert_eq!(s.dismiss(Id(1), Some(Id(11))).await.unwrap(), 0);
    assert_eq!(s.dismiss(Id(1), None).await.unwrap(), 2);
    assert!(ids(s, q(10)).await.is_empty());
    assert_eq!(s.page(Id(2), &q(10)).await.unwrap().len(), 1);
}
