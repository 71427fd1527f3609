//! 64-bit, time-ordered ids: 41 bits of milliseconds since [`EPOCH_MS`], 10 bits of worker
//! id and 12 bits of sequence. Newer ids compare greater, and two processes with different
//! worker ids never mint the same id. They travel as JSON strings so that JavaScript
//! clients keep every bit.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 2024-01-01T00:00:00Z: ids stay positive for about 69 years after it.
pub const EPOCH_MS: u64 = 1_704_067_200_000;
const WORKER_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
/// The largest worker id a process may be configured with.
pub const MAX_WORKER_ID: u16 = (1 << WORKER_BITS) - 1;
const MAX_SEQUENCE: u64 = (1 << SEQUENCE_BITS) - 1;

/// The id of a user, a post, an event or a follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub u64);

impl Id {
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Milliseconds since the Unix epoch at which the id was minted.
    pub fn unix_millis(self) -> u64 {
        (self.0 >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS
    }

    /// Signed form for stores whose integers are signed (SQLite, PostgreSQL `bigint`).
    /// Every id we mint is below 2^63, so the conversion is lossless.
    pub const fn as_i64(self) -> i64 {
        self.0 as i64
    }

    pub const fn from_i64(v: i64) -> Self {
        Id(v as u64)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Id {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `u64::from_str` accepts a leading '+', which would give one id two spellings.
        if s.starts_with('+') {
            return "+".parse::<u64>().map(Id);
        }
        s.parse().map(Id)
    }
}

impl Id {
    /// The id in decimal, written into `buf` (every page writes a few ids per item: this
    /// skips the formatting machinery and the escaping writer `collect_str` goes through).
    fn decimal(self, buf: &mut [u8; 20]) -> &str {
        let (mut n, mut at) = (self.0, buf.len());
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // Only ASCII digits were written.
        std::str::from_utf8(&buf[at..]).unwrap_or_default()
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.decimal(&mut [0; 20]))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Decimal;
        impl serde::de::Visitor<'_> for Decimal {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id: a string of decimal digits")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Id, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Decimal)
    }
}

/// Mints ids for one process. Cheap to share behind an `Arc`.
///
/// The worker id is given at start ([`IdGenerator::new`]) or held under a lease that
/// another process could take once it lapses ([`IdGenerator::leased`]): then ids are
/// minted only while the lease is known to hold, and none before the first is granted.
#[derive(Debug)]
pub struct IdGenerator {
    /// The worker id, or [`NO_WORKER`] while none is held.
    worker: AtomicU64,
    /// Until when (Unix milliseconds) the worker id may be used; `u64::MAX` for ever.
    valid_until_ms: AtomicU64,
    /// (last millisecond used, last sequence used in it)
    state: Mutex<(u64, u64)>,
}

const NO_WORKER: u64 = u64::MAX;

/// Why no id could be minted: the process holds no worker id at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this process holds no worker id (its lease is not granted or has lapsed)")]
pub struct NoWorkerId;

impl From<NoWorkerId> for crate::error::ApiError {
    fn from(e: NoWorkerId) -> Self {
        crate::error::ApiError::unavailable("worker id lease", e)
    }
}

impl IdGenerator {
    /// Ids of worker `worker`, for ever.
    pub fn new(worker: u16) -> Result<Self, String> {
        if worker > MAX_WORKER_ID {
            return Err(format!("worker id {worker} is above {MAX_WORKER_ID}"));
        }
        Ok(Self {
            worker: AtomicU64::new(u64::from(worker)),
            valid_until_ms: AtomicU64::new(u64::MAX),
            state: Mutex::new((0, 0)),
        })
    }

    /// A generator whose worker id a lease grants later (see [`IdGenerator::grant`]).
    pub fn leased() -> Self {
        Self {
            worker: AtomicU64::new(NO_WORKER),
            valid_until_ms: AtomicU64::new(0),
            state: Mutex::new((0, 0)),
        }
    }

    /// Use `worker` until `until_ms` (Unix milliseconds).
    pub fn grant(&self, worker: u16, until_ms: u64) {
        // Under the state's lock, as minting reads both: no id is minted with the old
        // worker id and the new validity, or the other way round.
        let _state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.worker.store(u64::from(worker), Ordering::Release);
        self.valid_until_ms.store(until_ms, Ordering::Release);
    }

    /// Stop using the worker id (the lease is lost or given back).
    pub fn revoke(&self) {
        let _state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.valid_until_ms.store(0, Ordering::Release);
        self.worker.store(NO_WORKER, Ordering::Release);
    }

    /// The worker id in use, if any.
    pub fn worker(&self) -> Option<u16> {
        let until = self.valid_until_ms.load(Ordering::Acquire);
        let worker = self.worker.load(Ordering::Acquire);
        (worker != NO_WORKER && now_millis() < until).then_some(worker as u16)
    }

