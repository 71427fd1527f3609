//! The error of every store port: which dependency failed, and why. Adapters raise it
//! where they know the dependency (a `sqlx::Error` is PostgreSQL's, a `redis::RedisError`
//! Redis's), and it becomes the API's 503 naming that dependency by `?`, so services and
//! handlers never translate store failures themselves.

use crate::error::ApiError;

/// A store call that failed: the dependency was down, timed out, or refused.
#[derive(Debug, thiserror::Error)]
#[error("{dependency}: {source:#}")]
pub struct StoreError {
    /// The dependency, as the metrics and `/readyz` name it (`postgres`, `redis`, ...).
    pub dependency: &'static str,
    source: anyhow::Error,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn new(dependency: &'static str, source: impl Into<anyhow::Error>) -> Self {
        StoreError {
            dependency,
            source: source.into(),
        }
    }

    /// The cause, for adapters that recognise some failures (a unique violation) by it.
    pub fn cause(&self) -> &anyhow::Error {
        &self.source
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::unavailable(e.dependency, e.source)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::new("postgres", e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::new("sqlite", e)
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::new("redis", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_is_a_503_naming_its_dependency() {
        let e: StoreError = sqlx::Error::PoolTimedOut.into();
        let api: ApiError = e.into();
        assert_eq!(api.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.to_string(), "postgres is unavailable");
    }
}
