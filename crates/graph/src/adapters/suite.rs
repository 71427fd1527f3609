//! The behaviour every [`FollowStore`] adapter must have: each case a test of its own, run
//! against each adapter (`sqlite`, `sqlite_mirrored` with its copy in memory, `postgres`,
//! and `postgres_redis…`: PostgreSQL with its hot reads kept in Redis or a Redis Cluster);
//! blocks, mutes and relationships with the outbox their events go to.

use std::sync::Arc;

use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{Event, EventBody};
use chirp_core::page::PageRequest;
use chirp_core::Id;

use chirp_core::deployed::redis::Redis;

use super::postgres::PgFollowStore;
use super::redis::RedisGraphCache;
use super::sqlite::SqliteFollowStore;
use crate::ports::{FollowStore, Followed};

async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn FollowStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    (dir, Arc::new(SqliteFollowStore::new(db).await.unwrap()))
}

async fn sqlite_mirrored_store() -> (tempfile::TempDir, Arc<dyn FollowStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    (
        dir,
        Arc::new(SqliteFollowStore::mirrored(db).await.unwrap()),
    )
}

async fn postgres_store() -> (chirp_testkit::TestDatabase, Arc<dyn FollowStore>) {
    let pg = chirp_testkit::postgres().await;
    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&crate::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    (pg, Arc::new(PgFollowStore::new(db)))
}

/// What keeps a cached store's database and Redis keys alive, and the store.
type Cached = (
    (chirp_testkit::TestDatabase, chirp_testkit::TestRedisPrefix),
    Arc<dyn FollowStore>,
);

/// The record on PostgreSQL with its cache in Redis at `urls`, home entries kept at
/// `threshold` (2: the suite's reads at 2 go through the cache, and 9 goes above it with
/// its third follower, whose followers the record then answers; 1000: every followers
/// set is kept whole).
async fn cached_store(urls: &str, threshold: u64) -> Cached {
    let (pg, record) = postgres_store().await;
    let prefix = chirp_testkit::TestRedisPrefix::on(urls);
    let redis = Redis::new(&prefix.url, &prefix.prefix).unwrap();
    let cache = RedisGraphCache::new(record, redis, threshold);
    ((pg, prefix), Arc::new(cache))
}

async fn postgres_redis_store() -> Cached {
    cached_store(&chirp_testkit::redis_url(), 2).await
}

async fn postgres_redis_whole_store() -> Cached {
    cached_store(&chirp_testkit::redis_url(), 1000).await
}

async fn postgres_redis_cluster_store() -> Cached {
    cached_store(&chirp_testkit::redis_cluster_urls(), 2).await
}

async fn postgres_redis_cluster_whole_store() -> Cached {
    cached_store(&chirp_testkit::redis_cluster_urls(), 1000).await
}

chirp_testkit::port_suite! {
    cases: [
        a_follow_counts_once_both_ways,
        followers_come_newest_first_in_pages,
        following_and_the_followed_above_a_threshold,
        an_unfollow_happens_once,
    ],
    adapters: {
        sqlite => sqlite_store,
        sqlite_mirrored => sqlite_mirrored_store,
        postgres => postgres_store,
        postgres_redis => postgres_redis_store,
        postgres_redis_whole => postgres_redis_whole_store,
        postgres_redis_cluster => postgres_redis_cluster_store,
        postgres_redis_cluster_whole => postgres_redis_cluster_whole_store,
    },
}

fn ev(a: u64, b: u64) -> Event {
    Event {
        id: Id(a * 1000 + b),
        version: 1,
        occurred_at_ms: 0,
        trace: None,
        body: EventBody::FollowCreated {
            follower: Id(a),
            followee: Id(b),
        },
    }
}

/// 1, 2 and 3 follow 9 (in that order); 1 also follows 8, last.
async fn graph(s: &dyn FollowStore) {
    let mut key = 100;
    // Each follow with the followee's followers counted with it.
    for (a, b, followers) in [(1, 9, 1), (2, 9, 2), (3, 9, 3), (1, 8, 1)] {
        key += 1;
        assert_eq!(
            s.follow(Id(a), Id(b), key, &ev(a, b)).await.unwrap(),
            Followed::Now { followers }
        );
    }
}

async fn a_follow_counts_once_both_ways(s: &dyn FollowStore) {
    graph(s).await;
    assert_eq!(
        s.follow(Id(1), Id(9), 999, &ev(1, 9)).await.unwrap(),
        Followed::Already,
        "idempotent"
    );
    let c = s.counts(&[Id(9), Id(1), Id(7)]).await.unwrap();
    assert_eq!((c[&Id(9)].followers, c[&Id(9)].following), (3, 0));
    assert_eq!((c[&Id(1)].followers, c[&Id(1)].following), (0, 2));
    assert!(!c.contains_key(&Id(7)) || c[&Id(7)].followers == 0);
    s.ping().await.unwrap();
}