    pub fn next_id(&self) -> Result<Id, NoWorkerId> {
        let mut state = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let worker = self.worker.load(Ordering::Acquire);
        let wall = now_millis();
        if worker == NO_WORKER || wall >= self.valid_until_ms.load(Ordering::Acquire) {
            return Err(NoWorkerId);
        }
        let now = wall.saturating_sub(EPOCH_MS);
        let (last_ms, last_seq) = *state;
        // A clock that steps back must not produce an id below one already given out:
        // keep counting in the last millisecond we used, borrowing from the future
        // when its sequence runs out.
        let (ms, seq) = if now > last_ms {
            (now, 0)
        } else if last_seq < MAX_SEQUENCE {
            (last_ms, last_seq + 1)
        } else {
            (last_ms + 1, 0)
        };
        *state = (ms, seq);
        Ok(Id((ms << (WORKER_BITS + SEQUENCE_BITS))
            | (worker << SEQUENCE_BITS)
            | seq))
    }

    /// The worker id an id was minted by.
    pub fn worker_of(id: Id) -> u16 {
        ((id.0 >> SEQUENCE_BITS) & u64::from(MAX_WORKER_ID)) as u16
    }

    /// The smallest id that could have been minted at `unix_ms`; useful as a bound.
    pub fn floor_at(unix_ms: u64) -> Id {
        Id(unix_ms.saturating_sub(EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS))
    }
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_travel_as_decimal_strings() {
        for n in [0, 7, 10, 99, 1_000, 123_456_789, i64::MAX as u64, u64::MAX] {
            let text = serde_json::to_string(&Id(n)).unwrap();
            assert_eq!(text, format!("\"{n}\""));
            assert_eq!(serde_json::from_str::<Id>(&text).unwrap(), Id(n));
        }
        for bad in [
            "7",
            "\"\"",
            "\"-1\"",
            "\"1a\"",
            "null",
            "\"18446744073709551616\"",
        ] {
            assert!(serde_json::from_str::<Id>(bad).is_err(), "{bad}");
        }
        // Inside a buffered (tagged) document as well.
        let v: Vec<Id> = serde_json::from_value(serde_json::json!(["1", "2"])).unwrap();
        assert_eq!(v, [Id(1), Id(2)]);
    }

    #[test]
    fn ids_increase_strictly_and_never_repeat() {
        let ids = IdGenerator::new(3).unwrap();
        let mut last = Id(0);
        let mut seen = HashSet::new();
        for _ in 0..20_000 {
            let id = ids.next_id().unwrap();
            assert!(id > last, "{id} is not above {last}");
            assert!(seen.insert(id));
            last = id;
        }
    }

    #[test]
    fn workers_never_collide() {
        let a = IdGenerator::new(1).unwrap();
        let b = IdGenerator::new(2).unwrap();
        let from_a: HashSet<_> = (0..5000).map(|_| a.next_id().unwrap()).collect();
        assert!((0..5000)
            .map(|_| b.next_id().unwrap())
            .all(|id| !from_a.contains(&id)));
    }

    #[test]
    fn id_carries_its_time() {
        let before = now_millis();
        let id = IdGenerator::new(0).unwrap().next_id().unwrap();
        let after = now_millis();
        assert!(id.unix_millis() >= before && id.unix_millis() <= after + 1);
        assert!(IdGenerator::floor_at(before) <= id);
    }

    #[test]
    fn a_leased_generator_mints_only_while_its_lease_holds() {
        let ids = IdGenerator::leased();
        assert_eq!(ids.next_id(), Err(NoWorkerId));
        ids.grant(7, now_millis() + 60_000);
        let id = ids.next_id().unwrap();
        assert_eq!(IdGenerator::worker_of(id), 7);
        assert_eq!(ids.worker(), Some(7));
        // Lapsed: nothing is minted until the lease is granted again.
        ids.grant(7, now_millis().saturating_sub(1));
        assert_eq!(ids.next_id(), Err(NoWorkerId));
        ids.grant(9, now_millis() + 60_000);
        let later = ids.next_id().unwrap();
        assert!(later > id);
        assert_eq!(IdGenerator::worker_of(later), 9);
        ids.revoke();
        assert_eq!(ids.next_id(), Err(NoWorkerId));
        assert_eq!(ids.worker(), None);
    }

    #[test]
    fn worker_id_out_of_range_is_refused() {
        assert!(IdGenerator::new(MAX_WORKER_ID).is_ok());
        assert!(IdGenerator::new(MAX_WORKER_ID + 1).is_err());
    }

    #[test]
    fn ids_travel_as_strings() {
        let id = Id(7_263_011_920_384_001);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"7263011920384001\"");
        let back: Id = serde_json::from_str("\"7263011920384001\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<Id>("7263011920384001").is_err());
        assert!("+12".parse::<Id>().is_err());
        assert!("-12".parse::<Id>().is_err());
        assert!("".parse::<Id>().is_err());
    }
}
