//! Black-box tests of the public API (../shared/API.md) over HTTP, against `chirp all`
//! started on port 0 with a temporary data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod deletion;
mod graph;
mod hardening;
mod helpers;
mod mastodon;
mod notifications;
mod openapi;
mod ops;
mod posts;
mod process;
mod profiles;
mod promises;
mod reactions;
mod reads;
mod relationships;
mod reposts;
mod roles;
mod search;
mod streaming;
mod threads;
mod timelines;
mod web;
