//! Times on the wire are RFC 3339 in UTC, always with milliseconds; in stores they are milliseconds since the epoch.

use time::macros::format_description;
use time::OffsetDateTime;

/// Formats Unix milliseconds as RFC 3339 (`2026-01-02T03:04:05.678Z`).
pub fn rfc3339(unix_ms: i64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

pub fn now_ms() -> i64 {
    crate::id::now_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
    }
}
