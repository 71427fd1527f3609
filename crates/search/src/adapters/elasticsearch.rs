//! The search index on Elasticsearch 8 or OpenSearch 2, over the REST API: the deployed
//! adapter. Only the common API is used: index creation with mappings, `_bulk`, and
//! `_search` with `bool`, `term`, `prefix` and `range`, sorted by id.
//!
//! Terms arrive already made (see [`crate::text`]) and are stored as `keyword` arrays, so
//! matching is exact and analyzer-free, the same as the embedded index. Documents are
//! keyed by the entity id, so indexing twice replaces and deleting twice is harmless.
//! Order and cursors use `key`, the id as 20 zero-padded digits: lexical order is id order,
//! and no JSON number (a double, in some clients and emulators) has to carry 64 bits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chirp_core::page::PageRequest;
use chirp_core::Id;
use serde_json::{json, Value};

use crate::ports::{Hits, IndexBackend, IndexOp};
use crate::text::PostQuery;

fn key(id: u64) -> String {
    format!("{id:020}")
}

pub struct ElasticIndex {
    http: reqwest::Client,
    base: String,
    posts: String,
    users: String,
    /// Set once both indices are known to exist.
    ready: AtomicBool,
}

impl ElasticIndex {
    /// `url`: the cluster (`http://host:9200`); `prefix`: of both index names.
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(ElasticIndex {
            http,
            base: url.trim_end_matches('/').to_owned(),
            posts: format!("{prefix}posts"),
            users: format!("{prefix}users"),
            ready: AtomicBool::new(false),
        })
    }

    async fn ensure_indices(&self) -> anyhow::Result<()> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let keyword = json!({"type": "keyword"});
        let long = json!({"type": "long"});
        let mappings = [
            (
                &self.posts,
                json!({"key": keyword, "author": long, "words": keyword, "tags": keyword}),
            ),
            (
                &self.users,
                json!({"key": keyword, "handle": keyword, "name": keyword, "name_words": keyword}),
            ),
        ];
        for (index, properties) in mappings {
            let url = format!("{}/{index}", self.base);
            let exists = self
                .http
                .head(&url)
                .send()
                .await
                .context("asking for the index")?;
            if exists.status().is_success() {
                continue;
            }
            let res = self
                .http
                .put(&url)
                .json(&json!({"mappings": {"dynamic": "strict", "properties": properties}}))
                .send()
                .await?;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let raced = body["error"]["type"] == "resource_already_exists_exception";
            anyhow::ensure!(
                status.is_success() || raced,
                "creating index {index}: {status} {body}"
            );
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    async fn search(&self, index: &str, query: Value, page: PageRequest) -> anyhow::Result<Hits> {
        self.ensure_indices().await?;
        let mut filter = Vec::new();
        if let Some(before) = page.before {
            filter.push(json!({"range": {"key": {"lt": key(before)}}}));
        }
        let body = json!({
            "query": {"bool": {"must": [query], "filter": filter}},
            "sort": [{"key": "desc"}],
            "size": page.limit + 1,
            "_source": false,
        });
        let res = self
            .http
            .post(format!("{}/{index}/_search", self.base))
            .json(&body)
            .send()
            .await?;
        let status = res.status();
        let answer: Value = res.json().await?;
        anyhow::ensure!(status.is_success(), "search failed: {status} {answer}");
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let more = hits.len() > page.limit;
        let ids = hits
            .iter()
            .take(page.limit)
            .filter_map(|h| h["_id"].as_str()?.parse().ok().map(Id))
            .collect();
        Ok(Hits { ids, more })
    }
}

impl ElasticIndex {
    /// Removes `user` and every post of theirs, visible to searches when this answers.
    async fn remove_user(&self, user: Id) -> anyhow::Result<()> {
        self.ensure_indices().await?;
        let res = self
            .http
            .delete(format!(
                "{}/{}/_doc/{user}?refresh=true",
                self.base, self.users
            ))
            .send()
            .await?;
        let status = res.status();
        anyhow::ensure!(
            status.is_success() || status == reqwest::StatusCode::NOT_FOUND,
            "removing user {user} failed: {status} {}",
            res.text().await.unwrap_or_default()
        );
        let res = self
            .http
            .post(format!(
                "{}/{}/_delete_by_query?refresh=true&conflicts=proceed",
                self.base, self.posts
            ))
            .json(&json!({"query": {"term": {"author": user.get()}}}))
            .send()
            .await?;
        let status = res.status();
        anyhow::ensure!(
            status.is_success(),
            "removing the posts of user {user} failed: {status} {}",
            res.text().await.unwrap_or_default()
        );
        Ok(())
    }

