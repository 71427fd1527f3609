//! The values a signup is made of. Each type can only hold a valid value: parse, don't
//! validate. Their errors are the 422 details of API.md.

use std::fmt;

use chirp_core::text;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// 3–30 of `A-Z a-z 0-9 _`; unique ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

impl Handle {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let len = s.chars().count();
        if !(3..=30).contains(&len) {
            return Err(Invalid("handle must be 3 to 30 characters".into()));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Invalid(
                "handle may contain only letters A-Z, digits and underscores".into(),
            ));
        }
        Ok(Handle(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness is decided on.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, compared ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid("email is not a valid address".into());
        // Lengths in characters, as the OpenAPI document's schema counts them.
        let chars = |t: &str| t.chars().count();
        if chars(s) > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || chars(local) > 64 || local.contains('@') {
            return Err(bad());
        }
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if !domain.contains('.') || !labels_ok {
            return Err(bad());
        }
        Ok(Email(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// 8–1024 characters (Unicode scalar values).
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let len = s.chars().count();
        if len < 8 {
            return Err(Invalid("password must be at least 8 characters".into()));
        }
        if len > 1024 {
            return Err(Invalid("password must be at most 1024 characters".into()));
        }
        Ok(Password(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// 1–50 characters (white space around them included), trimmed, with something visible; no control characters, no
/// bidirectional overrides or isolates, no zero-width characters but the joiners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let t = s.trim();
        let len = t.chars().count();
        // The whole of what was sent is bounded too, white space around it included.
        if len == 0 || s.chars().count() > 50 {
            return Err(Invalid("display_name must be 1 to 50 characters".into()));
        }
        if t.chars().any(char::is_control) {
            return Err(Invalid(
                "display_name may not contain control characters".into(),
            ));
        }
        if t.chars()
            .any(|c| text::is_bidi_control(c) || text::is_invisible_in_names(c))
        {
            return Err(Invalid(
                "display_name may not contain bidirectional overrides or invisible characters"
                    .into(),
            ));
        }
        if !t.chars().any(text::is_visible) {
            return Err(Invalid(
                "display_name must contain a visible character".into(),
            ));
        }
        Ok(DisplayName(t.to_owned()))
    }

    pub fn from_handle(h: &Handle) -> Self {
        DisplayName(h.as_str().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 0–160 characters (Unicode scalar values), trimmed; new lines and tabs allowed, no other
/// control characters, no bidirectional overrides or isolates. `""` clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    pub const MAX: usize = 160;

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.chars().count() > Self::MAX {
            return Err(Invalid("bio must be at most 160 characters".into()));
        }
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(Invalid(
                "bio may not contain control characters other than new lines and tabs".into(),
            ));
        }
        if s.chars().any(text::is_bidi_control) {
            return Err(Invalid(
                "bio may not contain bidirectional overrides or isolates".into(),
            ));
        }
        Ok(Bio(s.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        for ok in ["abc", "Alice_99", "a_b", &"x".repeat(30)] {
            assert!(Handle::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "",
            &"x".repeat(31),
            "al ice",
            "alice!",
            "ålice",
            "a-b",
            "a.b",
        ] {
            assert!(Handle::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Handle::parse("AlIcE").unwrap().key(), "alice");
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "Alice.Smith+tag@Example.ORG"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@b..co", "a@@b.co", "a@-b.co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Email::parse("A@B.Co").unwrap().key(), "a@b.co");
    }

    /// Lengths count characters, as the OpenAPI document's schema does (it says at most
    /// 64 for the local part and 254 in all): 64 two-byte characters are a local part.
    #[test]
    fn email_lengths_count_characters() {
        assert!(Email::parse(&format!("{}@example.org", "é".repeat(64))).is_ok());
        assert!(Email::parse(&format!("{}@example.org", "é".repeat(65))).is_err());
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("ééééééé").is_err()); // 7 characters, 14 bytes
        assert!(Password::parse(&"é".repeat(1024)).is_ok());
        assert!(Password::parse(&"a".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-password").unwrap()),
            "Password(..)"
        );
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(51)).is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        // What was sent is bounded, white space around it included (as the schema says).
        assert!(DisplayName::parse(&format!("{}Ada", " ".repeat(48))).is_err());
        assert!(DisplayName::parse(&format!("{}Ada", " ".repeat(47))).is_ok());
    }

    #[test]
    fn display_names_refuse_overrides_and_invisibles_but_keep_joiners() {
        // "Ada" shown, "gnp.exe" held: the override reverses what follows it.
        for bad in [
            "Ada\u{202E}exe.gnp",
            "Ada\u{2067}x\u{2069}",
            "A\u{200B}da",
            "\u{FEFF}Ada",
            "A\u{2060}da",
            "\u{200D}",
            "\u{FE0F}\u{200C}",
        ] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
        // A family emoji is joined by U+200D; Persian spells with U+200C.
        for ok in ["👩\u{200D}👩\u{200D}👧", "می\u{200C}خواهم", "שלום Ada"] {
            assert!(DisplayName::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn bios() {
        assert_eq!(Bio::parse("").unwrap().as_str(), "");
        assert_eq!(
            Bio::parse("  Rust\nand\tbirds ").unwrap().as_str(),
            "Rust\nand\tbirds"
        );
        assert!(Bio::parse(&"é".repeat(160)).is_ok());
        assert!(Bio::parse(&"é".repeat(161)).is_err());
        assert!(Bio::parse("a\u{7}b").is_err());
        assert!(Bio::parse("a\rb").is_err());
        assert!(Bio::parse("Ada\u{202E}exe.gnp").is_err());
    }
}
