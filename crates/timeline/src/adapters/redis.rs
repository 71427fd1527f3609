//! Home timelines in Redis: the deployed adapter.
//!
//! A timeline is a sorted set scored 0 and ordered by member, each member 16 bytes: the
//! post id and then the author id, each 8 bytes big-endian, so that lexical order is id
//! order (scores are doubles and cannot hold a 64-bit id exactly). An empty member marks a
//! timeline that exists but is empty. With Redis's `zset-max-listpack-entries` above the
//! cap (the deployment files set 1024), a timeline is one listpack: 20 bytes an entry (18
//! for the member, 2 for the score), where the same set as a skiplist costs about 100. While a rebuild runs, a flag key and two sets record what was removed meanwhile.
//! All keys of a user share the hash tag `{user}`, and every operation is one Lua script on
//! one slot, so it is atomic on a single node and on a Cluster alike.
//!
//! A timeline nobody reads is dropped after an idle time (its key's expiry, set when it is
//! built and again at every read; deliveries do not make it younger), and built again by
//! the next read, as after Redis lost it: Redis holds the timelines of active users.

use async_trait::async_trait;
use chirp_core::deployed::redis::Redis;
use chirp_core::page::PageRequest;
use chirp_core::peers::TimelineEntry;
use chirp_core::store::StoreResult;
use chirp_core::Id;
use redis::Script;

use crate::ports::TimelineStore;

/// The key kind of timelines (`tl2`: the binary members above; `tl`, of builds before,
/// held text members and is left to its idle expiry).
const KIND: &str = "tl2";

fn member(e: &TimelineEntry) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&e.post.get().to_be_bytes());
    m[8..].copy_from_slice(&e.author.get().to_be_bytes());
    m
}

fn id_bytes(id: Id) -> [u8; 8] {
    id.get().to_be_bytes()
}

fn parse(m: &[u8]) -> Option<TimelineEntry> {
    let post: [u8; 8] = m.get(..8)?.try_into().ok()?;
    let author: [u8; 8] = m.get(8..)?.try_into().ok()?;
    Some(TimelineEntry {
        post: Id(u64::from_be_bytes(post)),
        author: Id(u64::from_be_bytes(author)),
    })
}

/// The least member after every member of `post`: the bound of a range below it.
fn after_post(post: Id) -> Vec<u8> {
    let mut b = Vec::with_capacity(17);
    b.push(b'[');
    b.extend_from_slice(&id_bytes(post));
    b.extend_from_slice(&[0xff; 8]);
    b
}

const PAGE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 1 then return false end
keep(KEYS[1], tonumber(ARGV[3]))
return redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '(', 'LIMIT', 0, tonumber(ARGV[2]))
";

const TRIM: &str = r"
local function trim(key, cap) redis.call('ZREMRANGEBYRANK', key, 1, -(cap + 1)) end
";

/// Sets a timeline's idle expiry (ms; 0: none).
const KEEP: &str = r"
local function keep(key, idle) if idle > 0 then redis.call('PEXPIRE', key, idle) end end
";

const INSERT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
trim(KEYS[1], tonumber(ARGV[1]))
return 1
";

const REMOVE_POST: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYLEX', KEYS[1], '[' .. ARGV[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SADD', KEYS[3], ARGV[1]) end
return 1
";

const REMOVE_AUTHOR: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 1, -1)) do
  if string.sub(m, 9) == ARGV[1] then redis.call('ZREM', KEYS[1], m) end
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SADD', KEYS[3], ARGV[1]) end
return 1
";

const BEGIN_REBUILD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZADD', KEYS[1], 0, '')
  keep(KEYS[1], tonumber(ARGV[1]))
  redis.call('SET', KEYS[2], 1, 'PX', 60000)
end
return 1
";

const FINISH_REBUILD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZADD', KEYS[1], 0, '') end
for i = 3, #ARGV do
  local m = ARGV[i]
  local post, author = string.sub(m, 1, 8), string.sub(m, 9)
  if redis.call('SISMEMBER', KEYS[3], post) == 0 and redis.call('SISMEMBER', KEYS[4], author) == 0 then
    redis.call('ZADD', KEYS[1], 0, m)
  end
end
trim(KEYS[1], tonumber(ARGV[1]))
keep(KEYS[1], tonumber(ARGV[2]))
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return 1
";

/// The script that delivers entries to one timeline (KEYS[1]; ARGV: the cap, then the
/// members): the benchmark measures what Redis takes of it.
pub fn insert_script() -> Script {
    Script::new(&(TRIM.to_owned() + INSERT))
}

/// Logs a warning when Redis keeps sorted sets of `cap` entries (and the empty
/// member) as skiplists: the timelines then take about five times the memory. Redis
/// that does not answer `CONFIG GET` (a managed one may not) is left unchecked.
pub async fn check_encoding(store: &Redis, cap: usize) {
    let answer = async {
        let mut c = store.conn().await.ok()?;
        let pair: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("zset-max-listpack-entries")
            .query_async(&mut c)
            .await
            .ok()?;
        pair.get(1)?.parse::<usize>().ok()
    };
    match answer.await {
        Some(n) if n <= cap => tracing::warn!(
            zset_max_listpack_entries = n,
            cap,
            "Redis keeps home timelines as skiplists (about 100 bytes an entry, not 20): \
             set zset-max-listpack-entries above the timeline cap"
        ),
        _ => {}
    }
}

pub struct RedisTimelines {
    redis: Redis,
    /// A timeline's idle expiry in ms (0: none).
    idle_ms: u64,
    page: Script,
    insert: Script,
    remove_post: Script,
    remove_author: Script,
    begin: Script,
    finish: Script,
}

/// The keys of one user's timeline: the set, the rebuild flag, removed posts and authors.
struct Keys([String; 4]);

