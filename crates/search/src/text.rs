//! How text becomes search terms, written once for every index adapter: lower-cased words
//! of letters, digits and underscores; hashtags as `#` followed by such a word.

/// The words of `text`, lower-cased, in order, repeats kept.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The hashtags of `text`, lower-cased, without the `#`, sorted: the tags of the post
/// (`chirp_core::text::hashtags`), in the order an index keeps them.
pub fn hashtags(text: &str) -> Vec<String> {
    let mut tags = chirp_core::text::hashtags(text);
    tags.sort();
    tags
}

/// A display name or a user query reduced to lower-cased words joined by single spaces,
/// so that a prefix of one matches a prefix of the other.
pub fn name_key(text: &str) -> String {
    words(text).join(" ")
}

/// A post query: every word and every hashtag must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostQuery {
    pub words: Vec<String>,
    pub tags: Vec<String>,
}

impl PostQuery {
    pub fn parse(q: &str) -> Self {
        let mut out = PostQuery::default();
        for piece in q.split_whitespace() {
            match piece.strip_prefix('#') {
                Some(tag) => {
                    let mut ws = words(tag).into_iter();
                    if let Some(first) = ws.next() {
                        out.tags.push(first);
                    }
                    out.words.extend(ws);
                }
                None => out.words.extend(words(piece)),
            }
        }
        out.words.sort();
        out.words.dedup();
        out.tags.sort();
        out.tags.dedup();
        out
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.tags.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_split_on_punctuation() {
        assert_eq!(
            words("Hello, World! #Rust_lang café"),
            ["hello", "world", "rust_lang", "café"]
        );
        assert!(words("!!! ...").is_empty());
    }

    #[test]
    fn hashtags_are_found_anywhere() {
        assert_eq!(
            hashtags("I love #Rust and #rust, #tokio! # alone"),
            ["rust", "tokio"]
        );
        assert_eq!(hashtags("a#b"), ["b"]);
    }

    #[test]
    fn queries_separate_tags_from_words() {
        let q = PostQuery::parse("  Fast #Rust fast ");
        assert_eq!(q.words, ["fast"]);
        assert_eq!(q.tags, ["rust"]);
        assert!(PostQuery::parse("?!").is_empty());
    }

    #[test]
    fn name_keys_normalise_spacing_and_case() {
        assert_eq!(name_key("  Ada   Lovelace! "), "ada lovelace");
    }
}
