//! The public API, as the benchmark uses it, and the population it builds through it.

use std::time::Duration;

use anyhow::{bail, Context};
use futures::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::plan::Plan;
use crate::progress::Progress;

/// A Chirp to measure: `chirp all`, or the gateway of a stack.
#[derive(Clone)]
pub struct Target {
    pub base: String,
    pub http: reqwest::Client,
}

/// A signed-up user of the population.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub token: String,
}

pub const PASSWORD: &str = "benchmark password";

impl Target {
    pub fn new(base: &str) -> anyhow::Result<Target> {
        Ok(Target {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(4096)
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn signup(&self, handle: &str) -> anyhow::Result<Member> {
        let res = self
            .http
            .post(self.url("/api/v1/auth/signup"))
            .json(
                &json!({"handle": handle, "email": format!("{handle}@bench.example"),
                          "password": PASSWORD}),
            )
            .send()
            .await?;
        let status = res.status();
        if status != StatusCode::CREATED {
            bail!("signup of {handle}: {status}: {}", res.text().await?);
        }
        let t: Value = res.json().await?;
        Ok(Member {
            id: t["user"]["id"]
                .as_str()
                .context("signup answer without user.id")?
                .to_owned(),
            token: t["access_token"]
                .as_str()
                .context("signup answer without access_token")?
                .to_owned(),
        })
    }

    pub async fn follow(&self, who: &Member, whom: &str) -> anyhow::Result<()> {
        let res = self
            .http
            .post(self.url(&format!("/api/v1/users/{whom}/follow")))
            .bearer_auth(&who.token)
            .send()
            .await?;
        expect(res, StatusCode::NO_CONTENT).await.map(|_| ())
    }

    /// Posts `text`; the new post's id.
    pub async fn post(&self, who: &Member, text: &str) -> anyhow::Result<String> {
        let res = self
            .http
            .post(self.url("/api/v1/posts"))
            .bearer_auth(&who.token)
            .json(&json!({ "text": text }))
            .send()
            .await?;
        let v = expect(res, StatusCode::CREATED).await?;
        Ok(v["id"].as_str().context("post without id")?.to_owned())
    }

    /// The ids on the first page of `who`'s home timeline.
    pub async fn home(&self, who: &Member, limit: usize) -> anyhow::Result<Vec<String>> {
        let res = self
            .http
            .get(self.url(&format!("/api/v1/timelines/home?limit={limit}")))
            .bearer_auth(&who.token)
            .send()
            .await?;
        ids(expect(res, StatusCode::OK).await?)
    }

    /// The first page of `user`'s own posts, as `viewer` sees it.
    pub async fn user_posts(
        &self,
        viewer: &Member,
        user: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<String>> {
        let res = self
            .http
            .get(self.url(&format!("/api/v1/users/{user}/posts?limit={limit}")))
            .bearer_auth(&viewer.token)
            .send()
            .await?;
        ids(expect(res, StatusCode::OK).await?)
    }

    /// `GET /healthz`: the HTTP floor.
    pub async fn floor(&self) -> anyhow::Result<()> {
        let res = self.http.get(self.url("/healthz")).send().await?;
        expect(res, StatusCode::OK).await.map(|_| ())
    }

    /// The sum of a metric's series on `metrics_url` (a `/metrics` page).
    pub async fn metric(&self, metrics_url: &str, name: &str) -> anyhow::Result<f64> {
        let text = self.http.get(metrics_url).send().await?.text().await?;
        Ok(sum_of(&text, name))
    }
}

/// The sum of the samples of `name` in a Prometheus text page.
pub fn sum_of(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn expect(res: reqwest::Response, want: StatusCode) -> anyhow::Result<Value> {
    let status = res.status();
    if status != want {
        bail!("{status}: {}", res.text().await.unwrap_or_default());
    }
    if status == StatusCode::NO_CONTENT {
        return Ok(Value::Null);
    }
    Ok(res.json().await?)
}

fn ids(page: Value) -> anyhow::Result<Vec<String>> {
    Ok(page["items"]
        .as_array()
        .context("a page without items")?
        .iter()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect())
}

/// The population: the plan's users signed up, following whom the plan says, each with
/// a few posts, and every home timeline read once (as a logged-in user's would be).
pub struct Population {
    pub plan: Plan,
    pub members: Vec<Member>,
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
    all_ok("posts", posts, concurrency, |(u, k)| async move {
        target
            .post(&members[u], &format!("post {k} of user {u} #bench"))
            .await
            .map(|_| ())
    })
    .await?;
    all_ok("warm", (0..n).collect(), concurrency, |u| async move {
        target.home(&members[u], 10).await.map(|_| ())
    })
    .await?;
    let members = members.clone();
    Ok(Population { plan, members })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sums_add_every_series_of_one_name_only() {
        let page = "# HELP x\nchirp_fanout_deliveries_total{service=\"fanout\"} 3\n\
                    chirp_fanout_deliveries_total{service=\"all\"} 4\n\
                    chirp_fanout_deliveries_total_created 99\n\
                    chirp_other 5\n";
        assert_eq!(sum_of(page, "chirp_fanout_deliveries_total"), 7.0);
        assert_eq!(sum_of(page, "chirp_missing"), 0.0);
    }
}
