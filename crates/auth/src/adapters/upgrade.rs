//! A database made by the release before bios (migrations up to 1002) opens with this
//! build's stores and works: its profiles read with an empty bio at version 1, and change.

use std::sync::Arc;

use chirp_core::deployed::postgres::PgDb;
use chirp_core::embedded::sqlite::SqliteDb;
use chirp_core::events::{EventBody, EventStamp};
use chirp_core::Id;

use super::postgres::PgProfileStore;
use super::sqlite::SqliteAuthStore;
use crate::ports::{ProfileChange, ProfileStore};

/// The first migration this build adds.
const FIRST_NEW: i64 = 1003;

const PROFILE: &str = "INSERT INTO profiles (id, handle, handle_key, display_name, created_at)
     VALUES (5, 'Ada', 'ada', 'Ada', 1000)";

/// Changes the old profile through `store` and checks what it became.
async fn the_old_profile_changes(store: &dyn ProfileStore) {
    let change = ProfileChange {
        display_name: None,
        bio: Some("Engines.".into()),
    };
    let stamp = EventStamp {
        id: Id(9),
        occurred_at_ms: 2_000,
        trace: None,
    };
    let changed = store.update(Id(5), &change, &stamp).await.unwrap();
    let changed = changed.expect("the profile made before the upgrade");
    assert_eq!(
        changed.updated(),
        EventBody::UserUpdated {
            user_id: Id(5),
            handle: "Ada".into(),
            display_name: "Ada".into(),
            bio: "Engines.".into(),
        }
    );
}

#[tokio::test]
async fn a_sqlite_database_of_the_release_before_opens_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
    let old = chirp_testkit::migrations_before(crate::SCHEMA.sqlite.unwrap(), FIRST_NEW);
    assert!(!old.is_empty() && old.len() < crate::SCHEMA.sqlite_steps().len());
    db.migrate(crate::SCHEMA.owner, old).await.unwrap();
    db.write(|c| c.execute_batch(PROFILE).map_err(Into::into))
        .await
        .unwrap();
    let store = Arc::new(SqliteAuthStore::new(db.clone()).await.unwrap());
    let (bio, version): (String, i64) = db
        .read(|c| {
            c.query_row("SELECT bio, version FROM profiles WHERE id = 5", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .unwrap();
    assert_eq!((bio.as_str(), version), ("", 1));
    the_old_profile_changes(&*store).await;
}

#[tokio::test]
async fn a_postgres_database_of_the_release_before_opens_and_works() {
    let pg = chirp_testkit::postgres().await;
    let all = crate::SCHEMA.postgres.unwrap();
    chirp_testkit::postgres_migrated_before(&pg.url, all, FIRST_NEW).await;
    let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
    sqlx::query(PROFILE).execute(&pool).await.unwrap();
    pool.close().await;

    let db = PgDb::connect_lazy(&pg.url).unwrap();
    db.migrate(&crate::SCHEMA).await.unwrap();
    db.mark_schema_ready();
    let (bio, version): (String, i64) =
        sqlx::query_as("SELECT bio, version FROM profiles WHERE id = 5")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((bio.as_str(), version), ("", 1));
    the_old_profile_changes(&PgProfileStore::new(db)).await;
}
