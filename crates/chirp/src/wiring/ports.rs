//! One builder per port: the adapter the configured URL names (timed into the dependency
//! metrics), or the embedded default. This is the one place a backend is chosen.

use std::sync::Arc;

use chirp_auth::adapters::mongo::MongoIdentities;
use chirp_auth::adapters::postgres::{PgOAuthStore, PgProfileStore};
use chirp_auth::adapters::redis::RedisSessions;
use chirp_auth::adapters::sqlite::SqliteAuthStore;
use chirp_auth::oauth::OAuthStore;
use chirp_auth::ports::{IdentityStore, ProfileStore, SessionStore};
use chirp_core::deployed::postgres::PgOutbox;
use chirp_core::deployed::redis::Redis;
use chirp_core::deployed::redis_limiter::RedisLimiter;
use chirp_core::embedded::cache::PostCaches;
use chirp_core::embedded::outbox::SqliteOutbox;
use chirp_core::limits::{Limiter, MemoryLimiter};
use chirp_core::outbox::OutboxSource;
use chirp_core::timed::Timed;
use chirp_core::token::{MemoryRevocations, RedisRevocations, Revocations};
use chirp_graph::adapters::postgres::PgFollowStore;
use chirp_graph::adapters::redis::RedisGraphCache;
use chirp_graph::adapters::sqlite::SqliteFollowStore;
use chirp_graph::ports::FollowStore;
use chirp_notify::adapters::postgres::PgNotifications;
use chirp_notify::adapters::sqlite::SqliteNotifications;
use chirp_notify::bus::{Bus, Local, RedisBus};
use chirp_notify::live::Live;
use chirp_notify::ports::NotificationStore;
use chirp_read::adapters::postgres::PgReadStore;
use chirp_read::adapters::sqlite::SqliteReadStore;
use chirp_read::ports::ReadStore;
use chirp_search::adapters::elasticsearch::ElasticIndex;
use chirp_search::adapters::tantivy::TantivyIndex;
use chirp_search::ports::SearchIndex;
use chirp_timeline::adapters::memory::MemoryTimelines;
use chirp_timeline::adapters::postgres::PgPostsSource;
use chirp_timeline::adapters::redis::RedisTimelines;
use chirp_timeline::adapters::sqlite::SqlitePostsSource;
use chirp_timeline::ports::{PostsSource, TimelineStore};
use chirp_write::adapters::postgres::PgPostStore;
use chirp_write::adapters::sqlite::SqlitePostStore;
use chirp_write::ports::PostStore;

use super::backends::Backends;
use crate::config::Command;

/// `$adapter`, a `$port` on `$dependency`, timed into the process's dependency metrics.
macro_rules! timed {
    ($port:ty, $adapter:expr, $dependency:literal, $backends:expr) => {{
        let adapter: Arc<$port> = Arc::new($adapter);
        Arc::new(Timed::<$port>::new(adapter, $dependency, &$backends.calls)) as Arc<$port>
    }};
}

/// A home-timeline store, and the in-process one itself when that is the store (its size
/// is reported).
pub struct TimelineStores {
    pub store: Arc<dyn TimelineStore>,
    pub memory: Option<Arc<MemoryTimelines>>,
}