impl RedisTimelines {
    /// Timelines in `redis`, each dropped after `idle` without a read (`None`: kept until
    /// Redis evicts or loses them).
    pub fn new(redis: Redis, idle: Option<std::time::Duration>) -> Self {
        // Each script with the helpers it calls.
        let with = |helpers: &[&str], body: &str| Script::new(&(helpers.concat() + body));
        RedisTimelines {
            redis,
            idle_ms: idle.map_or(0, |d| (d.as_millis() as u64).max(1)),
            page: with(&[KEEP], PAGE),
            insert: insert_script(),
            remove_post: Script::new(REMOVE_POST),
            remove_author: Script::new(REMOVE_AUTHOR),
            begin: with(&[KEEP], BEGIN_REBUILD),
            finish: with(&[TRIM, KEEP], FINISH_REBUILD),
        }
    }

    /// Each timeline's entries in one script call, all sent at once: the connection
    /// pipelines them.
    async fn insert_into<'a>(
        &self,
        timelines: impl Iterator<Item = (Id, &'a [TimelineEntry])>,
        cap: usize,
    ) -> StoreResult<()> {
        let c = self.redis.conn().await?;
        let calls = timelines.filter(|(_, es)| !es.is_empty()).map(|(u, es)| {
            let Keys(k) = self.keys(u);
            let mut c = c.clone();
            let mut inv = self.insert.key(&k[0]);
            inv.arg(cap);
            for e in es {
                inv.arg(&member(e)[..]);
            }
            async move { inv.invoke_async::<i64>(&mut c).await }
        });
        for r in futures::future::join_all(calls).await {
            r?;
        }
        Ok(())
    }

    fn keys(&self, user: Id) -> Keys {
        Keys([
            self.redis.key(KIND, user, ""),
            self.redis.key(KIND, user, ":rebuilding"),
            self.redis.key(KIND, user, ":removed-posts"),
            self.redis.key(KIND, user, ":removed-authors"),
        ])
    }
}

#[async_trait]
impl TimelineStore for RedisTimelines {
    async fn page(&self, user: Id, page: PageRequest) -> StoreResult<Option<Vec<Id>>> {
        let Keys(k) = self.keys(user);
        let max = match page.before {
            Some(b) => [&b"("[..], &b.to_be_bytes()].concat(),
            None => b"+".to_vec(),
        };
        let mut c = self.redis.conn().await?;
        let members: Option<Vec<Vec<u8>>> = self
            .page
            .key(&k[0])
            .key(&k[1])
            .arg(max)
            .arg(page.limit)
            .arg(self.idle_ms)
            .invoke_async(&mut c)
            .await?;
        Ok(members.map(|ms| ms.iter().filter_map(|m| parse(m)).map(|e| e.post).collect()))
    }

    async fn insert(&self, users: &[Id], entries: &[TimelineEntry], cap: usize) -> StoreResult<()> {
        self.insert_into(users.iter().map(|u| (*u, entries)), cap)
            .await
    }

    async fn insert_each(
        &self,
        timelines: &[(Id, Vec<TimelineEntry>)],
        cap: usize,
    ) -> StoreResult<()> {
        self.insert_into(timelines.iter().map(|(u, es)| (*u, es.as_slice())), cap)
            .await
    }

    async fn remove_post(&self, users: &[Id], post: Id) -> StoreResult<()> {
        let c = self.redis.conn().await?;
        let (post, upto) = (id_bytes(post), after_post(post));
        let calls = users.iter().map(|u| {
            let Keys(k) = self.keys(*u);
            let mut c = c.clone();
            let mut inv = self.remove_post.key(&k[0]);
            inv.key(&k[1]).key(&k[2]).arg(&post[..]).arg(&upto);
            async move { inv.invoke_async::<i64>(&mut c).await }
        });
        for r in futures::future::join_all(calls).await {
            r?;
        }
        Ok(())
    }

    async fn remove_author(&self, user: Id, author: Id) -> StoreResult<()> {
        let Keys(k) = self.keys(user);
        let mut c = self.redis.conn().await?;
        let _: i64 = self
            .remove_author
            .key(&k[0])
            .key(&k[1])
            .key(&k[3])
            .arg(&id_bytes(author)[..])
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    async fn begin_rebuild(&self, user: Id) -> StoreResult<()> {
        let Keys(k) = self.keys(user);
        let mut c = self.redis.conn().await?;
        let _: i64 = self
            .begin
            .key(&k[0])
            .key(&k[1])
            .arg(self.idle_ms)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    async fn finish_rebuild(
        &self,
        user: Id,
        entries: Vec<TimelineEntry>,
        cap: usize,
    ) -> StoreResult<()> {
        let Keys(k) = self.keys(user);
        let mut c = self.redis.conn().await?;
        let mut inv = self.finish.key(&k[0]);
        inv.key(&k[1])
            .key(&k[2])
            .key(&k[3])
            .arg(cap)
            .arg(self.idle_ms);
        for e in &entries {
            inv.arg(&member(e)[..]);
        }
        let _: i64 = inv.invoke_async(&mut c).await?;
        Ok(())
    }

    async fn entries(&self, user: Id) -> StoreResult<Option<Vec<TimelineEntry>>> {
        let Keys(k) = self.keys(user);
        let mut c = self.redis.conn().await?;
        let exists: bool = redis::cmd("EXISTS").arg(&k[0]).query_async(&mut c).await?;
        if !exists {
            return Ok(None);
        }
        let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg(&k[0])
            .arg(1)
            .arg(-1)
            .query_async(&mut c)
            .await?;
        Ok(Some(
            members.iter().rev().filter_map(|m| parse(m)).collect(),
        ))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.redis.ping().await
    }
}
