//! The error of every store port: which dependency failed, and why. Adapters raise it
//! where they know the dependency (a `sqlx::Error` is PostgreSQL's, a `redis::RedisError`
//! Redis's), and it becomes the API's 503 naming that dependency by `?`, so services and
//! handlers never translate store failures themselves. The one exception is a value the
//! store cannot keep (PostgreSQL's data exceptions, such as a NUL character in text): the
//! request's fault, a 400, not the dependency's.

use crate::error::ApiError;

/// A store call that failed: the dependency was down, timed out, or refused.
#[derive(Debug, thiserror::Error)]
#[error("{dependency}: {source:#}")]
pub struct StoreError {
    /// The dependency, as the metrics and `/readyz` name it (`postgres`, `redis`, ...).
    pub dependency: &'static str,
    source: anyhow::Error,
    /// The store refused a value of the request, not the request as a whole.
    refused_value: bool,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn new(dependency: &'static str, source: impl Into<anyhow::Error>) -> Self {
        StoreError {
            dependency,
            source: source.into(),
            refused_value: false,
        }
    }

    /// The cause, for adapters that recognise some failures (a unique violation) by it.
    pub fn cause(&self) -> &anyhow::Error {
        &self.source
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.refused_value {
            tracing::info!(
                dependency = e.dependency,
                error = format!("{:#}", e.source),
                "a value the store cannot keep"
            );
            return ApiError::BadRequest(format!(
                "the request holds a value that cannot be stored ({})",
                e.source
            ));
        }
        ApiError::unavailable(e.dependency, e.source)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // SQLSTATE class 22, data exception: the value, not the database.
        let refused_value = matches!(&e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")));
        StoreError {
            refused_value,
            ..StoreError::new("postgres", e)
        }
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

    /// A value PostgreSQL cannot keep (text with a NUL character) is the request's fault:
    /// 400, not a 503 that says PostgreSQL is down.
    #[tokio::test]
    async fn a_value_postgres_refuses_is_a_400() {
        use sqlx::Connection;
        let admin = chirp_testkit::postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let refused = sqlx::query("SELECT $1::text")
            .bind("a\u{0}b")
            .execute(&mut conn)
            .await
            .unwrap_err();
        let api: ApiError = StoreError::from(refused).into();
        assert_eq!(api.status(), axum::http::StatusCode::BAD_REQUEST, "{api}");
        let down: ApiError = StoreError::from(sqlx::Error::PoolTimedOut).into();
        assert_eq!(down.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }
}
