//! What `/readyz` checks: every store the process opened, the keys it verifies tokens
//! with, its consumers' membership of their groups, its worker id lease, and
//! NotificationService's subscription to its bus.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chirp_core::http::{Readiness, ReadinessCheck};
use chirp_core::store::StoreResult;
use chirp_core::token::TokenVerifier;

use super::backends::Stores;
use super::services::Services;

/// The checks of a process that opened `stores` and runs `services`.
pub fn checks(
    stores: &Stores,
    services: &Services,
    remote_keys: Option<&TokenVerifier>,
    consumers_joined: &[Arc<AtomicBool>],
) -> Readiness {
    let mut r = Readiness::default();
    if let Some(db) = &stores.sqlite {
        ping(&mut r, "sqlite", db, |db| async move { db.ping().await });
    }
    if let Some(pg) = &stores.postgres {
        ping(&mut r, "postgres", pg, |pg| async move { pg.ping().await });
    }
    if let Some(redis) = &stores.redis {
        ping(&mut r, "redis", redis, |r| async move { r.ping().await });
    }
    if let Some(identities) = &services.identities {
        ping(
            &mut r,
            "mongodb",
            identities,
            |i| async move { i.ping().await },
        );
    }
    if let Some(search) = &services.search {
        ping(&mut r, "search index", &search.index, |i| async move {
            i.ping().await
        });
    }
    if let Some(log) = stores.log.clone() {
        let name = if stores.log_is_kafka {
            "kafka"
        } else {
            "event log"
        };
        r.add(ReadinessCheck::new(name, move || {
            let log = log.clone();
            async move { log.ping().await }
        }));
    }
    // Before AuthService's keys arrive, every signed-in request would be a 401.
    if let Some(keys) = remote_keys.cloned() {
        r.add(ReadinessCheck::new("token keys", move || {
            let known = keys.has_keys();
            async move {
                anyhow::ensure!(known, "no token keys from AuthService yet");
                Ok(())
            }
        }));
    }
    if !consumers_joined.is_empty() {
        let flags = consumers_joined.to_vec();
        r.add(ReadinessCheck::new("event consumers", move || {
            let all = flags.iter().all(|f| f.load(Ordering::Acquire));
            async move {
                anyhow::ensure!(all, "not every consumer has joined its group yet");
                Ok(())
            }
        }));
    }
    // Notification streams open only while the bus is subscribed (chirp_notify::bus).
    if let (Some(n), Some(_)) = (&services.notifications, &services.notification_bus) {
        let live = n.live.clone();
        r.add(ReadinessCheck::new("notification bus", move || {
            let subscribed = live.notifications_live();
            async move {
                anyhow::ensure!(subscribed, "not subscribed to the notification channel yet");
                Ok(())
            }
        }));
    }
    if let Some(ids) = services.leased_ids.clone() {
        r.add(ReadinessCheck::new("worker id lease", move || {
            let held = ids.worker().is_some();
            async move {
                anyhow::ensure!(held, "no worker id leased yet");
                Ok(())
            }
        }));
    }
    r
}

/// A check that `target` answers `probe`.
fn ping<T, F, Fut>(r: &mut Readiness, name: &'static str, target: &T, probe: F)
where
    T: Clone + Send + Sync + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = StoreResult<()>> + Send + 'static,
{
    let target = target.clone();
    r.add(ReadinessCheck::new(name, move || {
        let answered = probe(target.clone());
        async move { Ok(answered.await?) }
    }));
}
