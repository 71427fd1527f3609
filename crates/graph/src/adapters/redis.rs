//! UserGraphService's hot reads served from Redis, in front of the record (PostgreSQL):
//! the deployed shape.
//!
//! PostgreSQL stays the record because a follow, its counts and its event commit together
//! there (a Redis Cluster cannot make one transaction of two users' slots). Redis keeps,
//! per user, what is read on every post and every home read:
//!
//! - `gc:{user}`: the user's counts (16 bytes: followers, following);
//! - `gf:{user}`: the user's followers, for fanout and the followers list, a sorted set
//!   of 16-byte members (the follow's key and the follower, each 8 bytes big-endian, so
//!   that lexical order is key order) after one marker member: all zeros when the set
//!   is whole, `…01` when the user has more followers than are kept (the hybrid-fanout
//!   threshold: fanout never reads them) and the record answers;
//! - `gh:{user}`: what a home read asks at the deployment's threshold (whom the user does
//!   not see, the followed accounts above the threshold, the user when above it).
//!
//! Each is filled from the record by the first read that misses it (so a Redis that lost
//! its data, or restarted empty, fills again as it is read), and forgotten when a change
//! makes it wrong: by the write itself once it has committed, and again by the change's
//! event (`chirp.graph`, in a consumer group of the cache's own, [`GROUP`]), which covers
//! a process that stopped between its commit and Redis, or a Redis that was unreachable
//! then. A
//! read that fills takes a lease first (`…:lease`, in the entry's slot) and writes only
//! while the lease stands; forgetting deletes the lease too, so a fill that read the
//! record before a change can never store what the change made wrong.
//!
//! Followed accounts above the threshold change when an account goes above it: the
//! follow that takes it there learns it from the record (its count, counted in the same
//! transaction) and forgets the home entries of all its followers, then marks the account
//! announced (`gx:{user}`). An event of a follow of, or an unfollow or block of, an
//! account above the threshold that is not marked announces it (the write's announcement
//! failed, or Redis lost the mark); one at or below the threshold takes the mark away. An
//! account that goes back below stays in its followers' entries until they are forgotten
//! or expire; a home read then merges in posts that are also in the timeline, which the
//! merge dedups.
//!
//! When Redis does not answer within [`ANSWER_WITHIN`], reads go to the record and writes
//! still succeed (their events forget the entries once Redis is back: the cache's group
//! retries a batch until Redis answers).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chirp_core::deployed::redis::{Redis, RedisConn};
use chirp_core::events::{Event, EventBody, EventHandler, Topic};
use chirp_core::model::{FollowCounts, Relationship};
use chirp_core::page::PageRequest;
use chirp_core::peers::{GraphPage, Hidden, HomeContext};
use chirp_core::store::{StoreError, StoreResult};
use chirp_core::timed::DependencyMetrics;
use chirp_core::Id;
use redis::{Script, Value};

use crate::ports::{BlockEvents, Edge, FollowStore, Followed};

/// How long an entry is kept without being forgotten (a bound on what Redis holds for
/// users nobody reads, and on how long an account that went below the threshold is
/// still merged in at read).
pub const KEPT_FOR: Duration = Duration::from_secs(3600);

/// The consumer group that tells the cache of every change of the graph again, and its
/// topic.
pub const GROUP: &str = "chirp-graph-cache";
pub const TOPICS: &[Topic] = &[Topic::Graph];

/// The longest a call to Redis is waited for: a Redis slower than this is taken as one
/// that does not answer (a read goes to the record, a write's forgetting is left to its
/// event). Redis answers in well under a millisecond here; a quarter of a second is a
/// Redis in trouble.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(250);

/// How long an account's mark that its crossing was announced is kept.
const ANNOUNCED_FOR: Duration = Duration::from_secs(24 * 3600);

/// How long a lease holds a fill's right to write (a fill that takes longer writes
/// nothing; the next read fills).
const LEASE_MS: u64 = 10_000;

/// Followers read from the record a page at a time when an entry is filled or a crossing
/// is announced.
const FOLLOWERS_PAGE: usize = 1000;

/// The marker member that begins a whole followers set, and the one that says the record
/// answers (more followers than are kept). Real members have a key above zero.
const WHOLE: [u8; 16] = [0; 16];
const TOO_MANY: [u8; 16] = {
    let mut m = [0; 16];
    m[15] = 1;
    m
};

/// What is kept of a user, each a bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kinds(u8);

impl Kinds {
    const COUNTS: Kinds = Kinds(1);
    const FOLLOWERS: Kinds = Kinds(2);
    const HOME: Kinds = Kinds(4);
    const ALL: Kinds = Kinds(7);

    fn and(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    fn has(self, other: Kinds) -> bool {
        self.0 & other.0 != 0
    }
}

/// The entries a follow or an unfollow makes wrong: the follower's counts and home
/// entry, the followee's counts and followers.
fn follow_changed(follower: Id, followee: Id) -> [(Id, Kinds); 2] {
    [
        (follower, Kinds::COUNTS.and(Kinds::HOME)),
        (followee, Kinds::COUNTS.and(Kinds::FOLLOWERS)),
    ]
}

/// The entries of one user's kind: the data and its lease (one slot).
struct Keys {
    data: String,
    lease: String,
}

/// Reads the entry (KEYS[1]) or, when it is missing, takes the lease (KEYS[2]) with the
/// token ARGV[1] for ARGV[2] ms: `{1, value}`, `{0, 1}` (leased) or `{0, 0}`.
const GET: &str = r"
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, 1} end
return {0, 0}
";

/// Stores ARGV[2] for ARGV[3] ms in KEYS[1] if the lease KEYS[2] is still ARGV[1].
const FILL: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// A page of followers (KEYS[1]) below ARGV[1] (a lexical bound), at most ARGV[2]
/// members after the marker ARGV[5]: `{1, members…}`, `{2}` when the record answers,
/// else a miss as [`GET`]'s, leased with ARGV[3] for ARGV[4] ms.
const FOLLOWERS_PAGE_SCRIPT: &str = r"
local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if first then
  if first ~= ARGV[5] then return {2} end
  local page = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '(' .. ARGV[5], 'LIMIT', 0, tonumber(ARGV[2]))
  table.insert(page, 1, 1)
  return page
