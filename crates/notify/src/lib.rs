//! NotificationService: makes each user's notifications (a new follower, a like or a
//! repost of their post, a reply to it, a mention) from the events of `chirp.posts`,
//! `chirp.graph`, `chirp.reactions` and `chirp.users`, removes them when the action is
//! undone, and serves them with read marks and an unread count. What a user blocks or
//! mutes is left out when they are read (it comes back after an unmute).

pub mod adapters;
pub mod bus;
pub mod domain;
pub mod live;
pub mod ports;
pub mod queue;
pub mod routes;
pub mod service;

pub use routes::{router, NotificationState, STREAM_PATHS};
pub use service::NotificationService;

/// The tables of NotificationService: notifications, read marks, what is gone.
pub static SCHEMA: chirp_core::migrations::Schema = chirp_core::migrations::Schema {
    owner: "notify",
    postgres: Some(&POSTGRES),
    sqlite: Some(&SQLITE),
};
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