    async fn bulk(&self, ops: Vec<IndexOp>) -> anyhow::Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.ensure_indices().await?;
        let mut body = String::new();
        for op in &ops {
            let (action, doc) = match op {
                IndexOp::Post {
                    id,
                    author,
                    words,
                    tags,
                } => (
                    json!({"index": {"_index": self.posts, "_id": id.to_string()}}),
                    Some(
                        json!({"key": key(id.get()), "author": author.get(), "words": words, "tags": tags}),
                    ),
                ),
                IndexOp::RemovePost { id } => (
                    json!({"delete": {"_index": self.posts, "_id": id.to_string()}}),
                    None,
                ),
                // Done by `remove_user` (`apply_async` splits the ops there).
                IndexOp::RemoveUser { .. } => continue,
                IndexOp::User {
                    id,
                    handle_key,
                    name_key,
                } => (
                    json!({"index": {"_index": self.users, "_id": id.to_string()}}),
                    Some(json!({
                        "key": key(id.get()),
                        "handle": handle_key,
                        "name": name_key,
                        "name_words": name_key.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>(),
                    })),
                ),
            };
            body.push_str(&action.to_string());
            body.push('\n');
            if let Some(doc) = doc {
                body.push_str(&doc.to_string());
                body.push('\n');
            }
        }
        let res = self
            .http
            .post(format!("{}/_bulk?refresh=true", self.base))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await?;
        let status = res.status();
        let answer: Value = res.json().await?;
        anyhow::ensure!(
            status.is_success(),
            "bulk indexing failed: {status} {answer}"
        );
        // A delete of a document that is not there is fine; any other item error is not.
        for item in answer["items"].as_array().into_iter().flatten() {
            for (kind, result) in item.as_object().into_iter().flatten() {
                let missing = kind == "delete" && result["status"] == 404;
                anyhow::ensure!(
                    result.get("error").is_none() || missing,
                    "bulk item failed: {result}"
                );
            }
        }
        Ok(())
    }
}

#[async_trait]
impl IndexBackend for ElasticIndex {
    const DEPENDENCY: &'static str = "elasticsearch";

    async fn apply_async(&self, ops: Vec<IndexOp>) -> anyhow::Result<()> {
        // A deleted account's posts go by a query of their own, in the ops' order.
        let mut run = Vec::new();
        for op in ops {
            match op {
                IndexOp::RemoveUser { id } => {
                    self.bulk(std::mem::take(&mut run)).await?;
                    self.remove_user(id).await?;
                }
                other => run.push(other),
            }
        }
        self.bulk(run).await
    }

    async fn posts_now(&self, q: &PostQuery, page: PageRequest) -> anyhow::Result<Hits> {
        let mut must: Vec<Value> = q
            .words
            .iter()
            .map(|w| json!({"term": {"words": w}}))
            .collect();
        must.extend(q.tags.iter().map(|t| json!({"term": {"tags": t}})));
        self.search(&self.posts, json!({"bool": {"must": must}}), page)
            .await
    }

    async fn users_now(&self, prefix: &str, page: PageRequest) -> anyhow::Result<Hits> {
        let mut should = vec![json!({"prefix": {"name": prefix}})];
        if !prefix.contains(' ') {
            should.push(json!({"prefix": {"handle": prefix}}));
            should.push(json!({"prefix": {"name_words": prefix}}));
        }
        let query = json!({"bool": {"should": should, "minimum_should_match": 1}});
        self.search(&self.users, query, page).await
    }

    async fn ping_now(&self) -> anyhow::Result<()> {
        let res = self
            .http
            .get(format!("{}/_cluster/health", self.base))
            .send()
            .await
            .context("reaching Elasticsearch")?;
        anyhow::ensure!(
            res.status().is_success(),
            "cluster health: {}",
            res.status()
        );
        self.ensure_indices().await
    }
}
