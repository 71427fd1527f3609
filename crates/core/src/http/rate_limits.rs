//! The limits on API requests: every request is counted per client address, and every
//! write (a method other than GET, HEAD or OPTIONS on a service that writes) also per
//! user and per address, all in the process's [`Limiter`] (Redis when deployed, so that
//! every process of every service counts the same requests). Every answer of a limited
//! route carries the fields of the IETF draft (draft-ietf-httpapi-ratelimit-headers-07):
//! `RateLimit-Limit`, `-Remaining` and `-Reset` for the tightest quota the request was
//! counted against, and `RateLimit-Policy` listing every quota it was counted against. A
//! request past a quota is answered 429 with `Retry-After`, and changes nothing.
//!
//! A limiter that cannot be reached limits nothing (the request goes on, and the failure
//! is counted as the dependency's error): a request needs its own stores, not the count.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use prometheus_client::metrics::counter::Counter;

use crate::http::extract::TrustForwardedFor;
use crate::http::metrics::Telemetry;
use crate::http::{AuthUser, ClientAddr};
use crate::limits::{address_key, too_many, Attempt, Limit, Limiter};
use crate::time::now_ms;
use crate::token::TokenVerifier;

/// The quotas, and what they are counted in.
#[derive(Clone)]
pub struct ApiLimits {
    pub limiter: Arc<dyn Limiter>,
    pub requests_per_address: Limit,
    pub writes_per_user: Limit,
    pub writes_per_address: Limit,
    pub verifier: TokenVerifier,
    pub trust_forwarded_for: TrustForwardedFor,
}

/// What a service's requests are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Requests per address only (reads, and AuthService, whose logins and signups have
    /// limits of their own).
    Requests,
    /// Writes per user and per address too.
    RequestsAndWrites,
}

#[derive(Clone)]
struct Limited {
    limits: ApiLimits,
    counted: Counted,
    refused: [Counter; 3],
}

impl FromRef<Limited> for TrustForwardedFor {
    fn from_ref(l: &Limited) -> Self {
        l.limits.trust_forwarded_for
    }
}

impl FromRef<Limited> for TokenVerifier {
    fn from_ref(l: &Limited) -> Self {
        l.limits.verifier.clone()
    }
}

/// The quotas, by the name their refusals are counted under.
const QUOTAS: [&str; 3] = [
    "requests_per_address",
    "writes_per_address",
    "writes_per_user",
];

impl ApiLimits {
    /// `routes` of `service`, limited as `counted` says.
    pub fn apply(
        &self,
        service: &'static str,
        telemetry: &Telemetry,
        counted: Counted,
        routes: Router,
    ) -> Router {
        let refused = QUOTAS.map(|quota| {
            telemetry.counter_with(
                "rate_limited",
                "Requests refused (429) by a rate limit, by service and quota",
                &[("service", service), ("quota", quota)],
            )
        });
        let state = Limited {
            limits: self.clone(),
            counted,
            refused,
        };
        routes.route_layer(middleware::from_fn_with_state(state, limit))
    }
}

/// One quota a request was counted against.
struct Quota {
    limit: Limit,
    remaining: u32,
    /// Seconds until the quota has room again (for a refused request) or is whole again.
    reset_secs: u64,
}

async fn limit(State(l): State<Limited>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let client = ClientAddr::from_request_parts(&mut parts, &l)
        .await
        .map_or(None, |ClientAddr(ip)| ip);
    let writes = l.counted == Counted::RequestsAndWrites
        && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut keys: Vec<(usize, Limit, String)> = Vec::new();
    if let Some(ip) = client {
        let address = address_key(ip);
        keys.push((
            0,
            l.limits.requests_per_address,
            format!("requests:address:{address}"),
        ));
        if writes {
            keys.push((
                1,
                l.limits.writes_per_address,
                format!("writes:address:{address}"),
            ));
        }
    }
    if writes {
        // A request without a valid token is the handler's to refuse (401); one with a
        // valid token leaves its caller for the handler, so the token is checked once.
        if let Ok(user) = AuthUser::from_request_parts(&mut parts, &l).await {
            parts.extensions.insert(user);
            keys.push((
                2,
                l.limits.writes_per_user,
                format!("writes:user:{}", user.id),
            ));
        }
    }
    let now = now_ms();
    let mut quotas = Vec::with_capacity(keys.len());
    for (quota, limit, key) in keys {
        if !limit.is_on() {
            continue;
        }
        match l.limits.limiter.attempt(&key, now, limit).await {
            Ok(Attempt::Counted {
                count,
                resets_at_ms,
                ..
            }) => quotas.push(Quota {
                limit,
                remaining: limit.attempts.saturating_sub(count),
                reset_secs: secs_until(resets_at_ms, now),
            }),
            Ok(Attempt::Refused { retry_at_ms }) => {
                l.refused[quota].inc();
                let refusal = Quota {
                    limit,
                    remaining: 0,
                    reset_secs: secs_until(retry_at_ms, now),
                };
                let detail = match quota {
                    0 => "too many requests from this address; try again later",
                    1 => "too many writes from this address; try again later",
                    _ => "too many writes; try again later",
                };
                let mut res = too_many(detail, retry_at_ms - now).into_response();
                quotas.push(refusal);
                set_headers(res.headers_mut(), &quotas);
                return res;
            }
            Err(e) => {
                tracing::warn!(
                    quota = QUOTAS[quota],
                    error = format!("{e:#}"),
                    "a rate limit could not be counted; not limiting"
                );
            }
        }
    }
    let mut res = next.run(Request::from_parts(parts, body)).await;
    set_headers(res.headers_mut(), &quotas);
    res
}

fn secs_until(at_ms: i64, now_ms: i64) -> u64 {
    ((at_ms - now_ms).max(0) as u64).div_ceil(1000)
}

/// The fields of the tightest quota (the fewest requests left; of those, the longest
/// wait), and the policy of every quota counted.
fn set_headers(headers: &mut HeaderMap, quotas: &[Quota]) {
    let Some(tightest) = quotas
        .iter()
        .min_by_key(|q| (q.remaining, std::cmp::Reverse(q.reset_secs)))
    else {
        return;
    };
    let policy = quotas
        .iter()
        .map(|q| format!("{};w={}", q.limit.attempts, q.limit.window.as_secs()))
        .collect::<Vec<_>>()
        .join(", ");
    let fields = [
        ("ratelimit-limit", tightest.limit.attempts.to_string()),
        ("ratelimit-remaining", tightest.remaining.to_string()),
        ("ratelimit-reset", tightest.reset_secs.to_string()),
        ("ratelimit-policy", policy),
    ];
    for (name, value) in fields {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}