async fn followers_come_newest_first_in_pages(s: &dyn FollowStore) {
    graph(s).await;
    let p1 = s.followers(Id(9), PageRequest::first(2)).await.unwrap();
    assert_eq!(p1.users, [Id(3), Id(2)]);
    assert!(p1.more);
    let next = PageRequest {
        limit: 2,
        before: p1.keys.last().copied(),
    };
    let p2 = s.followers(Id(9), next).await.unwrap();
    assert_eq!(p2.users, [Id(1)]);
    assert!(!p2.more);
    let none = s.followers(Id(7), PageRequest::first(2)).await.unwrap();
    assert!(none.users.is_empty() && !none.more);
}

async fn following_and_the_followed_above_a_threshold(s: &dyn FollowStore) {
    graph(s).await;
    let following = s.following(Id(1), PageRequest::first(10)).await.unwrap();
    assert_eq!(following.users, [Id(8), Id(9)]);
    assert_eq!(s.all_following(Id(1), 10).await.unwrap(), [Id(8), Id(9)]);
    assert_eq!(s.all_following(Id(1), 1).await.unwrap().len(), 1);
    assert_eq!(s.following_above(Id(1), 2).await.unwrap(), [Id(9)]);
    assert!(s.following_above(Id(1), 3).await.unwrap().is_empty());
    // A home read's part in one call: those followed above it, and the reader when above.
    let home = s.home_context(Id(1), 2).await.unwrap();
    assert_eq!(
        (home.celebrities.as_slice(), home.hidden.is_empty()),
        (&[Id(9)][..], true)
    );
    assert_eq!(s.home_context(Id(9), 2).await.unwrap().celebrities, [Id(9)]);
    assert!(s
        .home_context(Id(1), 3)
        .await
        .unwrap()
        .celebrities
        .is_empty());
}

async fn an_unfollow_happens_once(s: &dyn FollowStore) {
    graph(s).await;
    assert!(s.unfollow(Id(2), Id(9), &ev(2, 9)).await.unwrap());
    assert!(
        !s.unfollow(Id(2), Id(9), &ev(2, 9)).await.unwrap(),
        "idempotent"
    );
    let c = s.counts(&[Id(9), Id(2)]).await.unwrap();
    assert_eq!(c[&Id(9)].followers, 2);
    assert!(!c.contains_key(&Id(2)) || c[&Id(2)].following == 0);
    let left = s.followers(Id(9), PageRequest::first(10)).await.unwrap();
    assert_eq!(left.users, [Id(3), Id(1)]);
}

mod blocks_and_mutes {
    use chirp_core::deployed::postgres::PgOutbox;
    use chirp_core::embedded::outbox::SqliteOutbox;
    use chirp_core::model::Relationship;
    use chirp_core::outbox::OutboxSource;

    use super::*;
    use crate::ports::{BlockEvents, Edge};

    /// A follow store and the outbox its events go to.
    struct Graph {
        store: Arc<dyn FollowStore>,
        outbox: Arc<dyn OutboxSource>,
    }

