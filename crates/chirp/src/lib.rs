//! The `chirp` binary's library half: configuration, the wiring of the embedded system,
//! and the application lifecycle, so that tests can start the whole system in process.

pub mod app;
pub mod config;
pub mod logging;
pub mod openapi;
pub mod settings;
pub mod traces;
pub mod wiring;

pub use app::Application;
pub use config::{Cli, Command, Settings};
