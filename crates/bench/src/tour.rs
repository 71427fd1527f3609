//! The short run's tour of the public API: every public route, a few times, each with the
//! status it must answer. The mix touches three routes; the dashboards and alert rules
//! read series of every route and both login outcomes, so a short run against a stack
//! feeds each of them (scripts/check-prometheus-live.sh). Its own users, so that what it
//! does (a follow undone, a post deleted, a session ended) changes nothing measured.

use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

/// One request of the tour and its answer.
#[derive(Debug, Serialize)]
pub struct Call {
    pub method: String,
    /// The route's template, `{id}` for an id.
    pub route: String,
    pub want: u16,
    /// 0: no answer.
    pub status: u16,
    pub ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Tour {
    pub rounds: usize,
    pub calls: Vec<Call>,
    /// Each answer that was not the one wanted: what was sent and what came back.
    pub unexpected: Vec<String>,
}

impl Tour {
    pub fn summary(&self) -> String {
        let routes: std::collections::HashSet<(&str, &str)> = self
            .calls
            .iter()
            .map(|c| (c.method.as_str(), c.route.as_str()))
            .collect();
        let verdict = match self.unexpected.first() {
            None => "every answer as expected".to_owned(),
            Some(first) => format!("{} unexpected, e.g. {first}", self.unexpected.len()),
        };
        format!(
            "tour: {} rounds, {} requests on {} routes, {verdict}",
            self.rounds,
            self.calls.len(),
            routes.len()
        )
    }
}

const PASSWORD: &str = "tour of the routes";

struct Guide {
    http: Client,
    base: String,
    tour: Tour,
}

/// A request: `route` is its template, `path` the same with the ids in.
struct Req<'a> {
    method: Method,
    route: &'a str,
    path: String,
    token: Option<&'a str>,
    body: Option<Value>,
    want: StatusCode,
}

fn req(method: Method, route: &str, want: StatusCode) -> Req<'_> {
    Req {
        method,
        route,
        path: route.to_owned(),
        token: None,
        body: None,
        want,
    }
}