    async fn sqlite_graph(mirrored: bool) -> (tempfile::TempDir, Arc<Graph>) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
        let store: Arc<dyn FollowStore> = if mirrored {
            Arc::new(SqliteFollowStore::mirrored(db.clone()).await.unwrap())
        } else {
            Arc::new(SqliteFollowStore::new(db.clone()).await.unwrap())
        };
        let outbox = Arc::new(SqliteOutbox::new(db, super::super::sqlite::OUTBOX));
        (dir, Arc::new(Graph { store, outbox }))
    }

    async fn sqlite() -> (tempfile::TempDir, Arc<Graph>) {
        sqlite_graph(false).await
    }

    async fn sqlite_mirrored() -> (tempfile::TempDir, Arc<Graph>) {
        sqlite_graph(true).await
    }

    async fn postgres() -> (chirp_testkit::TestDatabase, Arc<Graph>) {
        let pg = chirp_testkit::postgres().await;
        let db = PgDb::connect_lazy(&pg.url).unwrap();
        db.migrate(&crate::SCHEMA).await.unwrap();
        db.mark_schema_ready();
        let graph = Graph {
            store: Arc::new(PgFollowStore::new(db.clone())),
            outbox: Arc::new(PgOutbox::new(db, super::super::postgres::OUTBOX)),
        };
        (pg, Arc::new(graph))
    }

    type CachedGraph = (
        (chirp_testkit::TestDatabase, chirp_testkit::TestRedisPrefix),
        Arc<Graph>,
    );

    /// PostgreSQL with its cache in Redis at `urls`: home entries at 1000, the
    /// threshold these cases read at.
    async fn cached(urls: &str) -> CachedGraph {
        let (pg, graph) = postgres().await;
        let prefix = chirp_testkit::TestRedisPrefix::on(urls);
        let redis = Redis::new(&prefix.url, &prefix.prefix).unwrap();
        let graph = Graph {
            store: Arc::new(RedisGraphCache::new(graph.store.clone(), redis, 1000)),
            outbox: graph.outbox.clone(),
        };
        ((pg, prefix), Arc::new(graph))
    }

    async fn postgres_redis() -> CachedGraph {
        cached(&chirp_testkit::redis_url()).await
    }

    async fn postgres_redis_cluster() -> CachedGraph {
        cached(&chirp_testkit::redis_cluster_urls()).await
    }

    chirp_testkit::port_suite! {
        cases: [
            a_block_ends_the_follows_both_ways_with_their_events,
            a_block_stops_follows_both_ways_until_it_ends,
            mutes_and_blocks_list_newest_first_and_hide,
            relationships_come_in_the_order_asked,
            a_follow_racing_a_block_never_outlives_it,
            a_deleted_users_blocks_and_mutes_go_both_ways,
        ],
        adapters: {
            sqlite => sqlite,
            sqlite_mirrored => sqlite_mirrored,
            postgres => postgres,
            postgres_redis => postgres_redis,
            postgres_redis_cluster => postgres_redis_cluster,
        },
    }

    fn event(id: u64, body: EventBody) -> Event {
        Event {
            id: Id(id),
            version: 1,
            occurred_at_ms: 0,
            trace: None,
            body,
        }
    }

    fn block_events(blocker: u64, blocked: u64) -> BlockEvents {
        let (a, b) = (Id(blocker), Id(blocked));
        BlockEvents {
            block: event(
                500 + blocker,
                EventBody::BlockCreated {
                    blocker: a,
                    blocked: b,
                },
            ),
            unfollow: event(
                600 + blocker,
                EventBody::FollowDeleted {
                    follower: a,
                    followee: b,
                },
            ),
            unfollowed: event(
                700 + blocker,
                EventBody::FollowDeleted {
                    follower: b,
                    followee: a,
                },
            ),
        }
    }

    impl Graph {
        async fn events(&self) -> Vec<EventBody> {
            let pending = self.outbox.pending(100).await.unwrap();
            pending.into_iter().map(|p| p.event.body).collect()
        }
    }

    async fn a_block_ends_the_follows_both_ways_with_their_events(g: &Graph) {
        let s = g.store.as_ref();
        graph(s).await;
        assert_eq!(
            s.follow(Id(9), Id(1), 105, &ev(9, 1)).await.unwrap(),
            Followed::Now { followers: 1 }
        );
        let before = g.events().await.len();
        assert!(s
            .block(Id(9), Id(1), 200, &block_events(9, 1))
            .await
            .unwrap());
        assert!(
            !s.block(Id(9), Id(1), 201, &block_events(9, 1))
                .await
                .unwrap(),
            "idempotent"
        );
        let events = g.events().await;
        assert_eq!(
            events[before..],
            [
                block_events(9, 1).unfollow.body,
                block_events(9, 1).unfollowed.body,
                block_events(9, 1).block.body,
            ],
            "the ends of both follows and the block, once"
        );
        let c = s.counts(&[Id(9), Id(1)]).await.unwrap();
        assert_eq!((c[&Id(9)].followers, c[&Id(9)].following), (2, 0));
        assert_eq!((c[&Id(1)].followers, c[&Id(1)].following), (0, 1));
        let followers = s.followers(Id(9), PageRequest::first(10)).await.unwrap();
        assert_eq!(followers.users, [Id(3), Id(2)]);
        // A block with no follows between the two is the block alone.
        let before = g.events().await.len();
        assert!(s
            .block(Id(3), Id(8), 202, &block_events(3, 8))
            .await
            .unwrap());
        assert_eq!(g.events().await[before..], [block_events(3, 8).block.body]);
    }

    async fn a_block_stops_follows_both_ways_until_it_ends(g: &Graph) {
        let s = g.store.as_ref();
        assert!(s
            .block(Id(1), Id(2), 200, &block_events(1, 2))
            .await
            .unwrap());
        let before = g.events().await.len();
        for (a, b) in [(1, 2), (2, 1)] {
            assert_eq!(
                s.follow(Id(a), Id(b), 300, &ev(a, b)).await.unwrap(),
                Followed::Blocked
            );
        }
        assert_eq!(
            g.events().await.len(),
            before,
            "a refused follow sends nothing"
        );
        assert!(s
            .following(Id(2), PageRequest::first(5))
            .await
            .unwrap()
            .users
            .is_empty());
        let unblock = event(
            800,
            EventBody::BlockDeleted {
                blocker: Id(1),
                blocked: Id(2),
            },
        );
        // Only the blocker's block ends it.
        assert!(!s
            .remove_edge(Edge::Block, Id(2), Id(1), &unblock)
            .await
            .unwrap());
        assert!(s
            .remove_edge(Edge::Block, Id(1), Id(2), &unblock)
            .await
            .unwrap());
        assert!(!s
            .remove_edge(Edge::Block, Id(1), Id(2), &unblock)
            .await
            .unwrap());
        assert_eq!(g.events().await[before..], [unblock.body]);
        assert_eq!(
            s.follow(Id(2), Id(1), 301, &ev(2, 1)).await.unwrap(),
            Followed::Now { followers: 1 }
        );
    }

    async fn mutes_and_blocks_list_newest_first_and_hide(g: &Graph) {
        let s = g.store.as_ref();
        let mute = |a: u64, b: u64| {
            event(
                900 + b,
                EventBody::MuteCreated {
                    muter: Id(a),
                    muted: Id(b),
                },
            )
        };
        for (key, muted) in [(10, 4), (11, 5), (12, 6)] {
            assert!(s
                .mute(Id(1), Id(muted), key, &mute(1, muted))
                .await
                .unwrap());
        }
        assert!(
            !s.mute(Id(1), Id(5), 13, &mute(1, 5)).await.unwrap(),
            "idempotent"
        );
        assert!(s
            .block(Id(1), Id(7), 14, &block_events(1, 7))
            .await
            .unwrap());
        assert!(s
            .block(Id(8), Id(1), 15, &block_events(8, 1))
            .await
            .unwrap());
        let first = s
            .edges(Edge::Mute, Id(1), PageRequest::first(2))
            .await
            .unwrap();
        assert_eq!(
            (first.users.as_slice(), first.more),
            (&[Id(6), Id(5)][..], true)
        );
        let rest = PageRequest {
            limit: 2,
            before: first.keys.last().copied(),
        };
        let rest = s.edges(Edge::Mute, Id(1), rest).await.unwrap();
        assert_eq!((rest.users.as_slice(), rest.more), (&[Id(4)][..], false));
        let blocks = s
            .edges(Edge::Block, Id(1), PageRequest::first(5))
            .await
            .unwrap();
        assert_eq!(blocks.users, [Id(7)], "only whom 1 blocks");
        let mut hidden = s.hidden_from(Id(1)).await.unwrap();
        hidden.blocked.sort();
        hidden.muted.sort();
        assert_eq!(hidden.blocked, [Id(7), Id(8)]);
        assert_eq!(hidden.muted, [Id(4), Id(5), Id(6)]);
        let mut home = s.home_context(Id(1), 1000).await.unwrap();
        home.hidden.blocked.sort();
        home.hidden.muted.sort();
        assert_eq!((home.hidden, home.celebrities), (hidden, vec![]));
        let hidden = s.hidden_from(Id(7)).await.unwrap();
        assert_eq!(
            (hidden.blocked.as_slice(), hidden.muted.as_slice()),
            (&[Id(1)][..], &[][..]),
            "the blocked do not see the blocker either"
        );
        assert!(
            s.hidden_from(Id(4)).await.unwrap().is_empty(),
            "a mute is one way"
        );
        let unmute = event(
            950,
            EventBody::MuteDeleted {
                muter: Id(1),
                muted: Id(5),
            },
        );
        assert!(s
            .remove_edge(Edge::Mute, Id(1), Id(5), &unmute)
            .await
            .unwrap());
        let mutes = s
            .edges(Edge::Mute, Id(1), PageRequest::first(5))
            .await
            .unwrap();
        assert_eq!(mutes.users, [Id(6), Id(4)]);
    }

    /// A deleted account's blocks and mutes go, and others' of it, without an event; the
    /// edges of anyone else stay.
    async fn a_deleted_users_blocks_and_mutes_go_both_ways(g: &Graph) {
        let s = g.store.as_ref();
        let mute = |a: u64, b: u64| {
            event(
                900 + a * 10 + b,
                EventBody::MuteCreated {
                    muter: Id(a),
                    muted: Id(b),
                },
            )
        };
        assert!(s
            .block(Id(1), Id(2), 10, &block_events(1, 2))
            .await
            .unwrap());
        assert!(s
            .block(Id(3), Id(1), 11, &block_events(3, 1))
            .await
            .unwrap());
        assert!(s
            .block(Id(3), Id(2), 12, &block_events(3, 2))
            .await
            .unwrap());
        assert!(s.mute(Id(1), Id(4), 13, &mute(1, 4)).await.unwrap());
        assert!(s.mute(Id(4), Id(1), 14, &mute(4, 1)).await.unwrap());
        assert!(s.mute(Id(4), Id(2), 15, &mute(4, 2)).await.unwrap());
        let before = g.events().await.len();

        s.forget_edges_of(Id(1)).await.unwrap();
        s.forget_edges_of(Id(1)).await.unwrap();

        assert_eq!(g.events().await.len(), before, "no event of its own");
        assert!(s.hidden_from(Id(1)).await.unwrap().is_empty());
        for (user, blocked, muted) in [(3, vec![Id(2)], vec![]), (4, vec![], vec![Id(2)])] {
            let mut hidden = s.hidden_from(Id(user)).await.unwrap();
            hidden.blocked.sort();
            assert_eq!(
                (hidden.blocked, hidden.muted),
                (blocked, muted),
                "user {user}"
            );
        }
        let rel = s.relationships(Id(3), &[Id(1)]).await.unwrap();
        assert!(!rel[0].blocking && !rel[0].blocked_by);
        let mutes = s
            .edges(Edge::Mute, Id(4), PageRequest::first(5))
            .await
            .unwrap();
        assert_eq!(mutes.users, [Id(2)]);
    }

    async fn relationships_come_in_the_order_asked(g: &Graph) {
        let s = g.store.as_ref();
        graph(s).await; // 1, 2, 3 follow 9; 1 follows 8
        s.follow(Id(9), Id(2), 120, &ev(9, 2)).await.unwrap();
        s.mute(Id(9), Id(3), 121, &ev(9, 3)).await.unwrap();
        s.block(Id(4), Id(9), 122, &block_events(4, 9))
            .await
            .unwrap();
        s.block(Id(9), Id(5), 123, &block_events(9, 5))
            .await
            .unwrap();
        let pairs = [
            (Id(1), Id(9)),
            (Id(9), Id(1)),
            (Id(9), Id(2)),
            (Id(2), Id(9)),
            (Id(1), Id(8)),
        ];
        assert_eq!(
            s.follows_each(&pairs).await.unwrap(),
            [true, false, true, true, true]
        );
        assert!(s.follows_each(&[]).await.unwrap().is_empty());
        let asked = [Id(5), Id(1), Id(2), Id(4), Id(3), Id(77), Id(1)];
        let got = s.relationships(Id(9), &asked).await.unwrap();
        let r = |id: u64, f: [bool; 5]| Relationship {
            id: Id(id),
            following: f[0],
            followed_by: f[1],
            blocking: f[2],
            blocked_by: f[3],
            muting: f[4],
        };
        assert_eq!(
            got,
            [
                r(5, [false, false, true, false, false]),
                r(1, [false, true, false, false, false]),
                r(2, [true, true, false, false, false]),
                r(4, [false, false, false, true, false]),
                r(3, [false, true, false, false, true]),
                Relationship::none(Id(77)),
                r(1, [false, true, false, false, false]),
            ]
        );
    }

    /// A follow and a block of the same two users at the same moment: whichever commits
    /// first, no follow is left beside the block.
    async fn a_follow_racing_a_block_never_outlives_it(g: &Graph) {
        let mut races = tokio::task::JoinSet::new();
        for i in 0..60u64 {
            let s = g.store.clone();
            let (a, b) = (Id(1000 + i), Id(2000 + i));
            races.spawn(async move {
                let (follow, block) = (ev(b.get(), a.get()), block_events(a.get(), b.get()));
                let (followed, blocked) = tokio::join!(
                    s.follow(b, a, 10 + i, &follow),
                    s.block(a, b, 100 + i, &block),
                );
                assert!(blocked.unwrap());
                let followed = followed.unwrap();
                let rel = s.relationships(a, &[b]).await.unwrap();
                assert!(rel[0].blocking, "{rel:?}");
                assert!(
                    !rel[0].followed_by,
                    "a follow ({followed:?}) outlived the block"
                );
            });
        }
        while let Some(done) = races.join_next().await {
            done.unwrap();
        }
    }
}
