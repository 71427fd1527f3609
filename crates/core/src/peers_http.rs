//! The service-to-service clients: each [`crate::peers`] trait over HTTP, for services in
//! processes of their own. The serving side is each service's `/internal/v1` routes, which
//! the gateway never exposes. Every call has a timeout; a peer that is down or answers
//! 5xx is a 503 naming it, and a 404 from it is a 404.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::id::Id;
use crate::model::{FollowCounts, Post, User, UserData};
use crate::page::PageRequest;
use crate::peers::{
    Directory, GraphPage, Hidden, HomeContext, SocialGraph, TimelineEntry, Timelines, UserEdges,
};

/// The header a call to a peer's internal API carries the services' shared secret in.
pub const INTERNAL_SECRET_HEADER: &str = "chirp-internal-secret";

/// A peer service at a base URL.
#[derive(Clone)]
pub struct Peer {
    http: reqwest::Client,
    base: String,
    name: &'static str,
}

impl Peer {
    /// The client of `name` at `base`, sending `secret` with every call when there is one.
    pub fn new(name: &'static str, base: &str, secret: Option<&str>) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(secret) = secret {
            let mut value = reqwest::header::HeaderValue::from_str(secret)?;
            value.set_sensitive(true);
            headers.insert(INTERNAL_SECRET_HEADER, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .default_headers(headers)
            .build()?;
        Ok(Peer {
            http,
            base: base.trim_end_matches('/').to_owned(),
            name,
        })
    }

    /// Calls the peer with the current span's trace context (a client span, when the
    /// peer is [`Timed`](crate::timed::Timed), as the wiring makes every peer).
    async fn call<R: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<R, ApiError> {
        let mut req = req
            .build()
            .map_err(|e| ApiError::unavailable(self.name, e))?;
        crate::traces::inject(&tracing::Span::current(), req.headers_mut());
        let res = self
            .http
            .execute(req)
            .await
            .map_err(|e| ApiError::unavailable(self.name, e))?;
        let status = res.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(ApiError::NotFound(format!(
                "{} found no such resource",
                self.name
            )));
        }
        if !status.is_success() {
            return Err(ApiError::unavailable(
                self.name,
                anyhow::anyhow!("answered {status}"),
            ));
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            return serde_json::from_str("null").map_err(|e| ApiError::unavailable(self.name, e));
        }
        res.json()
            .await
            .map_err(|e| ApiError::unavailable(self.name, e))
    }

    pub async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ApiError> {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ApiError> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}

/// A list of ids, as internal requests carry them.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ids {
    pub ids: Vec<Id>,
}

/// `(follower, followee)` pairs, as internal requests carry them.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pairs {
    pub pairs: Vec<(Id, Id)>,
}

/// Posts to hydrate, for a viewer or for nobody in particular.
#[derive(Debug, Serialize, Deserialize)]
pub struct PostIds {
    pub ids: Vec<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewer: Option<Id>,
}

/// A page of the graph on the wire (keys as strings: they are 64-bit).
#[derive(Debug, Serialize, Deserialize)]
pub struct GraphPageWire {
    pub users: Vec<Id>,
    pub keys: Vec<Id>,
    pub more: bool,
}

impl From<GraphPage> for GraphPageWire {
    fn from(p: GraphPage) -> Self {
        GraphPageWire {
            users: p.users,
            keys: p.keys.into_iter().map(Id).collect(),
            more: p.more,
        }
    }
}

/// Counts by user id, on the wire.
pub type CountsWire = HashMap<String, FollowCounts>;

#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub users: Vec<Id>,
    pub post: Id,
    pub author: Id,
}

/// Deliveries of many posts to many timelines, on the wire: each entry (post, author)
/// once, and each timeline with the indexes of its entries.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Deliveries {
    pub entries: Vec<(Id, Id)>,
    pub timelines: Vec<(Id, Vec<u32>)>,
}

impl Deliveries {
    /// The timelines with their entries; `None` when an index points at no entry.
    pub fn resolve(self) -> Option<Vec<(Id, Vec<TimelineEntry>)>> {
        let entries: Vec<TimelineEntry> = self
            .entries
            .into_iter()
            .map(|(post, author)| TimelineEntry { post, author })
            .collect();
        self.timelines
            .into_iter()
            .map(|(user, at)| {
                let mine = at
                    .iter()
                    .map(|i| entries.get(*i as usize).copied())
                    .collect::<Option<Vec<_>>>()?;
                Some((user, mine))
            })
            .collect()
    }