impl<'a> Req<'a> {
    fn id(mut self, id: &str) -> Self {
        self.path = self.path.replace("{id}", id);
        self
    }
    fn query(mut self, q: &str) -> Self {
        self.path = format!("{}?{q}", self.path);
        self
    }
    fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

impl Guide {
    /// Sends `r`; its JSON answer (`Null` when it has none) if the status is the one
    /// wanted, else `None`, the answer noted as unexpected.
    async fn send(&mut self, r: Req<'_>) -> Option<Value> {
        let mut b = self
            .http
            .request(r.method.clone(), format!("{}{}", self.base, r.path));
        if let Some(t) = r.token {
            b = b.bearer_auth(t);
        }
        if let Some(body) = &r.body {
            b = b.json(body);
        }
        let started = Instant::now();
        let (status, text) = match b.send().await {
            Ok(res) => (Some(res.status()), res.text().await.unwrap_or_default()),
            Err(e) => (None, format!("{e:#}")),
        };
        self.tour.calls.push(Call {
            method: r.method.to_string(),
            route: r.route.to_owned(),
            want: r.want.as_u16(),
            status: status.map_or(0, |s| s.as_u16()),
            ms: started.elapsed().as_secs_f64() * 1000.0,
        });
        if status != Some(r.want) {
            let text: String = text.chars().take(200).collect();
            let status = status.map_or("no answer".to_owned(), |s| s.to_string());
            self.tour.unexpected.push(format!(
                "{} {}: {status} (wanted {}) {text}",
                r.method, r.path, r.want
            ));
            return None;
        }
        Some(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A field of an answer; noted as unexpected when it is missing.
    fn field(&mut self, answer: &Value, pointer: &str, what: &str) -> Option<String> {
        let v = answer
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned);
        if v.is_none() {
            self.tour
                .unexpected
                .push(format!("{what}: no {pointer} in {answer}"));
        }
        v
    }

    async fn signup(&mut self, handle: &str) -> Option<(String, String)> {
        let body = json!({"handle": handle, "email": format!("{handle}@bench.example"),
                          "password": PASSWORD});
        let t = self
            .send(req(Method::POST, "/api/v1/auth/signup", StatusCode::CREATED).body(body))
            .await?;
        let id = self.field(&t, "/user/id", "signup")?;
        let token = self.field(&t, "/access_token", "signup")?;
        Some((id, token))
    }

    /// One round: two new users, `a` and `b`, through every route. A step whose answer
    /// a later one needs ends the round when it fails.
    async fn round(&mut self, handle: &str) -> Option<()> {
        use Method as M;
        use StatusCode as S;
        self.send(req(M::GET, "/healthz", S::OK)).await;
        self.send(req(M::GET, "/.well-known/jwks.json", S::OK))
            .await;
        let (a, _) = self.signup(&format!("{handle}a")).await?;
        let (b, b_token) = self.signup(&format!("{handle}b")).await?;
        let b_token = b_token.as_str();
        let login = |password: &str| json!({"login": format!("{handle}a"), "password": password});
        let wrong = req(M::POST, "/api/v1/auth/login", S::UNAUTHORIZED);
        self.send(wrong.body(login("not the password"))).await;
        let tokens = self
            .send(req(M::POST, "/api/v1/auth/login", S::OK).body(login(PASSWORD)))
            .await?;
        let refresh = self.field(&tokens, "/refresh_token", "login")?;
        let refresh = json!({ "refresh_token": refresh });
        let tokens = self
            .send(req(M::POST, "/api/v1/auth/refresh", S::OK).body(refresh))
            .await?;
        let token = self.field(&tokens, "/access_token", "refresh")?;
        let refresh = self.field(&tokens, "/refresh_token", "refresh")?;
        let token = token.as_str();
        self.send(req(M::GET, "/api/v1/auth/me", S::OK).token(token))
            .await;
        self.send(req(M::GET, "/api/v1/users/{id}", S::OK).id(&a))
            .await;
        let by_handle = req(M::GET, "/api/v1/users", S::OK).query(&format!("handle={handle}a"));
        self.send(by_handle).await;
        let follow = "/api/v1/users/{id}/follow";
        self.send(req(M::POST, follow, S::NO_CONTENT).id(&a).token(b_token))
            .await;
        self.send(req(M::GET, "/api/v1/users/{id}/followers", S::OK).id(&a))
            .await;
        self.send(req(M::GET, "/api/v1/users/{id}/following", S::OK).id(&b))
            .await;
        let text = json!({ "text": format!("a tour of the routes #{handle}") });
        let post = req(M::POST, "/api/v1/posts", S::CREATED).token(token);
        let post = self.send(post.body(text)).await?;
        let post = self.field(&post, "/id", "post")?;
        let one = "/api/v1/posts/{id}";
        self.send(req(M::GET, one, S::OK).id(&post)).await;
        let edit = json!({ "text": format!("a tour of the routes, edited #{handle}") });
        let edit = req(M::PATCH, one, S::OK).id(&post).token(token).body(edit);
        self.send(edit).await;
        self.send(req(M::GET, "/api/v1/users/{id}/posts", S::OK).id(&a))
            .await;
        for t in [token, b_token] {
            self.send(req(M::GET, "/api/v1/timelines/home", S::OK).token(t))
                .await;
        }
        self.reactions(token, b_token, &a, &b, &post).await;
        self.notifications(token).await;
        let search = req(M::GET, "/api/v1/search/posts", S::OK).query(&format!("q=%23{handle}"));
        self.send(search).await;
        let search = req(M::GET, "/api/v1/search/users", S::OK).query(&format!("q={handle}"));
        self.send(search).await;
        let gone = req(M::POST, "/api/v1/posts", S::CREATED).token(b_token);
        if let Some(gone) = self
            .send(gone.body(json!({ "text": "a post to delete" })))
            .await
        {
            if let Some(id) = self.field(&gone, "/id", "post") {
                let delete = req(M::DELETE, one, S::NO_CONTENT).id(&id).token(b_token);
                self.send(delete).await;
            }
        }
        self.send(req(M::DELETE, follow, S::NO_CONTENT).id(&a).token(b_token))
            .await;
        let logout = json!({ "refresh_token": refresh });
        self.send(req(M::POST, "/api/v1/auth/logout", S::NO_CONTENT).body(logout))
            .await;
        Some(())
    }
}

impl Guide {
    /// The routes of conversations, reactions and relationships: `b` (token `b_token`)
    /// replies to, likes and reposts `a`'s `post`, and takes the like and the repost
    /// back; `a` (token `token`) changes their bio, blocks and mutes `b` and takes both
    /// back, asks for the relationships, and exports their data.
    async fn reactions(&mut self, token: &str, b_token: &str, a: &str, b: &str, post: &str) {
        use reqwest::Method as M;
        use reqwest::StatusCode as S;
        let reply = json!({ "text": "a reply on the tour", "reply_to": post });
        let reply = req(M::POST, "/api/v1/posts", S::CREATED)
            .token(b_token)
            .body(reply);
        self.send(reply).await;
        for route in ["/api/v1/posts/{id}/like", "/api/v1/posts/{id}/repost"] {
            let done = if route.ends_with("like") {
                S::NO_CONTENT
            } else {
                S::CREATED
            };
            self.send(req(M::POST, route, done).id(post).token(b_token))
                .await;
        }
        for route in [
            "/api/v1/posts/{id}/replies",
            "/api/v1/posts/{id}/ancestors",
            "/api/v1/posts/{id}/likes",
        ] {
            self.send(req(M::GET, route, S::OK).id(post)).await;
        }
        self.send(req(M::GET, "/api/v1/users/{id}/likes", S::OK).id(b))
            .await;
        for route in ["/api/v1/posts/{id}/like", "/api/v1/posts/{id}/repost"] {
            self.send(req(M::DELETE, route, S::NO_CONTENT).id(post).token(b_token))
                .await;
        }
        let bio = json!({ "bio": "on a tour" });
        self.send(
            req(M::PATCH, "/api/v1/auth/me", S::OK)
                .token(token)
                .body(bio),
        )
        .await;
        for (edge, list) in [
            ("/api/v1/users/{id}/block", "/api/v1/blocks"),
            ("/api/v1/users/{id}/mute", "/api/v1/mutes"),
        ] {
            self.send(req(M::POST, edge, S::NO_CONTENT).id(b).token(token))
                .await;
            self.send(req(M::GET, list, S::OK).token(token)).await;
            self.send(req(M::DELETE, edge, S::NO_CONTENT).id(b).token(token))
                .await;
        }
        let ids = format!("ids={b},{a}");
        let rel = req(M::GET, "/api/v1/relationships", S::OK)
            .token(token)
            .query(&ids);
        self.send(rel).await;
        self.send(req(M::GET, "/api/v1/auth/me/export", S::OK).token(token))
            .await;
    }
}

impl Guide {
    /// NotificationService's routes: `a`'s notifications (of `b`'s follow, reply, like
    /// and repost, those not taken back yet), the unread count, and the read mark.
    async fn notifications(&mut self, token: &str) {
        use reqwest::Method as M;
        use reqwest::StatusCode as S;
        let list = req(M::GET, "/api/v1/notifications", S::OK).token(token);
        let list = self.send(list).await;
        let unread = req(M::GET, "/api/v1/notifications/unread_count", S::OK).token(token);
        self.send(unread).await;
        // The newest notification if one arrived already (they are eventual), else any
        // id: a mark is a number.
        let up_to = list
            .as_ref()
            .and_then(|l| l["items"][0]["id"].as_str())
            .unwrap_or("1")
            .to_owned();
        let read = req(M::POST, "/api/v1/notifications/read", S::NO_CONTENT)
            .token(token)
            .body(json!({ "up_to": up_to }));
        self.send(read).await;
    }
}

/// `rounds` rounds of the tour of the Chirp at `base`; handles begin with `tag`.
pub async fn run(base: &str, tag: &str, rounds: usize) -> anyhow::Result<Tour> {
    let mut guide = Guide {
        http: Client::builder().timeout(Duration::from_secs(30)).build()?,
        base: base.trim_end_matches('/').to_owned(),
        tour: Tour {
            rounds,
            calls: Vec::new(),
            unexpected: Vec::new(),
        },
    };
    for r in 0..rounds {
        guide.round(&format!("{tag}_t{r}")).await;
    }
    Ok(guide.tour)
}