end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then return {0, 1} end
return {0, 0}
";

/// Stores the members ARGV[3…] (the marker first) as the followers set KEYS[1], kept
/// ARGV[2] ms, if the lease KEYS[2] is still ARGV[1].
const FILL_FOLLOWERS: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[1])
local batch = {}
for i = 3, #ARGV do
  batch[#batch + 1] = 0
  batch[#batch + 1] = ARGV[i]
  if #batch >= 1000 or i == #ARGV then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// The graph's record with its hot reads kept in Redis.
pub struct RedisGraphCache {
    record: Arc<dyn FollowStore>,
    redis: Redis,
    /// The hybrid-fanout threshold of the deployment: home entries are kept for reads at
    /// it, and followers sets of users at or below it.
    threshold: u64,
    kept_ms: u64,
    /// Where its Redis calls are timed (as `redis`, operations `graph_cache_*`).
    calls: Option<DependencyMetrics>,
    get: Script,
    fill: Script,
    followers_page: Script,
    fill_followers: Script,
}

/// A token no other lease of any process takes: 128 random bits.
fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// What a read of an entry found.
enum Found {
    Hit(Vec<u8>),
    /// Missing, and this read holds the lease under the token.
    Leased(String),
    /// Missing, and another read is filling it.
    Missing,
}

fn counts_bytes(c: FollowCounts) -> Vec<u8> {
    [c.followers.to_be_bytes(), c.following.to_be_bytes()].concat()
}

fn counts_of(b: &[u8]) -> Option<FollowCounts> {
    Some(FollowCounts {
        followers: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
        following: u64::from_be_bytes(b.get(8..16)?.try_into().ok()?),
    })
}

/// A home entry: the three lists' lengths (4 bytes each), then their ids (8 bytes each).
fn home_bytes(h: &HomeContext) -> Vec<u8> {
    let lists = [&h.hidden.blocked, &h.hidden.muted, &h.celebrities];
    let mut b = Vec::with_capacity(12 + 8 * lists.iter().map(|l| l.len()).sum::<usize>());
    for l in lists {
        b.extend_from_slice(&(l.len() as u32).to_be_bytes());
    }
    for id in lists.into_iter().flatten() {
        b.extend_from_slice(&id.get().to_be_bytes());
    }
    b
}

fn home_of(b: &[u8]) -> Option<HomeContext> {
    let len = |i: usize| -> Option<usize> {
        Some(u32::from_be_bytes(b.get(i * 4..i * 4 + 4)?.try_into().ok()?) as usize)
    };
    let (nb, nm, nc) = (len(0)?, len(1)?, len(2)?);
    let ids: Vec<Id> = b
        .get(12..)?
        .chunks_exact(8)
        .map(|c| Id(u64::from_be_bytes(c.try_into().unwrap_or_default())))
        .collect();
    if ids.len() != nb + nm + nc {
        return None;
    }
    Some(HomeContext {
        hidden: Hidden {
            blocked: ids[..nb].to_vec(),
            muted: ids[nb..nb + nm].to_vec(),
        },
        celebrities: ids[nb + nm..].to_vec(),
    })
}

fn follower_member(key: u64, user: Id) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&key.to_be_bytes());
    m[8..].copy_from_slice(&user.get().to_be_bytes());
    m
}

fn follower_of(m: &[u8]) -> Option<(u64, Id)> {
    let key = u64::from_be_bytes(m.get(..8)?.try_into().ok()?);
    let user = u64::from_be_bytes(m.get(8..16)?.try_into().ok()?);
    Some((key, Id(user)))
}

/// The page of `all` (newest first) below `page.before`.
fn page_of(all: &[(u64, Id)], page: PageRequest) -> GraphPage {
    let below: Vec<&(u64, Id)> = all
        .iter()
        .filter(|(k, _)| page.before.is_none_or(|b| *k < b))
        .take(page.limit + 1)
        .collect();
    let more = below.len() > page.limit;
    let (users, keys) = below
        .into_iter()
        .take(page.limit)
        .map(|(k, u)| (*u, *k))
        .unzip();
    GraphPage { users, keys, more }
}

impl RedisGraphCache {
    /// `record` with its hot reads kept in `redis`, home entries at `threshold` (the
    /// deployment's hybrid-fanout threshold).
    pub fn new(record: Arc<dyn FollowStore>, redis: Redis, threshold: u64) -> Self {
        RedisGraphCache {
            record,
            redis,
            threshold,
            kept_ms: KEPT_FOR.as_millis() as u64,
            calls: None,
            get: Script::new(GET),
            fill: Script::new(FILL),
            followers_page: Script::new(FOLLOWERS_PAGE_SCRIPT),
            fill_followers: Script::new(FILL_FOLLOWERS),
        }
    }

    /// The record behind the cache: what must be read as it is now (a deleted account's
    /// edges, each of which is ended).
    pub fn record(&self) -> &Arc<dyn FollowStore> {
        &self.record
    }

    /// The same, with each Redis call timed into `calls`.
    pub fn timed(mut self, calls: DependencyMetrics) -> Self {
        self.calls = Some(calls);
        self
    }

    /// Runs one Redis call, waited for at most [`ANSWER_WITHIN`], timed when there is
    /// where to.
    async fn time<T, E: Into<StoreError>>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> StoreResult<T> {
        let bounded = async {
            match tokio::time::timeout(ANSWER_WITHIN, call).await {
                Ok(answer) => answer.map_err(Into::into),
                Err(_) => Err(StoreError::new(
                    "redis",
                    anyhow::anyhow!("Redis did not answer within {ANSWER_WITHIN:?}"),
                )),
            }
        };
        match &self.calls {
            Some(calls) => calls.time("redis", operation, bounded).await,
            None => bounded.await,
        }
    }