    /// `timelines` in bodies of about `max_bytes` of JSON each (a body is never empty,
    /// whatever one timeline takes).
    pub fn split(timelines: &[(Id, Vec<TimelineEntry>)], max_bytes: usize) -> Vec<Deliveries> {
        // What a timeline and an entry take in JSON, at most: an id is a string of up to
        // 20 digits, an index up to 10 digits.
        const TIMELINE: usize = 30;
        const ENTRY: usize = 50;
        const INDEX: usize = 11;
        let mut out = Vec::new();
        let mut body = Deliveries::default();
        let mut index: HashMap<TimelineEntry, u32> = HashMap::new();
        let mut size = 0;
        for (user, entries) in timelines {
            let cost = TIMELINE + entries.len() * (INDEX + ENTRY);
            if size + cost > max_bytes && !body.timelines.is_empty() {
                out.push(std::mem::take(&mut body));
                index.clear();
                size = 0;
            }
            let mut at = Vec::with_capacity(entries.len());
            for e in entries {
                let i = *index.entry(*e).or_insert_with(|| {
                    body.entries.push((e.post, e.author));
                    size += ENTRY;
                    (body.entries.len() - 1) as u32
                });
                at.push(i);
            }
            size += TIMELINE + at.len() * INDEX;
            body.timelines.push((*user, at));
        }
        if !body.timelines.is_empty() {
            out.push(body);
        }
        out
    }
}

/// The JSON a delivery call carries at most (the services' body limit is 64 KiB).
const DELIVERIES_BYTES: usize = 48 * 1024;

/// Delivery calls in flight at once.
const DELIVERY_CALLS: usize = 4;

fn page_query(p: PageRequest) -> String {
    match p.before {
        Some(b) => format!("limit={}&before={b}", p.limit),
        None => format!("limit={}", p.limit),
    }
}

/// ReadService, over HTTP.
pub struct HttpDirectory(pub Peer);

#[async_trait]
impl Directory for HttpDirectory {
    async fn users(&self, ids: &[Id]) -> Result<Vec<User>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.0
            .post("/internal/v1/users", &Ids { ids: ids.to_vec() })
            .await
    }

    async fn posts(&self, ids: &[Id]) -> Result<Vec<Post>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.0
            .post("/internal/v1/posts", &Ids { ids: ids.to_vec() })
            .await
    }

    async fn posts_seen_by(&self, ids: &[Id], viewer: Id) -> Result<Vec<Post>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let body = PostIds {
            ids: ids.to_vec(),
            viewer: Some(viewer),
        };
        self.0.post("/internal/v1/posts", &body).await
    }

    async fn user_exists(&self, id: Id) -> Result<bool, ApiError> {
        Ok(!self.users(&[id]).await?.is_empty())
    }

    async fn user_data(&self, user: Id) -> Result<UserData, ApiError> {
        self.0.get(&format!("/internal/v1/users/{user}/data")).await
    }

    async fn home(&self, user: Id, limit: usize) -> Result<Vec<Post>, ApiError> {
        self.0
            .get(&format!("/internal/v1/users/{user}/home?limit={limit}"))
            .await
    }
}

/// UserGraphService, over HTTP.
pub struct HttpGraph(pub Peer);

#[async_trait]
impl SocialGraph for HttpGraph {
    async fn followers(&self, user: Id, page: PageRequest) -> Result<GraphPage, ApiError> {
        let w: GraphPageWire = self
            .0
            .get(&format!(
                "/internal/v1/graph/{user}/followers?{}",
                page_query(page)
            ))
            .await?;
        Ok(GraphPage {
            users: w.users,
            keys: w.keys.into_iter().map(Id::get).collect(),
            more: w.more,
        })
    }

    async fn all_followees(&self, user: Id) -> Result<Vec<Id>, ApiError> {
        self.0
            .get(&format!("/internal/v1/graph/{user}/followees"))
            .await
    }

