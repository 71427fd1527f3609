mod mirror;
pub mod postgres;
pub mod redis;
pub mod sqlite;
#[cfg(test)]
mod suite;
pub mod timed;
#[cfg(test)]
mod upgrade;

use chirp_core::peers::Hidden;
use chirp_core::Id;

/// Whose posts user `?1` does not see, each with whether it is a mute (both dialects).
const HIDDEN_SQL: &str = "SELECT blocked, FALSE FROM blocks WHERE blocker = ?1
     UNION SELECT blocker, FALSE FROM blocks WHERE blocked = ?1
     UNION SELECT muted, TRUE FROM mutes WHERE muter = ?1";

/// [`Hidden`] from the rows of [`HIDDEN_SQL`].
fn hidden_of(rows: Vec<(i64, bool)>) -> Hidden {
    let mut hidden = Hidden::default();
    for (id, muted) in rows {
        let list = if muted {
            &mut hidden.muted
        } else {
            &mut hidden.blocked
        };
        list.push(Id::from_i64(id));
    }
    hidden
}
