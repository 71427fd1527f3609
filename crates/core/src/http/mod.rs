//! The HTTP scaffold every service shares: extractors that answer with problem documents,
//! the operations routes, per-route metrics, and the layers around a service's router.

pub mod extract;
pub mod layers;
pub mod metrics;
pub mod ops;
pub mod rate_limits;
pub mod serve;

pub use extract::{ApiJson, ApiQuery, AuthUser, ClientAddr, MaybeAuthUser, PathId};
pub use layers::{finish, service_routes};
pub use metrics::Telemetry;
pub use ops::{Readiness, ReadinessCheck};