impl Backends<'_> {
    fn post_caches(&mut self) -> PostCaches {
        self.post_caches
            .get_or_insert_with(PostCaches::default)
            .clone()
    }

    /// Identities, profiles and sessions on SQLite share one store.
    async fn sqlite_auth(&mut self) -> anyhow::Result<Arc<SqliteAuthStore>> {
        if let Some(store) = &self.sqlite_auth {
            return Ok(store.clone());
        }
        let db = self.sqlite(&[]).await?;
        let store = SqliteAuthStore::new(db).await?;
        let store = Arc::new(if self.owns_sqlite() {
            store.forgetting_in(self.post_caches())
        } else {
            store
        });
        self.sqlite_auth = Some(store.clone());
        Ok(store)
    }

    pub async fn post_store(&mut self) -> anyhow::Result<Arc<dyn PostStore>> {
        if let Some(url) = &self.settings.database_url {
            let pg = self.postgres(url, &[&chirp_auth::SCHEMA, &chirp_write::SCHEMA])?;
            return Ok(timed!(
                dyn PostStore,
                PgPostStore::new(pg),
                "postgres",
                self
            ));
        }
        // Posts are written with their author's profile read in the same transaction.
        let db = self.sqlite(&[&chirp_auth::SCHEMA]).await?;
        let store = SqlitePostStore::new(db).await?;
        Ok(if self.owns_sqlite() {
            Arc::new(store.forgetting_in(self.post_caches()))
        } else {
            Arc::new(store)
        })
    }

    /// The follow graph's store, and its cache in Redis when there is one: PostgreSQL
    /// with its hot reads kept in Redis (deployed), or SQLite (with its copy in memory in
    /// `chirp all`).
    pub async fn follow_store(
        &mut self,
    ) -> anyhow::Result<(Arc<dyn FollowStore>, Option<Arc<RedisGraphCache>>)> {
        if let Some(url) = &self.settings.database_url {
            let pg = self.postgres(url, &[&chirp_graph::SCHEMA])?;
            let record = timed!(dyn FollowStore, PgFollowStore::new(pg), "postgres", self);
            if let Some(urls) = &self.settings.redis_url {
                let redis = self.redis(urls)?;
                let threshold = self.settings.celebrity_threshold;
                let cache =
                    RedisGraphCache::new(record, redis, threshold).timed(self.calls.clone());
                let cache = Arc::new(cache);
                return Ok((cache.clone(), Some(cache)));
            }
            return Ok((record, None));
        }
        let db = self.sqlite(&[]).await?;
        let store: Arc<dyn FollowStore> = if self.owns_sqlite() {
            Arc::new(SqliteFollowStore::mirrored(db).await?)
        } else {
            Arc::new(SqliteFollowStore::new(db).await?)
        };
        Ok((store, None))
    }

    pub async fn identity_store(&mut self) -> anyhow::Result<Arc<dyn IdentityStore>> {
        if let Some(url) = &self.settings.mongodb_url {
            let mongo = MongoIdentities::connect(url).await?;
            return Ok(timed!(dyn IdentityStore, mongo, "mongodb", self));
        }
        Ok(self.sqlite_auth().await?)
    }

    pub async fn profile_store(&mut self) -> anyhow::Result<Arc<dyn ProfileStore>> {
        if let Some(url) = &self.settings.database_url {
            let pg = self.postgres(url, &[&chirp_auth::SCHEMA])?;
            return Ok(timed!(
                dyn ProfileStore,
                PgProfileStore::new(pg),
                "postgres",
                self
            ));
        }
        Ok(self.sqlite_auth().await?)
    }

    /// OAuth apps and tokens (the Mastodon API's): on PostgreSQL when deployed, durable
    /// like the accounts they sign in to.
    pub async fn oauth_store(&mut self) -> anyhow::Result<Arc<dyn OAuthStore>> {
        if let Some(url) = &self.settings.database_url {
            let pg = self.postgres(url, &[&chirp_auth::SCHEMA])?;
            return Ok(timed!(
                dyn OAuthStore,
                PgOAuthStore::new(pg),
                "postgres",
                self
            ));
        }
        Ok(self.sqlite_auth().await?)
    }

    pub async fn session_store(&mut self) -> anyhow::Result<Arc<dyn SessionStore>> {
        if let Some(urls) = &self.settings.redis_url {
            let redis = self.redis(urls)?;
            return Ok(timed!(
                dyn SessionStore,
                RedisSessions::new(redis),
                "redis",
                self
            ));
        }
        Ok(self.sqlite_auth().await?)
    }

    /// The counts of every limit (logins, signups, requests, writes): in Redis, so that
    /// every process of every service counts the same attempts; or in process memory, one
    /// for all services. On a Redis client of its own, which `/readyz` does not check: a
    /// limit that cannot be counted limits nothing, except logins and signups (503).
    pub fn limiter(&mut self) -> anyhow::Result<Arc<dyn Limiter>> {
        if let Some(limiter) = &self.limiter {
            return Ok(limiter.clone());
        }
        let limiter = match &self.settings.redis_url {
            Some(urls) => {
                let redis = Redis::new(urls, &self.settings.redis_prefix)?;
                timed!(dyn Limiter, RedisLimiter::new(redis), "redis", self)
            }
            None => Arc::new(MemoryLimiter::default()) as Arc<dyn Limiter>,
        };
        self.limiter = Some(limiter.clone());
        Ok(limiter)
    }

    /// The accounts whose access tokens stopped counting: in Redis, which every process
    /// asks, or in this process's memory (`chirp all`, where every service shares it).
    pub fn revocations(&mut self) -> anyhow::Result<Arc<dyn Revocations>> {
        if let Some(r) = &self.revocations {
            return Ok(r.clone());
        }
        let r = match &self.settings.redis_url {
            Some(urls) => {
                let redis = self.redis(urls)?;
                timed!(dyn Revocations, RedisRevocations::new(redis), "redis", self)
            }
            None => Arc::new(MemoryRevocations::default()) as Arc<dyn Revocations>,
        };
        self.revocations = Some(r.clone());
        Ok(r)
    }

    pub async fn read_store(&mut self) -> anyhow::Result<Arc<dyn ReadStore>> {
        // Reads join the posts (WriteService's tables) with the profiles (AuthService's).
        let schemas = [&chirp_auth::SCHEMA, &chirp_write::SCHEMA];
        if let Some(url) = &self.settings.database_url {
            let pg = self.postgres(url, &schemas)?;
            return Ok(timed!(
                dyn ReadStore,
                PgReadStore { db: pg },
                "postgres",
                self
            ));
        }
        let db = self.sqlite(&schemas).await?;
        Ok(if self.owns_sqlite() {
            Arc::new(SqliteReadStore::cached(db, self.post_caches()))
        } else {
            Arc::new(SqliteReadStore::new(db))
        })
    }

    pub async fn posts_source(&mut self) -> anyhow::Result<Arc<dyn PostsSource>> {
        if let Some(url) = &self.settings.database_url {
            let pg = self.postgres(url, &[&chirp_write::SCHEMA])?;
            return Ok(timed!(
                dyn PostsSource,
                PgPostsSource { db: pg },
                "postgres",
                self
            ));
        }
        let db = self.sqlite(&[&chirp_write::SCHEMA]).await?;
        Ok(Arc::new(SqlitePostsSource { db }))
    }

    pub fn timeline_store(&mut self) -> anyhow::Result<TimelineStores> {
        if let Some(urls) = &self.settings.redis_url {
            let redis = self.redis(urls)?;
            let idle = self.settings.timeline_idle_secs;
            let idle = (idle > 0).then(|| std::time::Duration::from_secs(idle));
            let (checked, cap) = (redis.clone(), self.settings.timeline_cap);
            tokio::spawn(async move {
                chirp_timeline::adapters::redis::check_encoding(&checked, cap).await
            });
            let store = timed!(
                dyn TimelineStore,
                RedisTimelines::new(redis, idle),
                "redis",
                self
            );
            return Ok(TimelineStores {
                store,
                memory: None,
            });
        }
        let memory = Arc::new(MemoryTimelines::default());
        Ok(TimelineStores {
            store: memory.clone(),
            memory: Some(memory),
        })
    }

    pub fn search_index(&mut self) -> anyhow::Result<Arc<dyn SearchIndex>> {
        let s = self.settings;
        if let Some(url) = &s.elasticsearch_url {
            let index = ElasticIndex::new(url, &s.elasticsearch_index_prefix)?;
            return Ok(timed!(dyn SearchIndex, index, "elasticsearch", self));
        }
        Ok(Arc::new(TantivyIndex::open(&self.data.file("search")?)?))
    }

    /// Where NotificationService's processes hear of the notifications stored: Redis
    /// pub/sub when there is a Redis, else this process alone (see `chirp_notify::bus`).
    pub fn notification_bus(&mut self, live: &Arc<Live>) -> anyhow::Result<NotificationBus> {
        if let Some(urls) = &self.settings.redis_url {
            let bus = Arc::new(RedisBus::new(self.redis(urls)?));
            // No notification stream until it is subscribed.
            live.set_notifications_live(false);
            return Ok(NotificationBus {
                bus: bus.clone(),
                redis: Some(bus),
            });
        }
        Ok(NotificationBus {
            bus: Arc::new(Local(live.clone())),
            redis: None,
        })
    }

    pub async fn notification_store(&mut self) -> anyhow::Result<Arc<dyn NotificationStore>> {
        if let Some(url) = &self.settings.database_url {
            let pg = self.postgres(url, &[&chirp_notify::SCHEMA])?;
            return Ok(timed!(
                dyn NotificationStore,
                PgNotifications::new(pg),
                "postgres",
                self
            ));
        }
        let db = self.sqlite(&[]).await?;
        Ok(Arc::new(SqliteNotifications::new(db).await?))
    }

    /// The outbox of `service` (auth, write or graph), in the database its writes go to.
    pub async fn outbox(&mut self, service: Command) -> anyhow::Result<Arc<dyn OutboxSource>> {
        let (table, schema) = match service {
            Command::Auth => (chirp_auth::adapters::postgres::OUTBOX, &chirp_auth::SCHEMA),
            Command::Write => (
                chirp_write::adapters::postgres::OUTBOX,
                &chirp_write::SCHEMA,
            ),
            Command::Graph => (
                chirp_graph::adapters::postgres::OUTBOX,
                &chirp_graph::SCHEMA,
            ),
            other => anyhow::bail!("{} has no outbox", other.name()),
        };
        if let Some(url) = &self.settings.database_url {
            let pg = self.postgres(url, &[schema])?;
            return Ok(timed!(
                dyn OutboxSource,
                PgOutbox::new(pg, table),
                "postgres",
                self
            ));
        }
        let db = self.sqlite(&[schema]).await?;
        Ok(Arc::new(SqliteOutbox::new(db, table)))
    }
}

/// NotificationService's bus, and the Redis one again when it is that (its subscriber
/// runs among the workers).
pub struct NotificationBus {
    pub bus: Arc<dyn Bus>,
    pub redis: Option<Arc<RedisBus>>,
}