    /// A connection to Redis, made within [`ANSWER_WITHIN`] when there is none.
    async fn conn(&self) -> StoreResult<RedisConn> {
        match tokio::time::timeout(ANSWER_WITHIN, self.redis.conn()).await {
            Ok(conn) => conn,
            Err(_) => Err(StoreError::new(
                "redis",
                anyhow::anyhow!("no connection to Redis within {ANSWER_WITHIN:?}"),
            )),
        }
    }

    fn keys(&self, kind: Kinds, user: Id) -> Keys {
        let name = match kind {
            Kinds::COUNTS => "gc",
            Kinds::FOLLOWERS => "gf",
            _ => "gh",
        };
        Keys {
            data: self.redis.key(name, user, ""),
            lease: self.redis.key(name, user, ":lease"),
        }
    }

    /// Reads one entry, or takes its lease.
    async fn find(&self, c: &mut RedisConn, k: &Keys) -> StoreResult<Found> {
        let lease = token();
        let mut inv = self.get.key(&k.data);
        inv.key(&k.lease).arg(&lease).arg(LEASE_MS);
        let reply: Vec<Value> = self.time("graph_cache_read", inv.invoke_async(c)).await?;
        Ok(match reply.as_slice() {
            [Value::Int(1), Value::BulkString(v)] => Found::Hit(v.clone()),
            [Value::Int(0), Value::Int(1)] => Found::Leased(lease),
            _ => Found::Missing,
        })
    }

    /// Stores `value` under `k` if `lease` still holds it.
    async fn store(
        &self,
        c: &mut RedisConn,
        k: &Keys,
        lease: &str,
        value: &[u8],
    ) -> StoreResult<()> {
        let mut inv = self.fill.key(&k.data);
        inv.key(&k.lease).arg(lease).arg(value).arg(self.kept_ms);
        let _: i64 = self.time("graph_cache_fill", inv.invoke_async(c)).await?;
        Ok(())
    }

    /// Forgets the entries `kinds` of each user (with their leases), all sent at once.
    async fn forget(&self, users: &[(Id, Kinds)]) -> StoreResult<()> {
        let c = self.conn().await?;
        let calls = users.iter().map(|(user, kinds)| {
            let mut cmd = redis::cmd("DEL");
            for kind in [Kinds::COUNTS, Kinds::FOLLOWERS, Kinds::HOME] {
                if kinds.has(kind) {
                    let k = self.keys(kind, *user);
                    cmd.arg(k.data).arg(k.lease);
                }
            }
            let mut c = c.clone();
            async move {
                self.time("graph_cache_forget", cmd.query_async::<i64>(&mut c))
                    .await
            }
        });
        for r in futures::future::join_all(calls).await {
            r?;
        }
        Ok(())
    }

    /// Forgets after a write that committed: a Redis that does not answer is logged, and
    /// the write's event forgets the entries again (see [`Self::repair`]).
    async fn forget_after_write(&self, users: &[(Id, Kinds)]) {
        if let Err(e) = self.forget(users).await {
            tracing::warn!(error = %e, "the graph's cache in Redis could not be told of a change; its event will");
        }
    }

    fn announced_key(&self, user: Id) -> String {
        self.redis.key("gx", user, "")
    }

    /// Forgets the home entries of `user` and of everyone who follows `user`, and then
    /// marks `user` announced: `user` has gone above the threshold.
    async fn announce_crossing(&self, user: Id) -> StoreResult<()> {
        let mut req = PageRequest::first(FOLLOWERS_PAGE);
        let mut users = vec![(user, Kinds::HOME)];
        loop {
            let page = self.record.followers(user, req).await?;
            users.extend(page.users.iter().map(|u| (*u, Kinds::HOME)));
            self.forget(&users).await?;
            users.clear();
            match page.keys.last() {
                Some(last) if page.more => req.before = Some(*last),
                _ => break,
            }
        }
        let mut c = self.conn().await?;
        let mut mark = redis::cmd("SET");
        mark.arg(self.announced_key(user))
            .arg(1)
            .arg("PX")
            .arg(ANNOUNCED_FOR.as_millis() as u64);
        self.time("graph_cache_forget", mark.query_async::<()>(&mut c))
            .await
    }

    /// For each of `users` with its followers counted now: announces an account above the
    /// threshold that is not marked announced, and takes the mark of one at or below it.
    async fn settle_crossings(&self, users: &[Id]) -> StoreResult<()> {
        let counts = self.record.counts(users).await?;
        let c = self.conn().await?;
        for user in users {
            let above = counts
                .get(user)
                .is_some_and(|n| n.followers > self.threshold);
            let key = self.announced_key(*user);
            let mut c = c.clone();
            if above {
                let marked: bool = self
                    .time(
                        "graph_cache_read",
                        redis::cmd("EXISTS").arg(&key).query_async(&mut c),
                    )
                    .await?;
                if !marked {
                    self.announce_crossing(*user).await?;
                }
            } else {
                let mut del = redis::cmd("DEL");
                del.arg(&key);
                self.time("graph_cache_forget", del.query_async::<i64>(&mut c))
                    .await?;
            }
        }
        Ok(())
    }

    /// What a follow's result asks: the follower's and the followee's entries it changed,
    /// and every follower's home entry when it took the followee above the threshold.
    async fn after_follow(&self, follower: Id, followee: Id, followed: Followed) {
        self.forget_after_write(&follow_changed(follower, followee))
            .await;
        if followed
            == (Followed::Now {
                followers: self.threshold + 1,
            })
        {
            if let Err(e) = self.announce_crossing(followee).await {
                tracing::warn!(error = %e, user = %followee, "an account above the threshold could not be announced to the graph's cache; its event will");
            }
        }
    }

