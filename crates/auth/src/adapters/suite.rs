//! The behaviour every adapter of AuthService's ports must have: each case a test of its
//! own, run against each adapter of the port (`identities::sqlite::<case>`, ...).

use std::sync::Arc;

use chirp_core::deployed::redis::Redis;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::Id;
use chirp_testkit::TestRedisPrefix;

use super::mongo::MongoIdentities;
use super::redis::RedisSessions;
use super::sqlite::SqliteAuthStore;
use crate::ports::{CreateError, Identity, IdentityStore, Rotation, SessionStore, TokenRef};

async fn sqlite_store() -> (tempfile::TempDir, Arc<SqliteAuthStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    (dir, Arc::new(SqliteAuthStore::new(db).await.unwrap()))
}

fn redis(urls: &str) -> (TestRedisPrefix, Redis) {
    let prefix = TestRedisPrefix::on(urls);
    let redis = Redis::new(&prefix.url, &prefix.prefix).unwrap();
    (prefix, redis)
}

mod identities {
    use super::*;

    async fn sqlite_identities() -> (tempfile::TempDir, Arc<dyn IdentityStore>) {
        let (dir, store) = sqlite_store().await;
        (dir, store)
    }

    async fn mongodb_identities() -> ((), Arc<dyn IdentityStore>) {
        let url = format!(
            "{}/{}",
            chirp_testkit::mongodb_url().trim_end_matches('/'),
            chirp_testkit::unique("test")
        );
        ((), Arc::new(MongoIdentities::connect(&url).await.unwrap()))
    }

    chirp_testkit::port_suite! {
        cases: [
            handles_and_emails_are_unique_ignoring_case,
            an_identity_is_found_by_handle_or_email,
            a_removed_identity_frees_its_handle_and_email,
        ],
        adapters: { sqlite => sqlite_identities, mongodb => mongodb_identities },
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

    async fn handles_and_emails_are_unique_ignoring_case(s: &dyn IdentityStore) {
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
        s.ping().await.unwrap();
    }

    async fn an_identity_is_found_by_handle_or_email(s: &dyn IdentityStore) {
        s.insert(&identity(1, "Alice", "Alice@Example.com"))
            .await
            .unwrap();
        for login in ["alice", "ALICE", "alice@example.com"] {
            let found = s.find_by_login(login).await.unwrap().expect("found");
            assert_eq!(
                (found.id, found.handle.as_str(), found.email.as_str()),
                (Id(1), "Alice", "Alice@Example.com")
            );
        }
        assert!(s.find_by_login("bob").await.unwrap().is_none());
    }

    async fn a_removed_identity_frees_its_handle_and_email(s: &dyn IdentityStore) {
        s.insert(&identity(1, "Alice", "Alice@Example.com"))
            .await
            .unwrap();
        s.remove(Id(1)).await.unwrap();
        assert!(s.find_by_login("alice").await.unwrap().is_none());
        s.insert(&identity(4, "alice", "alice@example.com"))
            .await
            .unwrap();
    }
}

mod sessions {
    use super::*;

    async fn sqlite_sessions() -> (tempfile::TempDir, Arc<dyn SessionStore>) {
        let (dir, store) = sqlite_store().await;
        (dir, store)
    }

    async fn redis_sessions() -> (TestRedisPrefix, Arc<dyn SessionStore>) {
        let (prefix, redis) = redis(&chirp_testkit::redis_url());
        (prefix, Arc::new(RedisSessions::new(redis)))
    }

    async fn redis_cluster_sessions() -> (TestRedisPrefix, Arc<dyn SessionStore>) {
        let (prefix, redis) = redis(&chirp_testkit::redis_cluster_urls());
        (prefix, Arc::new(RedisSessions::new(redis)))
    }

    chirp_testkit::port_suite! {
        cases: [
            a_started_session_knows_only_its_own_tokens,
            a_rotation_spends_the_token_and_a_replay_is_seen,
            a_revoked_or_expired_session_rotates_nothing,
            a_rotation_into_another_session_is_refused,
        ],
        adapters: {
            sqlite => sqlite_sessions,
            redis => redis_sessions,
            redis_cluster => redis_cluster_sessions,
        },
    }

    fn token(session: u64, n: u8) -> TokenRef {
        TokenRef {
            session: Id(session),
            hash: [n; 32],
        }
    }

    // Real times: the Redis adapter lets keys expire with their tokens.
    const HOUR: i64 = 3_600_000;
    const USER: Id = Id(42);

    async fn a_started_session_knows_only_its_own_tokens(s: &dyn SessionStore) {
        let now = chirp_core::time::now_ms();
        let t1 = token(100, 1);
        s.start(USER, &t1, now + HOUR).await.unwrap();
        assert!(s.knows(&t1).await.unwrap());
        assert!(!s.knows(&token(100, 9)).await.unwrap());
        assert!(
            !s.knows(&token(101, 1)).await.unwrap(),
            "a token belongs to its session"
        );
    }

