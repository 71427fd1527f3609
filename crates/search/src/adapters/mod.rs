pub mod elasticsearch;
#[cfg(test)]
mod suite;
pub mod tantivy;
pub mod timed;
