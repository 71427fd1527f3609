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
//! event (`chirp.graph`, in UserGraphService's consumer group), which covers a process
//! that stopped between its commit and Redis, or a Redis that was unreachable then. A
//! read that fills takes a lease first (`…:lease`, in the entry's slot) and writes only
//! while the lease stands; forgetting deletes the lease too, so a fill that read the
//! record before a change can never store what the change made wrong.
//!
//! Followed accounts above the threshold change when an account goes above it: the
//! follow that takes it there learns it from the record (its count, counted in the same
//! transaction) and forgets the home entries of all its followers. An account that goes
//! back below stays in its followers' entries until they are forgotten or expire; a home
//! read then merges in posts that are also in the timeline, which the merge dedups.
//!
//! When Redis does not answer, reads go to the record and writes still succeed (their
//! events forget the entries once Redis is back, retried until it answers).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chirp_core::deployed::redis::{Redis, RedisConn};
use chirp_core::events::{Event, EventBody};
use chirp_core::model::{FollowCounts, Relationship};
use chirp_core::page::PageRequest;
use chirp_core::peers::{GraphPage, Hidden, HomeContext};
use chirp_core::store::StoreResult;
use chirp_core::timed::DependencyMetrics;
use chirp_core::Id;
use redis::{Script, Value};

use crate::ports::{BlockEvents, Edge, FollowStore, Followed};

/// How long an entry is kept without being forgotten (a bound on what Redis holds for
/// users nobody reads, and on how long an account that went below the threshold is
/// still merged in at read).
pub const KEPT_FOR: Duration = Duration::from_secs(3600);

/// How long a lease holds a fill's right to write (a fill that takes longer writes
/// nothing; the next read fills).
const LEASE_MS: u64 = 10_000;

/// Followers read from the record a page at a time when an entry is filled or a crossing
/// is announced.
const FOLLOWERS_PAGE: usize = 1000;

/// After a follow's event, an account with at most this many followers above the
/// threshold has its followers' home entries forgotten again (the write did it already
/// unless it failed; see [`RedisGraphCache::repair`]).
const CROSSING_BAND: u64 = 64;

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

