//! The public API, as the benchmark uses it, and the population it builds through it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use chirp_testkit::api::Api;
pub use chirp_testkit::api::{series_of, sum_of};
use futures::stream::{self, StreamExt};
use reqwest::header::HeaderValue;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::plan::Plan;
use crate::progress::Progress;
use crate::wire::Wire;

/// A Chirp to measure: `chirp all`, or the gateway of a stack.
#[derive(Clone)]
pub struct Target {
    pub base: String,
    pub http: reqwest::Client,
    /// One permit per request on the wire, so at most this many connections to the
    /// target: an open-loop client facing a stalled server would otherwise open one for
    /// every request in flight, past what the server (or the gateway in front of it) and
    /// this process can hold. A request that finds them all busy waits for one, and the
    /// wait counts in its latency (which runs from when it was due): the schedule does
    /// not slow down for it.
    connections: Arc<Semaphore>,
    /// The load's requests go this way (the population's and the metrics' by `api`).
    wire: Arc<Wire>,
    connections_cap: usize,
    /// The public API's client, for the population and the metrics pages.
    api: Api,
}

/// A signed-up user of the population.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub access: String,
    /// `Bearer <access token>`, made once: the load sends it with every request.
    pub authorization: HeaderValue,
}

pub const PASSWORD: &str = "benchmark password";

