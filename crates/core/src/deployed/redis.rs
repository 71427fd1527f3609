//! Redis, one node or a Cluster, behind one handle.
//!
//! The connection is made on first use and remade after a failure, so a Redis that is
//! down at start, or restarts, costs 503s while it is away and nothing after. Every key
//! starts with a configurable prefix and carries a hash tag (`{...}`) naming the entity it
//! belongs to, so that the keys one operation touches live in one Cluster slot.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::Mutex;

use crate::store::{StoreError, StoreResult};

/// How long making a connection may take before the request that needed it gets a 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// A live connection: cheap to clone, and each clone may be used concurrently.
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// The connection, or when the last attempt to make one failed: while Redis is away,
/// requests fail fast instead of queueing behind connection attempts.
#[derive(Default)]
struct Slot {
    conn: Option<RedisConn>,
    failed_at: Option<std::time::Instant>,
}

/// How long after a failed attempt requests fail without trying again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// A Redis deployment and the key prefix this process uses in it.
#[derive(Clone)]
pub struct Redis {
    target: Arc<Target>,
    /// The first node's URL: where this process subscribes to channels (a Cluster passes
    /// every `PUBLISH` on to every node).
    first: Arc<str>,
    conn: Arc<Mutex<Slot>>,
    prefix: Arc<str>,
}

impl Redis {
    /// `urls`: one `redis://` URL, or several separated by commas for a Cluster.
    pub fn new(urls: &str, prefix: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !prefix.contains('{') && !prefix.contains('}'),
            "the Redis key prefix may not contain braces"
        );
        let list: Vec<&str> = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        let target = match list.as_slice() {
            [] => anyhow::bail!("REDIS_URL is empty"),
            [one] => Target::Single(redis::Client::open(*one).context("REDIS_URL")?),
            many => Target::Cluster(
                redis::cluster::ClusterClientBuilder::new(many.to_vec())
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(Duration::from_secs(2))
                    .build()
                    .context("REDIS_URL")?,
            ),
        };
        Ok(Redis {
            first: list[0].into(),
            target: Arc::new(target),
            conn: Arc::new(Mutex::new(Slot::default())),
            prefix: prefix.into(),
        })
    }

    /// `<prefix><kind>:{<tag>}<rest>`: every key of one entity in one slot.
    pub fn key(&self, kind: &str, tag: impl std::fmt::Display, rest: &str) -> String {
        format!("{}{kind}:{{{tag}}}{rest}", self.prefix)
    }

    /// A connection, made now if there is none.
    pub async fn conn(&self) -> StoreResult<RedisConn> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.conn.as_ref() {
            return Ok(c.clone());
        }
        if guard.failed_at.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
            let e = anyhow::anyhow!("Redis was unreachable moments ago");
            return Err(StoreError::new("redis", e));
        }
        let connecting = async {
            anyhow::Ok(match self.target.as_ref() {
                Target::Single(client) => {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(CONNECT_TIMEOUT)
                        .set_response_timeout(Duration::from_secs(2))
                        .set_number_of_retries(1);
                    RedisConn::Single(
                        ConnectionManager::new_with_config(client.clone(), config)
                            .await
                            .context("connecting to Redis")?,
                    )
                }
                Target::Cluster(client) => RedisConn::Cluster(
                    client
                        .get_async_connection()
                        .await
                        .context("connecting to the Redis Cluster")?,
                ),
            })
        };
        let made = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| anyhow::anyhow!("connecting to Redis timed out"))
            .and_then(|r| r);
        match made {
            Ok(conn) => {
                guard.conn = Some(conn.clone());
                guard.failed_at = None;
                Ok(conn)
            }
            Err(e) => {
                guard.failed_at = Some(std::time::Instant::now());
                Err(StoreError::new("redis", e))
            }
        }
    }

    /// `<prefix><name>`: a pub/sub channel of this deployment's.
    pub fn channel(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Sends `payload` to every subscriber of `channel`.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    /// What is published on `channel` from the moment this returns, on a connection of
    /// its own; the stream ends when the connection does.
    pub async fn subscribe(
        &self,
        channel: &str,
    ) -> StoreResult<impl futures::Stream<Item = Vec<u8>> + Send + Unpin + 'static> {
        let subscribing = async {
            let client = redis::Client::open(&*self.first).context("REDIS_URL")?;
            let mut pubsub = client
                .get_async_pubsub()
                .await
                .context("connecting to Redis")?;
            pubsub
                .subscribe(channel)
                .await
                .context("subscribing to a Redis channel")?;
            anyhow::Ok(pubsub)
        };
        let pubsub = tokio::time::timeout(CONNECT_TIMEOUT, subscribing)
            .await
            .map_err(|_| anyhow::anyhow!("subscribing to a Redis channel timed out"))
            .and_then(|r| r)
            .map_err(|e| StoreError::new("redis", e))?;
        Ok(futures::StreamExt::filter_map(
            pubsub.into_on_message(),
            |m| futures::future::ready(m.get_payload::<Vec<u8>>().ok()),
        ))
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let pong: String = redis::cmd("PING").query_async(&mut c).await?;
        if pong != "PONG" {
            let e = anyhow::anyhow!("unexpected answer to PING: {pong}");
            return Err(StoreError::new("redis", e));
        }
        Ok(())
    }

    /// Deletes every key under this prefix (tests; never on a shared prefix in production).
    pub async fn delete_prefix(&self) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let pattern = format!("{}*", self.prefix);
        let keys: Vec<String> = match &mut c {
            RedisConn::Single(m) => scan(m, &pattern).await?,
            RedisConn::Cluster(_) => {
                // SCAN is per node; KEYS through the cluster connection asks every primary.
                redis::cmd("KEYS").arg(&pattern).query_async(&mut c).await?
            }
        };
        for k in keys {
            let _: () = redis::cmd("DEL").arg(&k).query_async(&mut c).await?;
        }
        Ok(())
    }
}

async fn scan(c: &mut ConnectionManager, pattern: &str) -> anyhow::Result<Vec<String>> {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}