/// A token no other lease of any process takes: the process id, when it started, a count.
fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}:{start}:{n}", std::process::id())
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

    /// The same, with each Redis call timed into `calls`.
    pub fn timed(mut self, calls: DependencyMetrics) -> Self {
        self.calls = Some(calls);
        self
    }

    /// Runs one Redis call, timed when there is where to.
    async fn time<T, E>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        match &self.calls {
            Some(calls) => calls.time("redis", operation, call).await,
            None => call.await,
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
    async fn find(&self, c: &mut RedisConn, k: &Keys) -> redis::RedisResult<Found> {
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
    ) -> redis::RedisResult<()> {
        let mut inv = self.fill.key(&k.data);
        inv.key(&k.lease).arg(lease).arg(value).arg(self.kept_ms);
        let _: i64 = self.time("graph_cache_fill", inv.invoke_async(c)).await?;
        Ok(())
    }

    /// Forgets the entries `kinds` of each user (with their leases), all sent at once.
    async fn forget(&self, users: &[(Id, Kinds)]) -> StoreResult<()> {
        let c = self.redis.conn().await?;
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

    /// Forgets the home entries of `user` and of everyone who follows `user`: `user` has
    /// gone above the threshold.
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
                _ => return Ok(()),
            }
        }
    }

    /// What a follow's result asks: the follower's and the followee's entries it changed,
    /// and every follower's home entry when it took the followee above the threshold.
    async fn after_follow(&self, follower: Id, followee: Id, followed: Followed) {
        self.forget_after_write(&[
            (follower, Kinds::COUNTS.and(Kinds::HOME)),
            (followee, Kinds::COUNTS.and(Kinds::FOLLOWERS)),
        ])
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
    /// have, had Redis answered or the process lived): UserGraphService's consumer calls
    /// it with every `chirp.graph` event. An error is Redis's: the batch is retried.
    pub async fn repair(&self, events: &[Event]) -> StoreResult<()> {
        let mut users: Vec<(Id, Kinds)> = Vec::new();
        let mut followed: HashSet<Id> = HashSet::new();
        for e in events {
            match &e.body {
                EventBody::FollowCreated { follower, followee } => {
                    users.push((*follower, Kinds::COUNTS.and(Kinds::HOME)));
                    users.push((*followee, Kinds::COUNTS.and(Kinds::FOLLOWERS)));
                    followed.insert(*followee);
                }
                EventBody::FollowDeleted { follower, followee } => {
                    users.push((*follower, Kinds::COUNTS.and(Kinds::HOME)));
                    users.push((*followee, Kinds::COUNTS.and(Kinds::FOLLOWERS)));
                }
                EventBody::BlockCreated { blocker, blocked } => {
                    users.push((*blocker, Kinds::ALL));
                    users.push((*blocked, Kinds::ALL));
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
        // A crossing the write could not announce: the followee is just above the
        // threshold now (or was, when the follows after it came this quickly).
        let followed: Vec<Id> = followed.into_iter().collect();
        let counts = self.record.counts(&followed).await?;
        for (user, c) in counts {
            if c.followers > self.threshold && c.followers <= self.threshold + CROSSING_BAND {
                self.announce_crossing(user).await?;
            }
        }
        Ok(())
    }

    /// Reads each entry of `users` of one kind, all at once; `None` when Redis fails.
    async fn find_each(&self, kind: Kinds, users: &[Id]) -> Option<Vec<(Id, Found)>> {
        let c = self.redis.conn().await.ok()?;
        let reads = users.iter().map(|u| {
            let mut c = c.clone();
            async move {
                let k = self.keys(kind, *u);
                Ok::<_, redis::RedisError>((*u, self.find(&mut c, &k).await?))
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
        let Ok(c) = self.redis.conn().await else {
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
        let mut c = self.redis.conn().await?;
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
            self.forget_after_write(&[
                (follower, Kinds::COUNTS.and(Kinds::HOME)),
                (followee, Kinds::COUNTS.and(Kinds::FOLLOWERS)),
            ])
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
            let mut c = self.redis.conn().await?;
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
    /// nothing: the change took its lease.
    #[tokio::test]
    async fn redis_a_fill_that_read_before_a_change_stores_nothing() {
        let f = fixture(&chirp_testkit::redis_url(), 1000).await;
        follow(&f.cache, 1, 9, 11).await;
        let k = f.cache.keys(Kinds::COUNTS, Id(9));
        let mut c = f.cache.redis.conn().await.unwrap();
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

    /// A Redis that lost its data fills again from the record; one that does not answer
    /// leaves reads to the record and writes succeeding.
    #[tokio::test]
    async fn redis_lost_or_unreachable_leaves_the_record_answering() {
        let f = fixture(&chirp_testkit::redis_url(), 1000).await;
        follow(&f.cache, 1, 9, 11).await;
        assert_eq!(followers_of(&f.cache, 9).await, [Id(1)]);
        assert_eq!(followers_count(&f.cache, 9).await, 1);
        f.cache.redis.delete_prefix().await.unwrap();
        assert_eq!(followers_of(&f.cache, 9).await, [Id(1)]);
        assert_eq!(followers_count(&f.cache, 9).await, 1);

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(); // bound and let go: nothing listens there
        let down = Redis::new(&format!("redis://127.0.0.1:{port}"), "x:").unwrap();
        let cache = RedisGraphCache::new(f.record.clone(), down, 1000);
        follow(&cache, 2, 9, 12).await;
        assert_eq!(followers_of(&cache, 9).await, [Id(2), Id(1)]);
        assert_eq!(followers_count(&cache, 9).await, 2);
        assert!(cache
            .home_context(Id(2), 1000)
            .await
            .unwrap()
            .hidden
            .is_empty());
        assert!(
            cache.repair(&[follow_event(2, 9)]).await.is_err(),
            "retried by the consumer"
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
