//! One client of Chirp's public API for tests and tools (the API suite, the stack tests,
//! the benchmark's population): sign up, post, follow, walk every page of a list, read
//! `/metrics`, and find a local stack's addresses in the file `scripts/stack.sh` writes.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;

use anyhow::{bail, Context};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// A Chirp at a base URL: `chirp all`, a service, or a gateway.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

/// A signed-up user and the tokens of its session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub handle: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Api::with_client(base, reqwest::Client::new())
    }

    pub fn with_client(base: &str, http: reqwest::Client) -> Self {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        json: Option<&Value>,
    ) -> anyhow::Result<Response> {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(j) = json {
            req = req.json(j);
        }
        req.send().await.with_context(|| format!("{method} {path}"))
    }

    /// Signs up `handle`; the session, or why not. While the server is busy hashing other
    /// passwords (503 `busy`, when many sign up at once), it waits as `Retry-After` says
    /// and tries again, for a minute at most: what a client of many signups does.
    pub async fn signup(
        &self,
        handle: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<Session> {
        let body = json!({"handle": handle, "email": email, "password": password});
        let patience = std::time::Instant::now();
        let res = loop {
            let res = self
                .send(Method::POST, "/api/v1/auth/signup", None, Some(&body))
                .await?;
            match busy_for(&res) {
                Some(wait) if patience.elapsed() < std::time::Duration::from_secs(60) => {
                    tokio::time::sleep(wait).await;
                }
                _ => break res,
            }
        };
        let t = expect(res, StatusCode::CREATED)
            .await
            .with_context(|| format!("signup of {handle}"))?;
        let field = |v: &Value, name: &str| -> anyhow::Result<String> {
            v.as_str()
                .map(str::to_owned)
                .with_context(|| format!("a signup answer without {name}: {t}"))
        };
        Ok(Session {
            id: field(&t["user"]["id"], "user.id")?,
            handle: handle.to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            access: field(&t["access_token"], "access_token")?,
            refresh: field(&t["refresh_token"], "refresh_token")?,
        })
    }

    /// `token`'s user follows `user`.
    pub async fn follow(&self, token: &str, user: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/users/{user}/follow");
        let res = self.send(Method::POST, &path, Some(token), None).await?;
        expect(res, StatusCode::NO_CONTENT).await.map(|_| ())
    }

    /// `token`'s user stops following `user`.
    pub async fn unfollow(&self, token: &str, user: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/users/{user}/follow");
        let res = self.send(Method::DELETE, &path, Some(token), None).await?;
        expect(res, StatusCode::NO_CONTENT).await.map(|_| ())
    }

    /// Posts `text` as `token`'s user; the post.
    pub async fn post(&self, token: &str, text: &str) -> anyhow::Result<Value> {
        let body = json!({ "text": text });
        let res = self
            .send(Method::POST, "/api/v1/posts", Some(token), Some(&body))
            .await?;
        expect(res, StatusCode::CREATED).await
    }

    /// Walks every page of the list at `path` (which may carry a query already) with pages
    /// of `limit`, calling `between` after each page; the ids seen, in order.
    pub async fn walk<F, Fut>(
        &self,
        path: &str,
        token: Option<&str>,
        limit: usize,
        between: F,
    ) -> anyhow::Result<Vec<String>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let items = self.walk_items(path, token, limit, between).await?;
        Ok(items
            .iter()
            .filter_map(|i| i["id"].as_str().map(str::to_owned))
            .collect())
    }

    /// [`Api::walk`], keeping every item whole.
    pub async fn walk_items<F, Fut>(
        &self,
        path: &str,
        token: Option<&str>,
        limit: usize,
        mut between: F,
    ) -> anyhow::Result<Vec<Value>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page_path = format!("{path}{sep}limit={limit}");
            if let Some(c) = &cursor {
                page_path.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let res = self.send(Method::GET, &page_path, token, None).await?;
            let page = expect(res, StatusCode::OK)
                .await
                .with_context(|| format!("GET {page_path}"))?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            anyhow::ensure!(items.len() <= limit, "a page larger than its limit: {page}");
            seen.extend(items);
            between().await;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(seen),
            }
        }
    }

    /// The Prometheus page at `url` (a service's own `/metrics`).
    pub async fn metrics(&self, url: &str) -> anyhow::Result<String> {
        self.http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("reading {url}"))?
            .text()
            .await
            .with_context(|| format!("reading {url}"))
    }
}