    async fn counts(&self, users: &[Id]) -> Result<HashMap<Id, FollowCounts>, ApiError> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let w: CountsWire = self
            .0
            .post(
                "/internal/v1/graph/counts",
                &Ids {
                    ids: users.to_vec(),
                },
            )
            .await?;
        Ok(w.into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect())
    }

    async fn followees_above(&self, user: Id, threshold: u64) -> Result<Vec<Id>, ApiError> {
        self.0
            .get(&format!(
                "/internal/v1/graph/{user}/followees?above={threshold}"
            ))
            .await
    }
    async fn edges_of(&self, user: Id) -> Result<UserEdges, ApiError> {
        self.0
            .get(&format!("/internal/v1/graph/{user}/edges"))
            .await
    }

    async fn follows(&self, pairs: &[(Id, Id)]) -> Result<Vec<bool>, ApiError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let body = Pairs {
            pairs: pairs.to_vec(),
        };
        self.0.post("/internal/v1/graph/follows", &body).await
    }

    async fn hidden_from(&self, user: Id) -> Result<Hidden, ApiError> {
        self.0
            .get(&format!("/internal/v1/graph/{user}/hidden"))
            .await
    }

    async fn home_context(&self, user: Id, threshold: u64) -> Result<HomeContext, ApiError> {
        self.0
            .get(&format!("/internal/v1/graph/{user}/home?above={threshold}"))
            .await
    }
}

/// TimelineService, over HTTP.
pub struct HttpTimelines(pub Peer);

#[async_trait]
impl Timelines for HttpTimelines {
    async fn page(&self, user: Id, page: PageRequest) -> Result<Vec<Id>, ApiError> {
        self.0
            .get(&format!(
                "/internal/v1/timelines/{user}?{}",
                page_query(page)
            ))
            .await
    }

    async fn deliver(&self, users: &[Id], entry: TimelineEntry) -> Result<(), ApiError> {
        let body = Delivery {
            users: users.to_vec(),
            post: entry.post,
            author: entry.author,
        };
        self.0.post("/internal/v1/timelines/deliver", &body).await
    }

    async fn deliver_each(&self, timelines: &[(Id, Vec<TimelineEntry>)]) -> Result<(), ApiError> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let bodies = Deliveries::split(timelines, DELIVERIES_BYTES);
        stream::iter(bodies)
            .map(|body| async move {
                self.0
                    .post::<_, ()>("/internal/v1/timelines/deliveries", &body)
                    .await
            })
            .buffer_unordered(DELIVERY_CALLS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn retract(&self, users: &[Id], post: Id) -> Result<(), ApiError> {
        let body = Delivery {
            users: users.to_vec(),
            post,
            author: Id(0),
        };
        self.0.post("/internal/v1/timelines/retract", &body).await
    }

    async fn backfill(&self, follower: Id, followee: Id) -> Result<(), ApiError> {
        self.0
            .post(
                &format!("/internal/v1/timelines/{follower}/backfill/{followee}"),
                &(),
            )
            .await
    }

    async fn purge(&self, follower: Id, followee: Id) -> Result<(), ApiError> {
        self.0
            .post(
                &format!("/internal/v1/timelines/{follower}/purge/{followee}"),
                &(),
            )
            .await
    }
}

/// AuthService's published keys, over HTTP.
pub struct HttpJwks(pub Peer);

#[async_trait]
impl crate::token::KeySource for HttpJwks {
    async fn fetch(&self) -> anyhow::Result<crate::token::Jwks> {
        Ok(self.0.get("/.well-known/jwks.json").await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_split_into_bodies_within_the_limit_and_resolve_to_what_was_split() {
        // 3,000 timelines, each with up to three of five entries of 64-bit ids.
        let entries: Vec<TimelineEntry> = (0..5u64)
            .map(|i| TimelineEntry {
                post: Id(u64::MAX - i),
                author: Id(u64::MAX / 3 + i),
            })
            .collect();
        let timelines: Vec<(Id, Vec<TimelineEntry>)> = (0..3000u64)
            .map(|u| {
                let mine = (0..=(u % 3))
                    .map(|k| entries[((u + k) % 5) as usize])
                    .collect();
                (Id(u64::MAX - 1000 - u), mine)
            })
            .collect();
        let bodies = Deliveries::split(&timelines, DELIVERIES_BYTES);
        assert!(bodies.len() > 1, "{} bodies", bodies.len());
        let mut back = Vec::new();
        for b in bodies {
            let json = serde_json::to_vec(&b).unwrap();
            assert!(json.len() <= DELIVERIES_BYTES, "{} bytes", json.len());
            let b: Deliveries = serde_json::from_slice(&json).unwrap();
            back.extend(b.resolve().unwrap());
        }
        assert_eq!(back, timelines);
        // A timeline larger than a body still goes, in a body of its own.
        let big = vec![(Id(1), entries.repeat(2000))];
        assert_eq!(Deliveries::split(&big, 1000).len(), 1);
        // An index past the entries resolves to nothing.
        let bad = Deliveries {
            entries: vec![(Id(1), Id(2))],
            timelines: vec![(Id(3), vec![0, 1])],
        };
        assert!(bad.resolve().is_none());
    }
}