    async fn a_rotation_spends_the_token_and_a_replay_is_seen(s: &dyn SessionStore) {
        let now = chirp_core::time::now_ms();
        let (t1, t2) = (token(100, 1), token(100, 2));
        s.start(USER, &t1, now + HOUR).await.unwrap();
        assert_eq!(
            s.rotate(&t1, &t2, now, now + 2 * HOUR).await.unwrap(),
            Rotation::Rotated {
                user: USER,
                session: Id(100)
            }
        );
        // The spent token is a replay now; the current one still works until revoked.
        assert_eq!(
            s.rotate(&t1, &token(100, 3), now, now + 2 * HOUR)
                .await
                .unwrap(),
            Rotation::Reused { session: Id(100) }
        );
        assert!(s.knows(&t1).await.unwrap() && s.knows(&t2).await.unwrap());
    }

    async fn a_revoked_or_expired_session_rotates_nothing(s: &dyn SessionStore) {
        let now = chirp_core::time::now_ms();
        let t2 = token(100, 2);
        s.start(USER, &t2, now + HOUR).await.unwrap();
        s.revoke(Id(100)).await.unwrap();
        let again = s.rotate(&t2, &token(100, 4), now, now + 2 * HOUR).await;
        assert_eq!(again.unwrap(), Rotation::Invalid);
        let unknown = s
            .rotate(&token(100, 7), &token(100, 8), now, now + HOUR)
            .await;
        assert_eq!(unknown.unwrap(), Rotation::Invalid);
        // Expired tokens are invalid; other sessions are unaffected by a revocation.
        let t5 = token(200, 5);
        s.start(USER, &t5, now + HOUR).await.unwrap();
        let late = s
            .rotate(&t5, &token(200, 6), now + HOUR + 1, now + 2 * HOUR)
            .await;
        assert_eq!(late.unwrap(), Rotation::Invalid);
        let t7 = token(300, 7);
        s.start(USER, &t7, now + HOUR).await.unwrap();
        let other = s.rotate(&t7, &token(300, 8), now, now + HOUR).await;
        assert!(matches!(other.unwrap(), Rotation::Rotated { .. }));
    }

    async fn a_rotation_into_another_session_is_refused(s: &dyn SessionStore) {
        let now = chirp_core::time::now_ms();
        let t8 = token(300, 8);
        s.start(USER, &t8, now + HOUR).await.unwrap();
        let crossed = s.rotate(&t8, &token(301, 9), now, now + HOUR).await;
        assert_eq!(crossed.unwrap(), Rotation::Invalid);
        assert!(!s.knows(&token(301, 9)).await.unwrap());
    }
}

mod profiles {
    use chirp_core::deployed::postgres::{PgDb, PgOutbox};
    use chirp_core::embedded::outbox::SqliteOutbox;
    use chirp_core::events::{Event, EventBody, EventStamp};
    use chirp_core::outbox::OutboxSource;

    use super::*;
    use crate::adapters::postgres::{PgProfileStore, OUTBOX as PG_OUTBOX};
    use crate::ports::{ProfileChange, ProfileStore, PublicProfile};

    /// A profile store and the outbox its events go to.
    struct Profiles {
        store: Arc<dyn ProfileStore>,
        outbox: Arc<dyn OutboxSource>,
    }

    async fn sqlite_profiles() -> (tempfile::TempDir, Arc<Profiles>) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
        let store = Arc::new(SqliteAuthStore::new(db.clone()).await.unwrap());
        let outbox = Arc::new(SqliteOutbox::new(db, super::super::sqlite::OUTBOX));
        (dir, Arc::new(Profiles { store, outbox }))
    }

    async fn postgres_profiles() -> (chirp_testkit::TestDatabase, Arc<Profiles>) {
        let pg = chirp_testkit::postgres().await;
        let db = PgDb::connect_lazy(&pg.url).unwrap();
        db.migrate(&crate::SCHEMA).await.unwrap();
        db.mark_schema_ready();
        let profiles = Profiles {
            store: Arc::new(PgProfileStore::new(db.clone())),
            outbox: Arc::new(PgOutbox::new(db, PG_OUTBOX)),
        };
        (pg, Arc::new(profiles))
    }

    chirp_testkit::port_suite! {
        cases: [
            a_change_is_a_new_version_with_its_event,
            a_change_that_changes_nothing_writes_nothing,
        ],
        adapters: { sqlite => sqlite_profiles, postgres => postgres_profiles },
    }

    const ADA: Id = Id(5);

