//! `chirp-bench`: Chirp's benchmark. See `BENCHMARKS.md` for the method and the figures.

pub mod baseline;
pub mod client;
pub mod fanout;
pub mod hist;
pub mod mix;
pub mod plan;
pub mod plot;
pub mod progress;
pub mod run;
pub mod saturation;
pub mod schedule;
pub mod streams;
pub mod wire;