impl Target {
    /// The Chirp at `base`, with at most `connections` requests (and so connections) to it
    /// at once.
    pub fn new(base: &str, connections: usize) -> anyhow::Result<Target> {
        anyhow::ensure!(connections > 0, "no connections to send requests on");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            // Idle connections are let go before a gateway would close them (NGINX's
            // keepalive_timeout is 75 s), so a request is never sent on one that the
            // other end is closing.
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Target {
            base: base.trim_end_matches('/').to_owned(),
            api: Api::with_client(base, http.clone()),
            http,
            connections: Arc::new(Semaphore::new(connections)),
            connections_cap: connections,
            wire: Arc::new(Wire::new(
                base.trim_end_matches('/'),
                Duration::from_secs(30),
            )?),
        })
    }

    /// Signs up `handle` once a connection is free (held until the whole answer is read).
    pub async fn signup(&self, handle: &str) -> anyhow::Result<Member> {
        let _connection = self.connections.acquire().await?;
        let email = format!("{handle}@bench.example");
        let session = self.api.signup(handle, &email, PASSWORD).await?;
        Ok(Member {
            authorization: HeaderValue::from_str(&format!("Bearer {}", session.access))?,
            id: session.id,
            access: session.access,
        })
    }

    pub async fn follow(&self, who: &Member, whom: &str) -> anyhow::Result<()> {
        let _connection = self.connections.acquire().await?;
        self.api.follow(&who.access, whom).await
    }

    /// Opens connections ahead of a load of `rate` requests per second: enough for a
    /// hundredth of a second of it, within the connection cap.
    pub async fn warm(&self, rate: f64) -> anyhow::Result<()> {
        let n = ((rate / 100.0).ceil() as usize).clamp(16, self.connections_cap);
        self.wire.warm(n).await
    }

    /// Sends a request of the load on [`Wire`] once a connection is free; its answer,
    /// which must have status `want`.
    async fn load_call(
        &self,
        method: &str,
        path: &str,
        who: Option<&Member>,
        body: Option<&[u8]>,
        want: u16,
    ) -> anyhow::Result<Vec<u8>> {
        let _connection = self.connections.acquire().await?;
        let auth = who.map(|m| m.authorization.as_bytes());
        let answer = self.wire.send(method, path, auth, body).await?;
        if answer.status != want {
            bail!("{}: {}", answer.status, answer.text());
        }
        Ok(answer.body)
    }

    /// Posts `text`; the new post's id.
    pub async fn post(&self, who: &Member, text: &str) -> anyhow::Result<String> {
        let body = serde_json::to_vec(&json!({ "text": text }))?;
        let answer = self
            .load_call("POST", "/api/v1/posts", Some(who), Some(&body), 201)
            .await?;
        let post: IdOnly = serde_json::from_slice(&answer)?;
        Ok(post.id)
    }

    /// Likes `post` (again: no change).
    pub async fn like(&self, who: &Member, post: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/posts/{post}/like");
        self.load_call("POST", &path, Some(who), None, 204)
            .await
            .map(|_| ())
    }

    /// Reposts `post`: 201, or 200 when `who` reposted it before.
    pub async fn repost(&self, who: &Member, post: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/posts/{post}/repost");
        let _connection = self.connections.acquire().await?;
        let answer = self
            .wire
            .send("POST", &path, Some(who.authorization.as_bytes()), None)
            .await?;
        if answer.status != 201 && answer.status != 200 {
            bail!("{}: {}", answer.status, answer.text());
        }
        Ok(())
    }

    /// Replies to `post` with `text`; the reply's id.
    pub async fn reply(&self, who: &Member, post: &str, text: &str) -> anyhow::Result<String> {
        let body = serde_json::to_vec(&json!({ "text": text, "reply_to": post }))?;
        let answer = self
            .load_call("POST", "/api/v1/posts", Some(who), Some(&body), 201)
            .await?;
        let reply: IdOnly = serde_json::from_slice(&answer)?;
        Ok(reply.id)
    }

    /// The ids on the first page of `who`'s home timeline.
    pub async fn home(&self, who: &Member, limit: usize) -> anyhow::Result<Vec<String>> {
        let path = format!("/api/v1/timelines/home?limit={limit}");
        page_ids(&self.load_call("GET", &path, Some(who), None, 200).await?)
    }

    /// The first page of `user`'s own posts, as `viewer` sees it.
    pub async fn user_posts(
        &self,
        viewer: &Member,
        user: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<String>> {
        let path = format!("/api/v1/users/{user}/posts?limit={limit}");
        page_ids(
            &self
                .load_call("GET", &path, Some(viewer), None, 200)
                .await?,
        )
    }

    /// `GET /healthz`: the HTTP floor. On `chirp all` it is the server's own; through a
    /// gateway, the gateway routes it to one service's (deploy/nginx/chirp-routes.conf).
    pub async fn floor(&self) -> anyhow::Result<()> {
        self.load_call("GET", "/healthz", None, None, 200)
            .await
            .map(|_| ())
    }

    /// The `/metrics` pages at `urls`, one after the other: a metric's series on all of
    /// them, for [`sum_of`] and [`series_of`]. (Not load: no connection of the target's is
    /// waited for.)
    pub async fn metrics(&self, urls: &[String]) -> anyhow::Result<String> {
        let mut text = String::new();
        for url in urls {
            let page = self.api.metrics(url).await?;
            text.push_str(&page);
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        Ok(text)
    }

    /// The sum of a metric's series on the `/metrics` pages at `urls`.
    pub async fn metric(&self, urls: &[String], name: &str) -> anyhow::Result<f64> {
        Ok(sum_of(&self.metrics(urls).await?, name))
    }
}

/// The ids of a page of posts. Only the ids are kept: the load reads a page's every byte,
/// but builds no document of it.
fn page_ids(body: &[u8]) -> anyhow::Result<Vec<String>> {
    let page: PageIds = serde_json::from_slice(body)?;
    Ok(page.items.into_iter().map(|p| p.id).collect())
}

/// A page of posts, as far as the benchmark reads it.
#[derive(Deserialize)]
struct PageIds {
    items: Vec<IdOnly>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// The population: the plan's users signed up, following whom the plan says, each with
/// a few posts, and every home timeline read once (as a logged-in user's would be).
pub struct Population {
    pub plan: Plan,
    pub members: Vec<Member>,
    /// The posts made while the population was built: what the engagement mix likes,
    /// reposts and replies to.
    pub posts: Vec<String>,
}

pub async fn build(
    target: &Target,
    plan: Plan,
    posts_each: usize,
    tag: &str,
    concurrency: usize,
) -> anyhow::Result<Population> {
    let n = plan.users();
    let bar = Progress::new("signup", n as u64);
    let members: Vec<Member> = stream::iter(0..n)
        .map(|i| {
            let bar = &bar;
            async move {
                let m = target.signup(&format!("{tag}_{i}")).await;
                bar.inc();
                m
            }
        })
        .buffered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    bar.finish();

    let members = &members;
    let pairs: Vec<(usize, u32)> = plan
        .follows
        .iter()
        .enumerate()
        .flat_map(|(u, f)| f.iter().map(move |v| (u, *v)))
        .collect();
    all_ok("follow", pairs, concurrency, |(u, v)| {
        target.follow(&members[u], &members[v as usize].id)
    })
    .await?;
    let posts: Vec<(usize, usize)> = (0..n)
        .flat_map(|u| (0..posts_each).map(move |k| (u, k)))
        .collect();
    let made = std::sync::Mutex::new(Vec::with_capacity(posts.len()));
    all_ok("posts", posts, concurrency, |(u, k)| {
        let made = &made;
        async move {
            let id = target
                .post(&members[u], &format!("post {k} of user {u} #bench"))
                .await?;
            made.lock().unwrap_or_else(|e| e.into_inner()).push(id);
            Ok(())
        }
    })
    .await?;
    let posts = made.into_inner().unwrap_or_else(|e| e.into_inner());
    all_ok("warm", (0..n).collect(), concurrency, |u| async move {
        target.home(&members[u], 10).await.map(|_| ())
    })
    .await?;
    let members = members.clone();
    Ok(Population {
        plan,
        members,
        posts,
    })
}

/// Runs `f` on every item, `concurrency` at a time, with a progress bar; fails if any did.
async fn all_ok<I, F, Fut, T>(
    label: &str,
    items: Vec<I>,
    concurrency: usize,
    f: F,
) -> anyhow::Result<()>
where
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let bar = Progress::new(label, items.len() as u64);
    let mut first: Option<anyhow::Error> = None;
    let mut failed = 0;
    let mut results = stream::iter(items.into_iter().map(&f)).buffer_unordered(concurrency);
    while let Some(r) = results.next().await {
        bar.inc();
        if let Err(e) = r {
            failed += 1;
            first.get_or_insert(e);
        }
    }
    bar.finish();
    match first {
        Some(e) => Err(e.context(format!("{failed} of the {label} requests failed"))),
        None => Ok(()),
    }
}
