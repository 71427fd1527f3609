//! SearchService's logic: what each event does to the index, and how a query reads.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chirp_core::events::{Batching, Event, EventBody, EventHandler, Topic};
use chirp_core::http::metrics::{Buckets, HistogramMetric};
use chirp_core::http::Telemetry;
use chirp_core::id::now_millis;
use chirp_core::model::{Post, User};
use chirp_core::page::{Cursor, Page, PageRequest, MAX_BATCHES, MAX_LIMIT};
use chirp_core::peers::Directory;
use chirp_core::traces;
use chirp_core::{ApiError, ApiResult, Id};

use crate::ports::{Hits, IndexOp, SearchIndex};
use crate::text::{hashtags, name_key, words, PostQuery};
use tracing::Instrument;

pub const GROUP: &str = "chirp-search";
pub const TOPICS: &[Topic] = &[Topic::Posts, Topic::Users];

/// The longest query accepted.
const MAX_QUERY_CHARS: usize = 256;

/// Time from a post's creation to its being searchable.
#[derive(Clone)]
pub struct SearchMetrics {
    pub indexing_lag: HistogramMetric,
}

impl SearchMetrics {
    pub fn new(telemetry: &Telemetry) -> Self {
        SearchMetrics {
            indexing_lag: telemetry.histogram_with(
                "search_indexing_lag_seconds",
                "Time from a post's creation to its being searchable",
                Buckets::Lag,
                &[("service", "search")],
            ),
        }
    }
}

pub struct SearchService {
    pub metrics: SearchMetrics,
    pub index: Arc<dyn SearchIndex>,
    pub directory: Arc<dyn Directory>,
}

fn query_text(q: Option<&str>) -> ApiResult<&str> {
    let q = q.unwrap_or_default();
    // The length of what was sent, white space included.
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::BadRequest(format!(
            "q must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let q = q.trim();
    if q.is_empty() {
        return Err(ApiError::BadRequest(
            "the q query parameter is required".into(),
        ));
    }
    Ok(q)
}

fn page_of<T>(items: Vec<T>, hits: &Hits, req: &PageRequest) -> Page<T> {
    let keys: Vec<u64> = hits.ids.iter().map(|id| id.get()).collect();
    Page::from_keys(items, &keys, req, hits.more)
}

impl SearchService {
    /// The posts that match `q`, newest first; for a `viewer`, with their state and
    /// without the posts of those who block the viewer or whom the viewer blocks. What is
    /// left out (so, or deleted since it was indexed) never shortens a page: further hits
    /// are read until the page is full or the hits end.
    pub async fn posts(
        &self,
        q: Option<&str>,
        req: PageRequest,
        viewer: Option<Id>,
    ) -> ApiResult<Page<Post>> {
        let query = PostQuery::parse(query_text(q)?);
        if query.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let mut items = Vec::with_capacity(req.limit);
        let mut last_given = None;
        let mut at = req;
        let mut batches = 0;
        let more = loop {
            let hits = self.index.posts(&query, at).await?;
            let Some(&last) = hits.ids.last() else {
                break false;
            };
            let found = match viewer {
                Some(v) => self.directory.posts_seen_by(&hits.ids, v).await?,
                None => self.directory.posts(&hits.ids).await?,
            };
            // `found` is in the order of the hits, less what is left out.
            let mut found = found.into_iter().peekable();
            let mut rest = hits.ids.iter();
            for id in rest.by_ref() {
                last_given = Some(*id);
                if found.peek().is_some_and(|p| p.id == *id) {
                    items.extend(found.next());
                    if items.len() == req.limit {
                        break;
                    }
                }
            }
            if items.len() == req.limit {
                break hits.more || rest.next().is_some();
            }
            if !hits.more {
                break false;
            }
            batches += 1;
            if batches == MAX_BATCHES {
                break true;
            }
            // Further hits in larger batches: what is left out came in a run.
            at.limit = MAX_LIMIT;
            at.before = Some(last.get());
        };
        let next_cursor = match last_given {
            Some(id) if more => Some(Cursor(id.get()).encode()),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn users(&self, q: Option<&str>, req: PageRequest) -> ApiResult<Page<User>> {
        let prefix = name_key(query_text(q)?);
        if prefix.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let hits = self.index.users(&prefix, req).await?;
        let users = self.directory.users(&hits.ids).await?;
        Ok(page_of(users, &hits, &req))
    }
}

/// What an event asks of the index.
pub fn index_op(event: &Event) -> Option<IndexOp> {
    match &event.body {
        // A repost has no text of its own: its original is what search finds.
        EventBody::PostCreated {
            repost_of: Some(_), ..
        } => None,
        EventBody::PostCreated {
            post_id,
            author_id,
            text,
            ..
        }
        | EventBody::PostEdited {
            post_id,
            author_id,
            text,
            ..
        } => Some(IndexOp::Post {
            id: *post_id,
            author: *author_id,
            words: {
                let mut w = words(text);
                w.sort();
                w.dedup();
                w
            },
            tags: hashtags(text),
        }),
        EventBody::PostDeleted { post_id, .. } => Some(IndexOp::RemovePost { id: *post_id }),
        EventBody::UserDeleted { user_id } => Some(IndexOp::RemoveUser { id: *user_id }),
        EventBody::UserCreated {
            user_id,
            handle,
            display_name,
            ..
        }
        | EventBody::UserUpdated {
            user_id,
            handle,
            display_name,
            ..
        } => Some(IndexOp::User {
            id: *user_id,
            handle_key: handle.to_lowercase(),
            name_key: name_key(display_name),
        }),
        EventBody::FollowCreated { .. }
        | EventBody::FollowDeleted { .. }
        | EventBody::BlockCreated { .. }
        | EventBody::BlockDeleted { .. }
        | EventBody::MuteCreated { .. }
        | EventBody::MuteDeleted { .. }
        | EventBody::LikeCreated { .. }
        | EventBody::LikeDeleted { .. }
        | EventBody::Unknown => None,
    }
}

#[async_trait]
impl EventHandler for SearchService {
    /// Each batch ends in a commit of the index, whose cost hardly depends on its size:
    /// at most two a second, as a search engine refreshes (Elasticsearch: every second).
    fn batching(&self) -> Batching {
        Batching {
            max: 8192,
            every: Duration::from_millis(500),
        }
    }

    async fn handle(&self, events: &[Event]) -> anyhow::Result<()> {
        // One span per event that changes the index, in its request's trace, open until
        // the batch is indexed; the one bulk write is the first event's child and follows
        // from the others.
        let (ops, spans): (Vec<IndexOp>, Vec<tracing::Span>) = events
            .iter()
            .filter_map(|e| Some((index_op(e)?, traces::consume_span(GROUP, e))))
            .unzip();
        if ops.is_empty() {
            return Ok(());
        }
        let bulk = match spans.first() {
            Some(first) => tracing::info_span!(parent: first, "index", otel.name = "index"),
            None => tracing::Span::none(),
        };
        for other in spans.iter().skip(1) {
            bulk.follows_from(other);
        }
        self.index.apply(ops).instrument(bulk).await?;
        let now = now_millis() as i64;
        for e in events {
            if let EventBody::PostCreated { created_at_ms, .. } = &e.body {
                let lag_ms = (now - created_at_ms).max(0);
                self.metrics.indexing_lag.observe(lag_ms as f64 / 1000.0);
            }
        }
        Ok(())
    }
}
