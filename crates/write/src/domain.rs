//! The text of a post and the idempotency key of a create: values that can only be valid.

/// 1–280 characters (Unicode scalar values), not only white space, no control characters
/// but new lines and tabs, no bidirectional overrides or isolates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostText(String);

pub const MAX_POST_CHARS: usize = 280;

impl PostText {
    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n == 0 || s.chars().all(char::is_whitespace) {
            return Err("text must not be empty or only white space".into());
        }
        if n > MAX_POST_CHARS {
            return Err(format!(
                "text must be at most {MAX_POST_CHARS} characters, not {n}"
            ));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err("text may not contain control characters".into());
        }
        if s.chars().any(chirp_core::text::is_bidi_control) {
            return Err(
                "text may not contain bidirectional overrides or isolates (U+202A-U+202E, \
                 U+2066-U+2069)"
                    .into(),
            );
        }
        Ok(PostText(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("Idempotency-Key must be 1 to 255 visible ASCII characters".into());
        }
        Ok(IdempotencyKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bounds_count_scalar_values() {
        assert!(PostText::parse("hi").is_ok());
        assert!(PostText::parse(&"a".repeat(280)).is_ok());
        assert!(PostText::parse(&"a".repeat(281)).is_err());
        // 280 emoji: 280 characters, 1120 bytes.
        assert!(PostText::parse(&"🐦".repeat(280)).is_ok());
        assert!(PostText::parse(&"🐦".repeat(281)).is_err());
        assert!(PostText::parse("line one\nline two").is_ok());
    }

    #[test]
    fn empty_and_blank_texts_are_refused() {
        for bad in ["", " ", "\n\t ", "\u{3000}", "bell\u{7}"] {
            assert!(PostText::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bidi_overrides_are_refused_and_joiners_kept() {
        assert!(PostText::parse("see https://x.example/\u{202E}gpj.exe").is_err());
        assert!(PostText::parse("a \u{2066}isolated\u{2069} word").is_err());
        assert!(PostText::parse("family 👩\u{200D}👩\u{200D}👧").is_ok());
        assert!(PostText::parse("עברית and English").is_ok());
    }

    #[test]
    fn idempotency_keys() {
        assert!(IdempotencyKey::parse("abc-123").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
