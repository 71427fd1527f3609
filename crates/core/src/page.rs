//! Pagination: `?limit=N&cursor=C` in, `{"items", "next_cursor"}` out.
//!
//! Every list Chirp serves is ordered by a time-ordered 64-bit key, newest first, so a
//! cursor is "strictly below this key". New items always get larger keys, which is why a
//! walk sees each item exactly once even while items arrive. On the wire the cursor is
//! opaque and URL-safe: a version byte and the key, in unpadded base64url.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
const CURSOR_VERSION: u8 = 1;

/// A position in a newest-first list: items strictly below `0` come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub u64);

/// The most batches a list that leaves items out (blocked, muted, deleted, a repost shown
/// already) reads to fill one page. A page that is still short then is answered as it is,
/// with the cursor of the last item it considered, so that a walk goes on where it
/// stopped: a bound on one request's work for a reader who hides nearly everything.
pub const MAX_BATCHES: usize = 16;

impl Cursor {
    pub fn encode(self) -> String {
        let mut raw = [0u8; 9];
        raw[0] = CURSOR_VERSION;
        raw[1..].copy_from_slice(&self.0.to_be_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(s: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::BadRequest("cursor is not one this server issued".into());
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        if raw.len() != 9 || raw[0] != CURSOR_VERSION {
            return Err(bad());
        }
        let mut key = [0u8; 8];
        key.copy_from_slice(&raw[1..]);
        Ok(Cursor(u64::from_be_bytes(key)))
    }
}

/// The raw query parameters, as the client sent them.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// Only items whose key is strictly below this one; `None` is the newest page.
    pub before: Option<u64>,
}

impl PageRequest {
    pub fn first(limit: usize) -> Self {
        PageRequest {
            limit,
            before: None,
        }
    }

    /// Whether `key` lies on or after this page's start.
    pub fn admits(&self, key: u64) -> bool {
        self.before.is_none_or(|b| key < b)
    }
}

impl TryFrom<PageParams> for PageRequest {
    type Error = ApiError;

    fn try_from(p: PageParams) -> Result<Self, ApiError> {
        let limit = match p.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}"
                    )))
                }
            },
        };
        let before = match p.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(Cursor::decode(c)?.0),
        };
        Ok(PageRequest { limit, before })
    }
}

/// The largest page a peer may ask of an internal route (FanoutService reads followers in
/// batches of this many).
pub const MAX_INTERNAL_LIMIT: usize = 1000;

/// The query of an internal route that pages: `limit` (1 to [`MAX_INTERNAL_LIMIT`]) and
/// the key to page below.
#[derive(Debug, Deserialize)]
pub struct InternalPageQuery {
    pub limit: usize,
    pub before: Option<u64>,
}

impl TryFrom<InternalPageQuery> for PageRequest {
    type Error = ApiError;

    fn try_from(q: InternalPageQuery) -> Result<Self, ApiError> {
        if !(1..=MAX_INTERNAL_LIMIT).contains(&q.limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be a whole number from 1 to {MAX_INTERNAL_LIMIT}"
            )));
        }
        Ok(PageRequest {
            limit: q.limit,
            before: q.before,
        })
    }
}

/// One page of a list, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page whose items were taken from a list by key. `keys_seen` are the keys of the
    /// candidates the page considered (some may have been dropped, e.g. deleted posts),
    /// newest first; when the store had more than the page holds, the next page starts
    /// below the last of them.
    pub fn from_keys(items: Vec<T>, keys_seen: &[u64], req: &PageRequest, more: bool) -> Self {
        let next_cursor = match keys_seen.last() {
            Some(last) if more || keys_seen.len() >= req.limit => Some(Cursor(*last).encode()),
            _ => None,
        };
        Page { items, next_cursor }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
        PageRequest::try_from(PageParams {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        })
    }

    #[test]
    fn cursor_round_trips_and_is_url_safe() {
        for key in [0, 1, 42, u64::MAX, 7_263_011_920_384_001] {
            let text = Cursor(key).encode();
            assert!(text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert_eq!(Cursor::decode(&text).unwrap(), Cursor(key));
        }
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["x", "!!!!", "AAAA", "AgAAAAAAAAAB", "AQAAAAAAAAAB00"] {
            assert!(Cursor::decode(bad).is_err(), "{bad} decoded");
        }
    }

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(req(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(req(Some("1"), None).unwrap().limit, 1);
        assert_eq!(req(Some("100"), None).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "ten", "1.5", ""] {
            assert!(req(Some(bad), None).is_err(), "limit {bad} accepted");
        }
    }

    #[test]
    fn cursor_becomes_exclusive_bound() {
        let c = Cursor(500).encode();
        let r = req(None, Some(&c)).unwrap();
        assert_eq!(r.before, Some(500));
        assert!(r.admits(499));
        assert!(!r.admits(500));
        assert!(req(None, Some("zzz")).is_err());
    }

    #[test]
    fn next_cursor_only_when_more_may_follow() {
        let r = PageRequest::first(2);
        let full: Page<u64> = Page::from_keys(vec![9, 8], &[9, 8], &r, false);
        assert_eq!(full.next_cursor, Some(Cursor(8).encode()));
        let short: Page<u64> = Page::from_keys(vec![9], &[9], &r, false);
        assert_eq!(short.next_cursor, None);
        let empty: Page<u64> = Page::from_keys(vec![], &[], &r, true);
        assert_eq!(empty.next_cursor, None);
    }
}