/// How long to wait before asking again, when `res` is a 503 that says the server is busy
/// for a moment (with `Retry-After`), not that something it needs is down.
pub fn busy_for(res: &Response) -> Option<std::time::Duration> {
    if res.status() != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let secs: u64 = res
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(std::time::Duration::from_secs(secs.clamp(1, 10)))
}

/// The body of `res`, which must have status `want` (null for an empty body).
pub async fn expect(res: Response, want: StatusCode) -> anyhow::Result<Value> {
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    if status != want {
        bail!("{status}, not {want}: {text}");
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))
}

/// The ids of a page's items.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The samples of `name` in a Prometheus text page: each series' labels (`{...}`, or
/// empty) and value. Other metrics, those whose names only begin with `name` included,
/// are not its.
pub fn series_of<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = if rest.starts_with('{') {
                let end = rest.rfind('}')?;
                (&rest[..=end], &rest[end + 1..])
            } else if rest.starts_with(' ') {
                ("", rest)
            } else {
                return None;
            };
            // The value, and perhaps a timestamp after it.
            let value = value.split_whitespace().next()?.parse::<f64>().ok()?;
            Some((labels, value))
        })
        .collect()
}

/// The sum of the samples of `name` in a Prometheus text page.
pub fn sum_of(text: &str, name: &str) -> f64 {
    series_of(text, name).iter().map(|(_, v)| v).sum()
}

/// The addresses of a local stack, as `scripts/stack.sh up` writes them to its `env`
/// file (`GATEWAY=...`, `READ=...`, `READ_PORT=...`, `POSTGRES_PORT=...`).
#[derive(Debug, Clone)]
pub struct StackEnv {
    vars: HashMap<String, String>,
}

impl StackEnv {
    pub fn read(path: &Path) -> anyhow::Result<StackEnv> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the stack's addresses in {}", path.display()))?;
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Ok(StackEnv { vars })
    }

    pub fn get(&self, name: &str) -> anyhow::Result<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("the stack's env file has no {name}"))
    }

    /// Every name the file holds, with its value.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn gateway(&self) -> anyhow::Result<&str> {
        self.get("GATEWAY")
    }

    /// The stack's PostgreSQL database.
    pub fn database_url(&self) -> anyhow::Result<String> {
        Ok(format!(
            "postgres://postgres@127.0.0.1:{}/chirp",
            self.get("POSTGRES_PORT")?
        ))
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

    #[test]
    fn series_keep_their_labels_and_values() {
        let page = "# HELP chirp_consumer_lag Events behind\n\
                    # TYPE chirp_consumer_lag gauge\n\
                    chirp_consumer_lag{service=\"fanout\",group=\"g\",topic=\"a b\",partition=\"0\"} 0\n\
                    chirp_consumer_lag{service=\"search\",group=\"s\",topic=\"t\",partition=\"1\"} 12 1700000000000\n\
                    chirp_consumer_lag_seconds 3\n\
                    chirp_unlabelled 2.5\n";
        assert_eq!(
            series_of(page, "chirp_consumer_lag"),
            vec![
                (
                    r#"{service="fanout",group="g",topic="a b",partition="0"}"#,
                    0.0
                ),
                (
                    r#"{service="search",group="s",topic="t",partition="1"}"#,
                    12.0
                ),
            ]
        );
        assert_eq!(series_of(page, "chirp_unlabelled"), vec![("", 2.5)]);
        assert!(series_of(page, "chirp_missing").is_empty());
        assert_eq!(sum_of(page, "chirp_consumer_lag"), 12.0);
    }

    #[test]
    fn cursors_are_percent_encoded() {
        assert_eq!(urlencode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
        assert_eq!(urlencode("AZaz09-._~"), "AZaz09-._~");
    }

    #[test]
    fn a_stack_env_file_names_its_addresses() {
        let dir = std::env::temp_dir().join(crate::unique("stackenv"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("env");
        std::fs::write(&file, "GATEWAY=http://127.0.0.1:1\nPOSTGRES_PORT=5\n").unwrap();
        let env = StackEnv::read(&file).unwrap();
        assert_eq!(env.gateway().unwrap(), "http://127.0.0.1:1");
        assert_eq!(
            env.database_url().unwrap(),
            "postgres://postgres@127.0.0.1:5/chirp"
        );
        assert!(env.get("READ").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