    fn stamp(id: u64) -> EventStamp {
        EventStamp {
            id: Id(id),
            occurred_at_ms: 2_000,
            trace: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        }
    }

    impl Profiles {
        async fn create(&self) {
            let profile = PublicProfile {
                id: ADA,
                handle: "Ada".into(),
                display_name: "Ada".into(),
                bio: String::new(),
                created_at_ms: 1_000,
            };
            let event = stamp(1).event(
                1,
                EventBody::UserCreated {
                    user_id: ADA,
                    handle: "Ada".into(),
                    display_name: "Ada".into(),
                    created_at_ms: 1_000,
                },
            );
            self.store.create(&profile, &event).await.unwrap();
        }

        async fn events(&self) -> Vec<Event> {
            let pending = self.outbox.pending(100).await.unwrap();
            pending.into_iter().map(|p| p.event).collect()
        }
    }

    async fn a_change_is_a_new_version_with_its_event(p: &Profiles) {
        p.create().await;
        let change = ProfileChange {
            display_name: None,
            bio: Some("Engines.".into()),
        };
        let changed = p.store.update(ADA, &change, &stamp(2)).await.unwrap();
        let changed = changed.expect("Ada's profile");
        assert_eq!(
            (changed.display_name.as_str(), changed.bio.as_str()),
            ("Ada", "Engines.")
        );
        let rename = ProfileChange {
            display_name: Some("Ada L.".into()),
            bio: None,
        };
        p.store.update(ADA, &rename, &stamp(3)).await.unwrap();
        let events = p.events().await;
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[1], stamp(2).event(2, changed.updated()));
        assert_eq!(
            (events[2].version, &events[2].body),
            (
                3,
                &EventBody::UserUpdated {
                    user_id: ADA,
                    handle: "Ada".into(),
                    display_name: "Ada L.".into(),
                    bio: "Engines.".into(),
                }
            )
        );
    }

    async fn a_change_that_changes_nothing_writes_nothing(p: &Profiles) {
        p.create().await;
        let same = ProfileChange {
            display_name: Some("Ada".into()),
            bio: Some(String::new()),
        };
        for change in [same, ProfileChange::default()] {
            let now = p.store.update(ADA, &change, &stamp(2)).await.unwrap();
            assert_eq!(now.map(|p| p.display_name), Some("Ada".into()));
        }
        assert_eq!(p.events().await.len(), 1, "only the signup's event");
        assert!(p
            .store
            .update(Id(6), &ProfileChange::default(), &stamp(3))
            .await
            .unwrap()
            .is_none());
    }
}

mod oauth {
    use super::*;
    use crate::adapters::postgres::PgOAuthStore;
    use crate::oauth::{AuthCode, OAuthApp, OAuthStore, OAuthToken, Scopes};
    use chirp_core::deployed::postgres::PgDb;

    async fn sqlite_oauth() -> (tempfile::TempDir, Arc<dyn OAuthStore>) {
        let (dir, store) = sqlite_store().await;
        (dir, store)
    }

    async fn postgres_oauth() -> (chirp_testkit::TestDatabase, Arc<dyn OAuthStore>) {
        let pg = chirp_testkit::postgres().await;
        let db = PgDb::connect_lazy(&pg.url).unwrap();
        db.migrate(&crate::SCHEMA).await.unwrap();
        db.mark_schema_ready();
        (pg, Arc::new(PgOAuthStore::new(db)))
    }

    chirp_testkit::port_suite! {
        cases: [
            an_app_is_found_by_client_id_and_by_id,
            a_code_is_taken_once,
            a_token_is_found_by_its_access_hash_and_revoked_by_either_hash,
            a_refresh_replaces_the_token_keeping_user_and_scopes,
            a_users_tokens_are_revoked_together,
        ],
        adapters: { sqlite => sqlite_oauth, postgres => postgres_oauth },
    }

    fn app(id: u64, client_id: &str) -> OAuthApp {
        OAuthApp {
            id: Id(id),
            client_id: client_id.into(),
            secret_hash: [id as u8; 32],
            name: "Tusky".into(),
            website: Some("https://tusky.app".into()),
            redirect_uris: vec!["tusky://oauth".into(), "urn:ietf:wg:oauth:2.0:oob".into()],
            scopes: Scopes::parse("read write follow").unwrap(),
            created_at_ms: 5,
        }
    }

    fn token(id: u64, user: Option<u64>, access: u8, refresh: Option<u8>) -> OAuthToken {
        OAuthToken {
            id: Id(id),
            access_hash: [access; 32],
            refresh_hash: refresh.map(|r| [r; 32]),
            app: Id(1),
            user: user.map(Id),
            scopes: Scopes::parse("read write:statuses").unwrap(),
            created_at_ms: 7,
        }
    }