    /// Forgets what the graph events `events` changed, as their writes did (or should
    /// have, had Redis answered or the process lived): the cache's consumer group ([`GROUP`])
    /// calls it with every `chirp.graph` event. An error is Redis's or the record's: the
    /// batch is retried.
    pub async fn repair(&self, events: &[Event]) -> StoreResult<()> {
        let mut users: Vec<(Id, Kinds)> = Vec::new();
        // Those whose followers changed: each may have crossed the threshold.
        let mut counted: HashSet<Id> = HashSet::new();
        for e in events {
            match &e.body {
                EventBody::FollowCreated { follower, followee }
                | EventBody::FollowDeleted { follower, followee } => {
                    users.extend(follow_changed(*follower, *followee));
                    counted.insert(*followee);
                }
                EventBody::BlockCreated { blocker, blocked } => {
                    users.push((*blocker, Kinds::ALL));
                    users.push((*blocked, Kinds::ALL));
                    counted.extend([*blocker, *blocked]);
                }
                EventBody::BlockDeleted { blocker, blocked } => {
                    users.push((*blocker, Kinds::HOME));
                    users.push((*blocked, Kinds::HOME));
                }
                EventBody::MuteCreated { muter, .. } | EventBody::MuteDeleted { muter, .. } => {
                    users.push((*muter, Kinds::HOME));
                }
                _ => {}
            }
        }
        if users.is_empty() {
            return Ok(());
        }
        self.forget(&users).await?;
        let mut counted: Vec<Id> = counted.into_iter().collect();
        counted.sort_unstable();
        self.settle_crossings(&counted).await
    }

    /// Reads each entry of `users` of one kind, all at once; `None` when Redis fails.
    async fn find_each(&self, kind: Kinds, users: &[Id]) -> Option<Vec<(Id, Found)>> {
        let c = self.conn().await.ok()?;
        let reads = users.iter().map(|u| {
            let mut c = c.clone();
            async move {
                let k = self.keys(kind, *u);
                StoreResult::Ok((*u, self.find(&mut c, &k).await?))
            }
        });
        match futures::future::try_join_all(reads).await {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::debug!(error = %e, "the graph's cache did not answer; reading the record");
                None
            }
        }
    }

    /// Fills the leased entries of one kind, all at once (a failure only means the next
    /// read fills them).
    async fn fill_each(&self, kind: Kinds, leased: &[(Id, String, Vec<u8>)]) {
        if leased.is_empty() {
            return;
        }
        let Ok(c) = self.conn().await else {
            return;
        };
        let writes = leased.iter().map(|(u, lease, value)| {
            let mut c = c.clone();
            async move {
                let k = self.keys(kind, *u);
                self.store(&mut c, &k, lease, value).await
            }
        });
        if let Err(e) = futures::future::try_join_all(writes).await {
            tracing::debug!(error = %e, "the graph's cache was not filled");
        }
    }

    /// The followers of `user` (newest first) read from the record to fill the cache,
    /// `None` when there are more than are kept.
    async fn all_followers(&self, user: Id) -> StoreResult<Option<Vec<(u64, Id)>>> {
        let mut all = Vec::new();
        let mut req = PageRequest::first(FOLLOWERS_PAGE);
        loop {
            let page = self.record.followers(user, req).await?;
            all.extend(page.keys.iter().copied().zip(page.users.iter().copied()));
            if all.len() as u64 > self.threshold {
                return Ok(None);
            }
            match page.keys.last() {
                Some(last) if page.more => req.before = Some(*last),
                _ => return Ok(Some(all)),
            }
        }
    }

    /// Reads a page of followers from Redis: `Ok(Some(page))`, `Ok(None)` when the record
    /// answers, `Err(lease)` when this read is to fill the set.
    async fn cached_followers(
        &self,
        user: Id,
        page: PageRequest,
    ) -> StoreResult<Result<Option<GraphPage>, Option<String>>> {
        let k = self.keys(Kinds::FOLLOWERS, user);
        let max = match page.before {
            Some(b) => [&b"("[..], &b.to_be_bytes(), &[0u8; 8]].concat(),
            None => b"+".to_vec(),
        };
        let lease = token();
        let mut c = self.conn().await?;
        let mut inv = self.followers_page.key(&k.data);
        inv.key(&k.lease)
            .arg(max)
            .arg(page.limit + 1)
            .arg(&lease)
            .arg(LEASE_MS)
            .arg(&WHOLE[..]);
        let reply: Vec<Value> = self
            .time("graph_cache_followers", inv.invoke_async(&mut c))
            .await?;
        Ok(match reply.split_first() {
            Some((Value::Int(1), members)) => {
                let mut found: Vec<(u64, Id)> = members
                    .iter()
                    .filter_map(|m| match m {
                        Value::BulkString(b) => follower_of(b),
                        _ => None,
                    })
                    .collect();
                let more = found.len() > page.limit;
                found.truncate(page.limit);
                let (keys, users) = found.into_iter().unzip();
                Ok(Some(GraphPage { users, keys, more }))
            }
            Some((Value::Int(2), _)) => Ok(None),
            Some((Value::Int(0), [Value::Int(1)])) => Err(Some(lease)),
            _ => Err(None),
        })
    }
}

/// The cache's consumer group: every change of the graph, told again.
#[async_trait]
impl EventHandler for RedisGraphCache {
    async fn handle(&self, events: &[Event]) -> anyhow::Result<()> {
        self.repair(events)
            .await
            .map_err(|e| anyhow::anyhow!("telling the graph's cache in Redis of changes: {e:#}"))
    }
}

#[async_trait]
impl FollowStore for RedisGraphCache {
    async fn follow(
        &self,
        follower: Id,
        followee: Id,
        key: u64,
        event: &Event,
    ) -> StoreResult<Followed> {
        let followed = self.record.follow(follower, followee, key, event).await?;
        if matches!(followed, Followed::Now { .. }) {
            self.after_follow(follower, followee, followed).await;
        }
        Ok(followed)
    }

    async fn unfollow(&self, follower: Id, followee: Id, event: &Event) -> StoreResult<bool> {
        let ended = self.record.unfollow(follower, followee, event).await?;
        if ended {
            self.forget_after_write(&follow_changed(follower, followee))
                .await;
        }
        Ok(ended)
    }

