pub mod tantivy;