    async fn an_app_is_found_by_client_id_and_by_id(s: &dyn OAuthStore) {
        s.create_app(&app(1, "client-one")).await.unwrap();
        let found = s.app("client-one").await.unwrap().expect("found");
        assert_eq!(
            (found.id, found.name.as_str(), found.secret_hash),
            (Id(1), "Tusky", [1; 32])
        );
        assert_eq!(found.redirect_uris, app(1, "x").redirect_uris);
        assert_eq!(found.scopes.to_string(), "follow read write");
        assert_eq!(found.website.as_deref(), Some("https://tusky.app"));
        assert_eq!(
            s.app_by_id(Id(1)).await.unwrap().unwrap().client_id,
            "client-one"
        );
        assert!(s.app("client-two").await.unwrap().is_none());
        assert!(s.app_by_id(Id(2)).await.unwrap().is_none());
    }

    async fn a_code_is_taken_once(s: &dyn OAuthStore) {
        let code = AuthCode {
            hash: [9; 32],
            app: Id(1),
            user: Id(42),
            redirect_uri: "tusky://oauth".into(),
            scopes: Scopes::parse("read").unwrap(),
            challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            expires_at_ms: i64::MAX,
        };
        s.save_code(&code).await.unwrap();
        let taken = s.take_code(&[9; 32]).await.unwrap().expect("taken");
        assert_eq!(
            (
                taken.app,
                taken.user,
                taken.redirect_uri.as_str(),
                taken.challenge
            ),
            (Id(1), Id(42), "tusky://oauth", code.challenge.clone())
        );
        assert!(s.take_code(&[9; 32]).await.unwrap().is_none());
        assert!(s.take_code(&[8; 32]).await.unwrap().is_none());
    }

    async fn a_token_is_found_by_its_access_hash_and_revoked_by_either_hash(s: &dyn OAuthStore) {
        s.save_token(&token(10, Some(42), 1, Some(2)))
            .await
            .unwrap();
        s.save_token(&token(11, None, 3, None)).await.unwrap();
        let found = s.token(&[1; 32]).await.unwrap().expect("found");
        assert_eq!(
            (found.id, found.user, found.refresh_hash),
            (Id(10), Some(Id(42)), Some([2; 32]))
        );
        assert_eq!(found.scopes.to_string(), "read write:statuses");
        assert_eq!(s.token(&[3; 32]).await.unwrap().unwrap().user, None);
        // Another app cannot revoke it.
        s.revoke(Id(2), &[1; 32]).await.unwrap();
        assert!(s.token(&[1; 32]).await.unwrap().is_some());
        // By its refresh token's hash, as by its access token's.
        s.revoke(Id(1), &[2; 32]).await.unwrap();
        assert!(s.token(&[1; 32]).await.unwrap().is_none());
        s.revoke(Id(1), &[3; 32]).await.unwrap();
        assert!(s.token(&[3; 32]).await.unwrap().is_none());
    }

    async fn a_refresh_replaces_the_token_keeping_user_and_scopes(s: &dyn OAuthStore) {
        s.save_token(&token(10, Some(42), 1, Some(2)))
            .await
            .unwrap();
        let mut next = token(12, None, 4, Some(5));
        next.scopes = Scopes::default();
        let old = s
            .refresh(Id(1), &[2; 32], &next)
            .await
            .unwrap()
            .expect("old");
        assert_eq!(old.id, Id(10));
        assert!(s.token(&[1; 32]).await.unwrap().is_none());
        let new = s.token(&[4; 32]).await.unwrap().expect("new");
        assert_eq!((new.id, new.user), (Id(12), Some(Id(42))));
        assert_eq!(new.scopes.to_string(), "read write:statuses");
        // Spent: the old refresh token refreshes nothing, and saves nothing.
        let again = token(13, None, 6, Some(7));
        assert!(s.refresh(Id(1), &[2; 32], &again).await.unwrap().is_none());
        assert!(s.token(&[6; 32]).await.unwrap().is_none());
        // Another app's refresh token is not this app's.
        assert!(s.refresh(Id(2), &[5; 32], &again).await.unwrap().is_none());
    }

    async fn a_users_tokens_are_revoked_together(s: &dyn OAuthStore) {
        s.save_token(&token(10, Some(42), 1, Some(2)))
            .await
            .unwrap();
        s.save_token(&token(11, Some(42), 3, None)).await.unwrap();
        s.save_token(&token(12, Some(43), 4, None)).await.unwrap();
        s.revoke_user(Id(42)).await.unwrap();
        assert!(s.token(&[1; 32]).await.unwrap().is_none());
        assert!(s.token(&[3; 32]).await.unwrap().is_none());
        assert!(s.token(&[4; 32]).await.unwrap().is_some());
    }
}
