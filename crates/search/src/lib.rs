//! SearchService: indexes posts and users from `chirp.posts` and `chirp.users`, and
//! answers full-text post search and prefix user search, newest first.

pub mod adapters;
pub mod ports;
pub mod routes;
pub mod service;
pub mod text;

pub use routes::{router, SearchState};
pub use service::SearchService;
