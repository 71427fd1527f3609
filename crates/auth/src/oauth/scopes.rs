//! OAuth 2 scopes as Mastodon names them: the four broad ones (`read`, `write`, `follow`,
//! `push`), `profile`, and the granular `read:*` and `write:*` ones. A set of them can
//! only hold known names.

use std::collections::BTreeSet;
use std::fmt;

/// Every scope Chirp knows, broad and granular.
const KNOWN: &[&str] = &[
    "read",
    "write",
    "follow",
    "push",
    "profile",
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
];

/// What the old `follow` scope grants (Mastodon 2.4.3 split it into these).
const FOLLOW: &[&str] = &[
    "read:blocks",
    "read:follows",
    "read:mutes",
    "write:blocks",
    "write:follows",
    "write:mutes",
];

/// A set of known scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<&'static str>);

/// A scope name Chirp does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

impl Scopes {
    /// Parses space-separated scope names (`+` too, as some clients send them in forms
    /// they encode themselves); empty text is `default`.
    pub fn parse_or(text: &str, default: &str) -> Result<Scopes, UnknownScope> {
        let names: Vec<&str> = text.split([' ', '+']).filter(|s| !s.is_empty()).collect();
        let names = if names.is_empty() {
            default.split(' ').filter(|s| !s.is_empty()).collect()
        } else {
            names
        };
        let mut set = BTreeSet::new();
        for name in names {
            let known = KNOWN
                .iter()
                .find(|k| **k == name)
                .ok_or_else(|| UnknownScope(name.to_owned()))?;
            set.insert(*known);
        }
        Ok(Scopes(set))
    }

    /// Parses scopes as a store keeps them (written by [`Scopes::to_string`]).
    pub fn parse(text: &str) -> Result<Scopes, UnknownScope> {
        Scopes::parse_or(text, "")
    }

    /// Whether this set grants `needed` (a granular scope, or `profile`): by holding it,
    /// or the broad scope it belongs to, or `follow` for what `follow` grants. `profile`
    /// is granted by `read` and `read:accounts` as well.
    pub fn grants(&self, needed: &str) -> bool {
        if self.0.contains(needed) {
            return true;
        }
        if needed == "profile" {
            return self.0.contains("read") || self.0.contains("read:accounts");
        }
        let broad = needed.split(':').next().unwrap_or(needed);
        self.0.contains(broad) || (self.0.contains("follow") && FOLLOW.contains(&needed))
    }

    /// Whether `of` covers every scope of `self`: holds it, or grants it (an app
    /// registered for `read` may be given `read:statuses`; one registered for
    /// `read:statuses` may not be given `read`).
    pub fn within(&self, of: &Scopes) -> bool {
        self.0.iter().all(|s| of.0.contains(s) || of.grants(s))
    }

    /// Every scope name Chirp knows.
    pub fn known() -> &'static [&'static str] {
        KNOWN
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_known_names_only_and_default_when_empty() {
        assert_eq!(Scopes::parse_or("", "read").unwrap().to_string(), "read");
        assert_eq!(
            Scopes::parse_or("write read  follow", "read")
                .unwrap()
                .to_string(),
            "follow read write"
        );
        assert_eq!(
            Scopes::parse_or("read+write", "").unwrap().to_string(),
            "read write"
        );
        assert!(Scopes::parse("").unwrap().is_empty());
        assert_eq!(
            Scopes::parse("read admin:read"),
            Err(UnknownScope("admin:read".into()))
        );
    }

    #[test]
    fn broad_scopes_grant_their_granular_ones_and_follow_grants_the_graph() {
        let read = Scopes::parse("read").unwrap();
        assert!(read.grants("read:statuses"));
        assert!(read.grants("profile"));
        assert!(!read.grants("write:statuses"));
        let follow = Scopes::parse("follow").unwrap();
        assert!(follow.grants("write:follows"));
        assert!(follow.grants("read:blocks"));
        assert!(!follow.grants("write:statuses"));
        let granular = Scopes::parse("write:favourites").unwrap();
        assert!(granular.grants("write:favourites"));
        assert!(!granular.grants("write:statuses"));
        assert!(!granular.grants("write"));
    }

    #[test]
    fn a_grant_is_within_the_apps_scopes() {
        let app = Scopes::parse("read write").unwrap();
        assert!(Scopes::parse("read").unwrap().within(&app));
        assert!(Scopes::parse("read:statuses write").unwrap().within(&app));
        assert!(!Scopes::parse("follow").unwrap().within(&app));
        assert!(!Scopes::parse("push").unwrap().within(&app));
    }
}
