//! A Mastodon request as the handlers read it: its parameters from the query and the body
//! alike (JSON, form-encoded or multipart, as Mastodon takes them; lists as `key[]`), the
//! bearer token, the client's address and the origin the client used.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, Multipart, Request};
use axum::http::{header, HeaderMap, StatusCode};
use chirp_core::http::serve::BodyReadTimeout;
use chirp_core::Id;
use serde_json::Value;

use crate::error::{MastoError, MastoResult};
use crate::MastodonState;

/// The most a JSON or form body may hold (the public API's own limit).
const BODY_LIMIT: usize = 64 * 1024;

/// Parameters, in the order they came: the query's, then the body's.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The last value of `name` (a scalar); an empty value is no value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Whether `name` was sent at all (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The last value of `name`, empty text included (`note=` clears a bio).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of the list `name`: sent as `name[]` (Mastodon's way), as repeated
    /// `name`, or as `name[0]`, `name[1]`...
    pub fn list(&self, name: &str) -> Vec<&str> {
        let bracket = format!("{name}[");
        self.0
            .iter()
            .filter(|(k, _)| {
                k == name
                    || (k.starts_with(&bracket)
                        && k.ends_with(']')
                        && !k[name.len() + 1..k.len() - 1].contains('['))
            })
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A boolean as Mastodon reads them: `true`, `1`, `on` (and `false`, `0`, `off`).
    pub fn flag(&self, name: &str) -> MastoResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some("true" | "1" | "on" | "True") => Ok(Some(true)),
            Some("false" | "0" | "off" | "False") => Ok(Some(false)),
            Some(other) => Err(MastoError::bad_request(format!(
                "{name} must be a boolean, not `{other}`"
            ))),
        }
    }

    /// An id, or 404 (Mastodon's answer to an id that names nothing).
    pub fn id(&self, name: &str) -> MastoResult<Option<Id>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| MastoError::not_found()),
        }
    }

    fn push_json(&mut self, key: String, value: &Value) {
        match value {
            Value::Null => {}
            Value::String(s) => self.0.push((key, s.clone())),
            Value::Bool(b) => self.0.push((key, b.to_string())),
            Value::Number(n) => self.0.push((key, n.to_string())),
            Value::Array(items) => {
                for item in items {
                    self.push_json(format!("{key}[]"), item);
                }
            }
            Value::Object(fields) => {
                for (k, v) in fields {
                    self.push_json(format!("{key}[{k}]"), v);
                }
            }
        }
    }
}

/// A request to the facade.
pub struct Req {
    /// The path the client asked for (for the `Link` headers of its next pages).
    pub path: String,
    /// The query alone.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub params: Params,
    /// The bearer token, from `Authorization` (or, for streams, `?access_token=`).
    pub token: Option<String>,
    /// The client's address (the proxy's last `X-Forwarded-For` entry when trusted).
    pub client: Option<IpAddr>,
    /// The origin the client called, e.g. `https://chirp.example`: every link's base.
    pub base: String,
}

impl FromRequest<MastodonState> for Req {
    type Rejection = MastoError;

    async fn from_request(req: Request, state: &MastodonState) -> MastoResult<Self> {
        let trust = state.trust_forwarded_for.0;
        let headers = req.headers().clone();
        let mut params = Params::default();
        let path = req.uri().path().to_owned();
        if let Some(q) = req.uri().query() {
            params
                .0
                .extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        let query = params.0.clone();
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        let forwarded = trust
            .then(|| {
                headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                    .next_back()
            })
            .flatten();
        let scheme = match headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            Some("https") if trust => "https",
            _ => "http",
        };
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        let base = format!("{scheme}://{host}");
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        // Within the listener's deadline for a body: a client that trickles one would hold
        // its connection and its handler for ever.
        let deadline = req
            .extensions()
            .get::<BodyReadTimeout>()
            .map_or(Duration::from_secs(30), |t| t.0);
        let read = async {
            let mut body_params = Params::default();
            if content_type.starts_with("multipart/form-data") {
                let mut multipart = Multipart::from_request(req, state)
                    .await
                    .map_err(|e| MastoError::bad_request(e.body_text()))?;
                while let Some(field) = multipart
                    .next_field()
                    .await
                    .map_err(|e| MastoError::bad_request(e.body_text()))?
                {
                    let name = field.name().unwrap_or("").to_owned();
                    if field.file_name().is_some() {
                        return Err(MastoError::unprocessable(format!(
                            "{name}: Chirp takes no files (no media, avatars or headers)"
                        )));
                    }
                    let value = field
                        .text()
                        .await
                        .map_err(|e| MastoError::bad_request(e.body_text()))?;
                    body_params.0.push((name, value));
                }
            } else {
                let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
                    .await
                    .map_err(|_| {
                        MastoError::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large")
                    })?;
                if content_type.starts_with("application/json") && !body.is_empty() {
                    let value: Value = serde_json::from_slice(&body).map_err(|e| {
                        MastoError::bad_request(format!("the body is not JSON: {e}"))
                    })?;
                    let Value::Object(fields) = value else {
                        return Err(MastoError::bad_request("the body is not a JSON object"));
                    };
                    for (k, v) in &fields {
                        body_params.push_json(k.clone(), v);
                    }
                } else if !body.is_empty() {
                    // Form-encoded, whatever the client called it.
                    body_params
                        .0
                        .extend(form_urlencoded::parse(&body).into_owned());
                }
            }
            Ok::<_, MastoError>(body_params)
        };
        let body_params = tokio::time::timeout(deadline, read).await.map_err(|_| {
            MastoError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s", deadline.as_secs()),
            )
        })??;
        params.0.extend(body_params.0);
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        Ok(Req {
            path,
            query,
            headers,
            params,
            token,
            client: forwarded.or(peer),
            base,
        })
    }
}

/// Where the answer's links point: the origin the client called.
pub fn links(req: &Req) -> crate::entities::Links<'_> {
    crate::entities::Links { base: &req.base }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn lists_come_bracketed_repeated_or_indexed() {
        let p = params(&[("id[]", "1"), ("id[]", "2"), ("x", "y")]);
        assert_eq!(p.list("id"), ["1", "2"]);
        let p = params(&[("types[0]", "follow"), ("types[1]", "mention")]);
        assert_eq!(p.list("types"), ["follow", "mention"]);
        let p = params(&[("id", "3")]);
        assert_eq!(p.list("id"), ["3"]);
        assert!(params(&[("ids[]", "3")]).list("id").is_empty());
    }

    #[test]
    fn json_bodies_flatten_to_the_same_parameters() {
        let mut p = Params::default();
        let body = serde_json::json!({"status": "hi", "sensitive": false, "media_ids": ["1", 2],
            "source": {"privacy": "public"}, "poll": null});
        let Value::Object(fields) = body else {
            unreachable!()
        };
        for (k, v) in &fields {
            p.push_json(k.clone(), v);
        }
        assert_eq!(p.get("status"), Some("hi"));
        assert_eq!(p.flag("sensitive").unwrap(), Some(false));
        assert_eq!(p.list("media_ids"), ["1", "2"]);
        assert_eq!(p.get("source[privacy]"), Some("public"));
        assert!(!p.has("poll"));
    }

    #[test]
    fn flags_read_mastodons_booleans_and_refuse_others() {
        let p = params(&[("a", "1"), ("b", "false"), ("c", "maybe")]);
        assert_eq!(p.flag("a").unwrap(), Some(true));
        assert_eq!(p.flag("b").unwrap(), Some(false));
        assert!(p.flag("c").is_err());
        assert_eq!(p.flag("d").unwrap(), None);
    }
}
