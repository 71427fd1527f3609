//! The behaviour every [`SessionStore`] and [`LoginThrottle`] adapter must have, as one
//! suite run against each.

use chirp_core::deployed::redis::Redis;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::Id;

use super::memory::MemoryThrottle;
use super::redis::{RedisSessions, RedisThrottle};
use super::sqlite::SqliteAuthStore;
use crate::ports::{
    CreateError, Identity, IdentityStore, LoginThrottle, Rotation, SessionStore, TokenRef,
};

fn token(session: u64, n: u8) -> TokenRef {
    TokenRef {
        session: Id(session),
        hash: [n; 32],
    }
}

async fn sessions_suite(s: &dyn SessionStore) {
    // Real times: the Redis adapter lets keys expire with their tokens.
    let now = chirp_core::time::now_ms();
    let hour = 3_600_000;
    let user = Id(42);
    let t1 = token(100, 1);
    s.start(user, &t1, now + hour).await.unwrap();
    assert!(s.knows(&t1).await.unwrap());
    assert!(!s.knows(&token(100, 9)).await.unwrap());
    assert!(
        !s.knows(&token(101, 1)).await.unwrap(),
        "a token belongs to its session"
    );

    let t2 = token(100, 2);
    assert_eq!(
        s.rotate(&t1, &t2, now, now + 2 * hour).await.unwrap(),
        Rotation::Rotated {
            user,
            session: Id(100)
        }
    );
    // The spent token is a replay now; the current one still works until revoked.
    assert_eq!(
        s.rotate(&t1, &token(100, 3), now, now + 2 * hour)
            .await
            .unwrap(),
        Rotation::Reused { session: Id(100) }
    );
    s.revoke(Id(100)).await.unwrap();
    assert_eq!(
        s.rotate(&t2, &token(100, 4), now, now + 2 * hour)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert_eq!(
        s.rotate(&token(100, 7), &token(100, 8), now, now + hour)
            .await
            .unwrap(),
        Rotation::Invalid
    );

    // Expired tokens are invalid; other sessions are unaffected by a revocation.
    let t5 = token(200, 5);
    s.start(user, &t5, now + hour).await.unwrap();
    assert_eq!(
        s.rotate(&t5, &token(200, 6), now + hour + 1, now + 2 * hour)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    let t7 = token(300, 7);
    s.start(user, &t7, now + hour).await.unwrap();
    assert!(matches!(
        s.rotate(&t7, &token(300, 8), now, now + hour)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    // A rotation into another session is refused.
    assert_eq!(
        s.rotate(&token(300, 8), &token(301, 9), now, now + hour)
            .await
            .unwrap(),
        Rotation::Invalid
    );
}

async fn throttle_suite(t: &dyn LoginThrottle) {
    assert_eq!(t.failures("a", 0).await.unwrap(), (0, None));
    for at in [100, 200, 300] {
        t.record_failure("a", at, 1_000).await.unwrap();
    }
    assert_eq!(t.failures("a", 0).await.unwrap(), (3, Some(100)));
    assert_eq!(t.failures("a", 150).await.unwrap(), (2, Some(200)));
    assert_eq!(t.failures("b", 0).await.unwrap(), (0, None));
    // Old failures leave the window as new ones arrive.
    t.record_failure("a", 1_250, 1_000).await.unwrap();
    assert_eq!(t.failures("a", 0).await.unwrap(), (2, Some(300)));
    t.clear("a").await.unwrap();
    assert_eq!(t.failures("a", 0).await.unwrap(), (0, None));
}

fn identity(id: u64, handle: &str, email: &str) -> Identity {
    Identity {
        id: Id(id),
        handle: handle.into(),
        email: email.into(),
        display_name: handle.into(),
        password_hash: "$argon2id$...".into(),
        created_at_ms: 1,
    }
}

async fn identities_suite(s: &dyn IdentityStore) {
    s.insert(&identity(1, "Alice", "Alice@Example.com"))
        .await
        .unwrap();
    assert!(matches!(
        s.insert(&identity(2, "ALICE", "other@example.com")).await,
        Err(CreateError::HandleTaken)
    ));
    assert!(matches!(
        s.insert(&identity(3, "alice2", "alice@EXAMPLE.com")).await,
        Err(CreateError::EmailTaken)
    ));
    for login in ["alice", "ALICE", "alice@example.com"] {
        let found = s.find_by_login(login).await.unwrap().expect("found");
        assert_eq!(
            (found.id, found.handle.as_str(), found.email.as_str()),
            (Id(1), "Alice", "Alice@Example.com")
        );
    }
    assert!(s.find_by_login("bob").await.unwrap().is_none());
    // A removed identity frees its handle and email.
    s.remove(Id(1)).await.unwrap();
    assert!(s.find_by_login("alice").await.unwrap().is_none());
    s.insert(&identity(4, "alice", "alice@example.com"))
        .await
        .unwrap();
    s.ping().await.unwrap();
}

#[tokio::test]
async fn mongodb_passes_the_identities_suite() {
    let url = format!(
        "{}/{}",
        chirp_testkit::mongodb_url().trim_end_matches('/'),
        chirp_testkit::unique("test")
    );
    identities_suite(&super::mongo::MongoIdentities::connect(&url).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_and_memory_pass_the_suites() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    let store = SqliteAuthStore::new(db).await.unwrap();
    sessions_suite(&store).await;
    identities_suite(&store).await;
    throttle_suite(&MemoryThrottle::default()).await;
}

async fn redis_suites(urls: &str) {
    let redis = Redis::new(urls, &format!("{}:", chirp_testkit::unique("test"))).unwrap();
    sessions_suite(&RedisSessions::new(redis.clone())).await;
    throttle_suite(&RedisThrottle::new(redis.clone())).await;
    redis.delete_prefix().await.unwrap();
}

#[tokio::test]
async fn redis_passes_the_suites() {
    redis_suites(&chirp_testkit::redis_url()).await;
}

#[tokio::test]
async fn redis_cluster_passes_the_suites() {
    redis_suites(&chirp_testkit::redis_cluster_urls()).await;
}