    async fn followers(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        match self.cached_followers(user, page).await {
            Ok(Ok(Some(found))) => Ok(found),
            Ok(Err(Some(lease))) => match self.all_followers(user).await? {
                Some(all) => {
                    let mut members = Vec::with_capacity(all.len() + 1);
                    members.push(WHOLE);
                    members.extend(all.iter().map(|(k, u)| follower_member(*k, *u)));
                    self.fill_followers_set(user, &lease, &members).await;
                    Ok(page_of(&all, page))
                }
                None => {
                    self.fill_followers_set(user, &lease, &[TOO_MANY]).await;
                    self.record.followers(user, page).await
                }
            },
            Ok(Ok(None)) | Ok(Err(None)) => self.record.followers(user, page).await,
            Err(e) => {
                tracing::debug!(error = %e, "the graph's cache did not answer; reading the record");
                self.record.followers(user, page).await
            }
        }
    }

    async fn following(&self, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.record.following(user, page).await
    }

    async fn all_following(&self, user: Id, max: usize) -> StoreResult<Vec<Id>> {
        self.record.all_following(user, max).await
    }

    async fn counts(&self, users: &[Id]) -> StoreResult<HashMap<Id, FollowCounts>> {
        let mut unique: Vec<Id> = users.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let Some(found) = self.find_each(Kinds::COUNTS, &unique).await else {
            return self.record.counts(users).await;
        };
        let mut out = HashMap::with_capacity(unique.len());
        let mut missing = Vec::new();
        let mut leases = HashMap::new();
        for (user, f) in found {
            match f {
                Found::Hit(b) => match counts_of(&b) {
                    Some(c) => {
                        out.insert(user, c);
                    }
                    None => missing.push(user),
                },
                Found::Leased(lease) => {
                    leases.insert(user, lease);
                    missing.push(user);
                }
                Found::Missing => missing.push(user),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let read = self.record.counts(&missing).await?;
        let mut fills = Vec::with_capacity(leases.len());
        for user in missing {
            // A user the record has no counts for has none: kept as zeros.
            let c = read.get(&user).copied().unwrap_or_default();
            if let Some(lease) = leases.remove(&user) {
                fills.push((user, lease, counts_bytes(c)));
            }
            out.insert(user, c);
        }
        self.fill_each(Kinds::COUNTS, &fills).await;
        Ok(out)
    }

    async fn following_above(&self, user: Id, threshold: u64) -> StoreResult<Vec<Id>> {
        self.record.following_above(user, threshold).await
    }

    async fn block(
        &self,
        blocker: Id,
        blocked: Id,
        key: u64,
        events: &BlockEvents,
    ) -> StoreResult<bool> {
        let changed = self.record.block(blocker, blocked, key, events).await?;
        if changed {
            self.forget_after_write(&[(blocker, Kinds::ALL), (blocked, Kinds::ALL)])
                .await;
        }
        Ok(changed)
    }

    async fn mute(&self, muter: Id, muted: Id, key: u64, event: &Event) -> StoreResult<bool> {
        let changed = self.record.mute(muter, muted, key, event).await?;
        if changed {
            self.forget_after_write(&[(muter, Kinds::HOME)]).await;
        }
        Ok(changed)
    }

    async fn remove_edge(&self, edge: Edge, from: Id, to: Id, event: &Event) -> StoreResult<bool> {
        let changed = self.record.remove_edge(edge, from, to, event).await?;
        if changed {
            let users: &[(Id, Kinds)] = match edge {
                Edge::Block => &[(from, Kinds::HOME), (to, Kinds::HOME)],
                Edge::Mute => &[(from, Kinds::HOME)],
            };
            self.forget_after_write(users).await;
        }
        Ok(changed)
    }

    async fn forget_edges_of(&self, user: Id) -> StoreResult<()> {
        // The others' home entries keep a deleted account among those they do not see
        // until they are forgotten or expire: it has no posts left to hide.
        self.record.forget_edges_of(user).await?;
        self.forget_after_write(&[(user, Kinds::ALL)]).await;
        Ok(())
    }

    async fn edges(&self, edge: Edge, user: Id, page: PageRequest) -> StoreResult<GraphPage> {
        self.record.edges(edge, user, page).await
    }

    async fn follows_each(&self, pairs: &[(Id, Id)]) -> StoreResult<Vec<bool>> {
        self.record.follows_each(pairs).await
    }

    async fn relationships(&self, user: Id, others: &[Id]) -> StoreResult<Vec<Relationship>> {
        self.record.relationships(user, others).await
    }

    async fn hidden_from(&self, user: Id) -> StoreResult<Hidden> {
        self.record.hidden_from(user).await
    }

    async fn home_context(&self, user: Id, threshold: u64) -> StoreResult<HomeContext> {
        if threshold != self.threshold {
            return self.record.home_context(user, threshold).await;
        }
        let found = self.find_each(Kinds::HOME, &[user]).await;
        let lease = match found.and_then(|mut f| f.pop()) {
            Some((_, Found::Hit(b))) => {
                if let Some(home) = home_of(&b) {
                    return Ok(home);
                }
                None
            }
            Some((_, Found::Leased(lease))) => Some(lease),
            _ => None,
        };
        let home = self.record.home_context(user, threshold).await?;
        if let Some(lease) = lease {
            self.fill_each(Kinds::HOME, &[(user, lease, home_bytes(&home))])
                .await;
        }
        Ok(home)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.record.ping().await
    }
}

impl RedisGraphCache {
    async fn fill_followers_set(&self, user: Id, lease: &str, members: &[[u8; 16]]) {
        let k = self.keys(Kinds::FOLLOWERS, user);
        let filled = async {
            let mut c = self.conn().await?;
            let mut inv = self.fill_followers.key(&k.data);
            inv.key(&k.lease).arg(lease).arg(self.kept_ms);
            for m in members {
                inv.arg(&m[..]);
            }
            self.time("graph_cache_fill", inv.invoke_async::<i64>(&mut c))
                .await?;
            StoreResult::Ok(())
        };
        if let Err(e) = filled.await {
            tracing::debug!(error = %e, "the graph's followers cache was not filled");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::postgres::PgFollowStore;
    use chirp_core::deployed::postgres::PgDb;

    struct Fixture {
        _alive: (chirp_testkit::TestDatabase, chirp_testkit::TestRedisPrefix),
        /// The record itself: a change made here is one the cache was not told of.
        record: Arc<dyn FollowStore>,
        cache: RedisGraphCache,
    }

    async fn fixture(urls: &str, threshold: u64) -> Fixture {
        let pg = chirp_testkit::postgres().await;
        let db = PgDb::connect_lazy(&pg.url).unwrap();
        db.migrate(&crate::SCHEMA).await.unwrap();
        db.mark_schema_ready();
        let record: Arc<dyn FollowStore> = Arc::new(PgFollowStore::new(db));
        let prefix = chirp_testkit::TestRedisPrefix::on(urls);
        let redis = Redis::new(&prefix.url, &prefix.prefix).unwrap();
        Fixture {
            _alive: (pg, prefix),
            cache: RedisGraphCache::new(record.clone(), redis, threshold),
            record,
        }
    }

    fn follow_event(follower: u64, followee: u64) -> Event {
        Event {
            id: Id(follower * 1000 + followee),
            version: 1,
            occurred_at_ms: 0,
            trace: None,
            body: EventBody::FollowCreated {
                follower: Id(follower),
                followee: Id(followee),
            },
        }
    }

    fn mute_event(muter: u64, muted: u64) -> Event {
        Event {
            body: EventBody::MuteCreated {
                muter: Id(muter),
                muted: Id(muted),
            },
            ..follow_event(muter, muted)
        }
    }

    async fn follow(s: &dyn FollowStore, follower: u64, followee: u64, key: u64) {
        let e = follow_event(follower, followee);
        let done = s.follow(Id(follower), Id(followee), key, &e).await.unwrap();
        assert!(matches!(done, Followed::Now { .. }), "{done:?}");
    }

    async fn followers_of(s: &dyn FollowStore, user: u64) -> Vec<Id> {
        s.followers(Id(user), PageRequest::first(100))
            .await
            .unwrap()
            .users
    }

    async fn followers_count(s: &dyn FollowStore, user: u64) -> u64 {
        s.counts(&[Id(user)]).await.unwrap()[&Id(user)].followers
    }

    /// Reads are served from Redis: a change the cache was not told of does not show,
    /// until its event comes (or a write through the cache forgets the entries).
    async fn reads_come_from_redis_until_a_change_forgets_them(urls: &str) {
        let f = fixture(urls, 1000).await;
        for (a, key) in [(1, 11), (2, 12), (3, 13)] {
            follow(&f.cache, a, 9, key).await;
        }
        assert_eq!(followers_of(&f.cache, 9).await, [Id(3), Id(2), Id(1)]);
        assert_eq!(followers_count(&f.cache, 9).await, 3);
        let home = f.cache.home_context(Id(4), 1000).await.unwrap();
        assert!(home.hidden.is_empty());

        // Behind the cache's back: 4 follows 9, and blocks 1.
        follow(f.record.as_ref(), 4, 9, 14).await;
        let block = BlockEvents {
            block: Event {
                body: EventBody::BlockCreated {
                    blocker: Id(4),
                    blocked: Id(1),
                },
                ..follow_event(4, 1)
            },
            unfollow: follow_event(4, 1),
            unfollowed: follow_event(1, 4),
        };
        assert!(f.record.block(Id(4), Id(1), 15, &block).await.unwrap());
        assert_eq!(
            followers_of(&f.cache, 9).await,
            [Id(3), Id(2), Id(1)],
            "from Redis"
        );
        assert_eq!(followers_count(&f.cache, 9).await, 3, "from Redis");
        assert!(f
            .cache
            .home_context(Id(4), 1000)
            .await
            .unwrap()
            .hidden
            .is_empty());

        // Their events.
        f.cache
            .repair(&[follow_event(4, 9), block.block.clone()])
            .await
            .unwrap();
        assert_eq!(
            followers_of(&f.cache, 9).await,
            [Id(4), Id(3), Id(2), Id(1)]
        );
        assert_eq!(followers_count(&f.cache, 9).await, 4);
        assert_eq!(
            f.cache
                .home_context(Id(4), 1000)
                .await
                .unwrap()
                .hidden
                .blocked,
            [Id(1)]
        );

        // A write through the cache shows at once.
        let unfollow = follow_event(2, 9);
        assert!(f.cache.unfollow(Id(2), Id(9), &unfollow).await.unwrap());
        assert_eq!(followers_of(&f.cache, 9).await, [Id(4), Id(3), Id(1)]);
        assert_eq!(followers_count(&f.cache, 9).await, 3);
        // Pages of a kept set, as the record's.
        let first = f
            .cache
            .followers(Id(9), PageRequest::first(2))
            .await
            .unwrap();
        assert_eq!(
            (first.users.as_slice(), first.more),
            (&[Id(4), Id(3)][..], true)
        );
        let rest = PageRequest {
            limit: 2,
            before: first.keys.last().copied(),
        };
        let rest = f.cache.followers(Id(9), rest).await.unwrap();
        assert_eq!(
            (rest.users, rest.keys, rest.more),
            (vec![Id(1)], vec![11], false)
        );
    }

    #[tokio::test]
    async fn redis_reads_come_from_redis_until_a_change_forgets_them() {
        reads_come_from_redis_until_a_change_forgets_them(&chirp_testkit::redis_url()).await;
    }

    #[tokio::test]
    async fn redis_cluster_reads_come_from_redis_until_a_change_forgets_them() {
        reads_come_from_redis_until_a_change_forgets_them(&chirp_testkit::redis_cluster_urls())
            .await;
    }

    /// A read that missed, read the record and then lost the race to a change stores
    /// nothing, whatever it fills: the change took its lease.
    #[tokio::test]
    async fn redis_a_fill_that_read_before_a_change_stores_nothing() {
        let f = fixture(&chirp_testkit::redis_url(), 1000).await;
        follow(&f.cache, 1, 9, 11).await;
        let mut c = f.cache.redis.conn().await.unwrap();

        // Counts.
        let k = f.cache.keys(Kinds::COUNTS, Id(9));
        let Found::Leased(lease) = f.cache.find(&mut c, &k).await.unwrap() else {
            panic!("the first read of a missing entry takes its lease");
        };
        assert!(matches!(
            f.cache.find(&mut c, &k).await.unwrap(),
            Found::Missing
        ));
        let before = f.record.counts(&[Id(9)]).await.unwrap()[&Id(9)];
        follow(&f.cache, 2, 9, 12).await; // commits, and forgets (the lease with it)
        f.cache
            .store(&mut c, &k, &lease, &counts_bytes(before))
            .await
            .unwrap();
        assert_eq!(followers_count(&f.cache, 9).await, 2, "not the stale 1");

        // Followers.
        let Ok(Err(Some(lease))) = f
            .cache
            .cached_followers(Id(9), PageRequest::first(10))
            .await
        else {
            panic!("the first read of a missing set takes its lease");
        };
        let stale = [
            WHOLE,
            follower_member(12, Id(2)),
            follower_member(11, Id(1)),
        ];
        follow(&f.cache, 3, 9, 13).await;
        f.cache.fill_followers_set(Id(9), &lease, &stale).await;
        assert_eq!(followers_of(&f.cache, 9).await, [Id(3), Id(2), Id(1)]);

        // A home read's part.
        let k = f.cache.keys(Kinds::HOME, Id(1));
        let Found::Leased(lease) = f.cache.find(&mut c, &k).await.unwrap() else {
            panic!("the first read of a missing entry takes its lease");
        };
        let stale = f.record.home_context(Id(1), 1000).await.unwrap();
        let mute = mute_event(1, 5);
        assert!(f.cache.mute(Id(1), Id(5), 14, &mute).await.unwrap());
        f.cache
            .store(&mut c, &k, &lease, &home_bytes(&stale))
            .await
            .unwrap();
        let home = f.cache.home_context(Id(1), 1000).await.unwrap();
        assert_eq!(home.hidden.muted, [Id(5)], "not the stale entry");
    }

    /// The follow that takes an account above the threshold makes its followers' home
    /// reads merge it in at once, though their entries were kept from before.
    #[tokio::test]
    async fn redis_an_account_going_above_the_threshold_reaches_its_followers_homes() {
        let f = fixture(&chirp_testkit::redis_url(), 2).await;
        follow(&f.cache, 1, 9, 11).await;
        follow(&f.cache, 2, 9, 12).await;
        for reader in [1, 2, 9] {
            let home = f.cache.home_context(Id(reader), 2).await.unwrap();
            assert!(
                home.celebrities.is_empty(),
                "9 is at the threshold, not above"
            );
        }
        follow(&f.cache, 3, 9, 13).await;
        for reader in [1, 2, 3, 9] {
            let home = f.cache.home_context(Id(reader), 2).await.unwrap();
            assert_eq!(home.celebrities, [Id(9)], "reader {reader}");
        }
        // Above the threshold, 9's followers come from the record.
        follow(f.record.as_ref(), 4, 9, 14).await;
        assert_eq!(
            followers_of(&f.cache, 9).await,
            [Id(4), Id(3), Id(2), Id(1)]
        );
        // A crossing the write could not announce (made behind the cache's back here):
        // its event announces it.
        follow(f.record.as_ref(), 1, 8, 15).await;
        assert!(f.cache.home_context(Id(1), 2).await.unwrap().celebrities == [Id(9)]);
        for (a, key) in [(2, 16), (3, 17)] {
            follow(f.record.as_ref(), a, 8, key).await;
        }
        assert_eq!(
            f.cache.home_context(Id(1), 2).await.unwrap().celebrities,
            [Id(9)]
        );
        f.cache.repair(&[follow_event(3, 8)]).await.unwrap();
        let mut above = f.cache.home_context(Id(1), 2).await.unwrap().celebrities;
        above.sort();
        assert_eq!(above, [Id(8), Id(9)]);
    }

    /// A Redis that lost its data fills again from the record, and serves what it filled.
    #[tokio::test]
    async fn redis_that_lost_its_data_fills_again() {
        let f = fixture(&chirp_testkit::redis_url(), 1000).await;
        follow(&f.cache, 1, 9, 11).await;
        assert_eq!(followers_of(&f.cache, 9).await, [Id(1)]);
        assert_eq!(followers_count(&f.cache, 9).await, 1);
        f.cache.redis.delete_prefix().await.unwrap();
        follow(f.record.as_ref(), 2, 9, 12).await; // behind the cache's back
        assert_eq!(followers_of(&f.cache, 9).await, [Id(2), Id(1)]);
        assert_eq!(followers_count(&f.cache, 9).await, 2);
        follow(f.record.as_ref(), 3, 9, 13).await; // and again: the filled entries stand
        assert_eq!(followers_of(&f.cache, 9).await, [Id(2), Id(1)]);
        assert_eq!(followers_count(&f.cache, 9).await, 2);
    }

    /// Reads, writes and the cache's own group with `cache`'s Redis not answering: reads
    /// are the record's, writes succeed, the group's batch fails (and is retried).
    async fn the_record_answers_for(cache: &RedisGraphCache, record: &dyn FollowStore) {
        follow(cache, 2, 9, 12).await;
        assert_eq!(followers_of(cache, 9).await, [Id(2), Id(1)]);
        assert_eq!(followers_count(cache, 9).await, 2);
        let home = cache.home_context(Id(2), 1000).await.unwrap();
        assert_eq!(home, record.home_context(Id(2), 1000).await.unwrap());
        assert!(
            cache.handle(&[follow_event(2, 9)]).await.is_err(),
            "retried by the consumer"
        );
    }

    /// A Redis that refuses connections leaves the record answering.
    #[tokio::test]
    async fn redis_unreachable_leaves_the_record_answering() {
        let f = fixture(&chirp_testkit::redis_url(), 1000).await;
        follow(&f.cache, 1, 9, 11).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(); // bound and let go: nothing listens there
        let down = Redis::new(&format!("redis://127.0.0.1:{port}"), "x:").unwrap();
        let cache = RedisGraphCache::new(f.record.clone(), down, 1000);
        the_record_answers_for(&cache, f.record.as_ref()).await;
    }

    /// A Redis that takes connections and never answers leaves the record answering after
    /// the cache's own bound ([`ANSWER_WITHIN`], a quarter of a second), not the Redis
    /// client's (2 s, which each call would otherwise wait out).
    #[tokio::test]
    async fn redis_that_hangs_leaves_the_record_answering_within_its_bound() {
        let f = fixture(&chirp_testkit::redis_url(), 1000).await;
        follow(&f.cache, 1, 9, 11).await;
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = silent.accept().await {
                open.push(conn); // read nothing, answer nothing
            }
        });
        let hung = Redis::new(&format!("redis://127.0.0.1:{port}"), "x:").unwrap();
        let cache = RedisGraphCache::new(f.record.clone(), hung, 1000);
        let started = std::time::Instant::now();
        let counts = cache.counts(&[Id(9)]).await.unwrap();
        let took = started.elapsed();
        assert_eq!(counts[&Id(9)].followers, 1);
        assert!(
            took < Duration::from_millis(1500),
            "a read waited {took:?} for a Redis that does not answer"
        );
        the_record_answers_for(&cache, f.record.as_ref()).await;
        held.abort();
    }

    /// An account marked announced is not announced again by its events; one whose
    /// followers went back to the threshold loses its mark, so that its next crossing
    /// is announced though the write could not.
    #[tokio::test]
    async fn redis_a_crossing_is_announced_once_until_the_account_goes_back() {
        let f = fixture(&chirp_testkit::redis_url(), 2).await;
        for (a, key) in [(1, 11), (2, 12), (3, 13)] {
            follow(&f.cache, a, 9, key).await;
        }
        let mut c = f.cache.redis.conn().await.unwrap();
        let marked = |c: &mut RedisConn| {
            let mut c = c.clone();
            let key = f.cache.announced_key(Id(9));
            async move {
                let n: i64 = redis::cmd("EXISTS")
                    .arg(key)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                n == 1
            }
        };
        assert!(marked(&mut c).await, "announced by the follow that crossed");
        assert_eq!(
            f.cache.home_context(Id(1), 2).await.unwrap().celebrities,
            [Id(9)]
        );
        // Behind the cache's back: 1 mutes 5, and 4 follows 9. The follow's event does not
        // announce 9 again (which would have forgotten 1's entry).
        let mute = mute_event(1, 5);
        assert!(f.record.mute(Id(1), Id(5), 14, &mute).await.unwrap());
        follow(f.record.as_ref(), 4, 9, 15).await;
        f.cache.repair(&[follow_event(4, 9)]).await.unwrap();
        let home = f.cache.home_context(Id(1), 2).await.unwrap();
        assert!(home.hidden.muted.is_empty(), "1's entry was not forgotten");

        // 9 back at the threshold (behind the cache's back), and its events.
        for a in [3, 4] {
            assert!(f
                .record
                .unfollow(Id(a), Id(9), &follow_event(a, 9))
                .await
                .unwrap());
        }
        f.cache.repair(&[follow_event(4, 9)]).await.unwrap();
        assert!(!marked(&mut c).await, "the mark goes with the crossing");
        // Above again, the write unheard: its event announces it.
        follow(f.record.as_ref(), 3, 9, 16).await;
        f.cache.repair(&[follow_event(3, 9)]).await.unwrap();
        assert!(marked(&mut c).await);
        let home = f.cache.home_context(Id(1), 2).await.unwrap();
        assert_eq!(
            (home.celebrities, home.hidden.muted),
            (vec![Id(9)], vec![Id(5)])
        );
    }

    #[test]
    fn entries_read_back_as_written() {
        let c = FollowCounts {
            followers: 1 << 40,
            following: 7,
        };
        assert_eq!(counts_of(&counts_bytes(c)), Some(c));
        let home = HomeContext {
            hidden: Hidden {
                blocked: vec![Id(3), Id(u64::MAX)],
                muted: vec![],
            },
            celebrities: vec![Id(9), Id(1 << 63)],
        };
        assert_eq!(home_of(&home_bytes(&home)), Some(home.clone()));
        let b = home_bytes(&home);
        assert_eq!(home_of(&b[..b.len() - 1]), None, "a cut entry is a miss");
        let none = HomeContext::default();
        assert_eq!(home_of(&home_bytes(&none)), Some(none));
        let m = follower_member(0x0102_0304_0506_0708, Id(0xff00_0000_0000_0001));
        assert_eq!(
            follower_of(&m),
            Some((0x0102_0304_0506_0708, Id(0xff00_0000_0000_0001)))
        );
        assert!(WHOLE < TOO_MANY && TOO_MANY < follower_member(1, Id(0)));
    }

    #[test]
    fn a_page_of_a_whole_list_is_the_records_page() {
        let all = [(50, Id(5)), (40, Id(4)), (30, Id(3))];
        let p = page_of(&all, PageRequest::first(2));
        assert_eq!(
            (p.users, p.keys, p.more),
            (vec![Id(5), Id(4)], vec![50, 40], true)
        );
        let p = page_of(
            &all,
            PageRequest {
                limit: 2,
                before: Some(40),
            },
        );
        assert_eq!((p.users, p.more), (vec![Id(3)], false));
    }
}
