//! Fault tests on the local stack (`scripts/stack.sh`): the eight services as separate
//! processes on PostgreSQL, MongoDB, Redis, Kafka and Elasticsearch, behind NGINX. Each
//! test starts a stack of its own, breaks a part of it while posts are being written, and
//! checks the promise that matters: every acknowledged post ends up in every follower's
//! home timeline, exactly once; and, for NotificationService, every notification owed,
//! listed and streamed exactly once. One more follows a post's trace across the services. The
//! stacks are heavy, so the tests take turns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod notifications;
mod stack;
mod traces;
