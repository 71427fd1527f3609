//! Characters that user text may not carry: those that change how the text around them
//! is shown without being seen themselves.

/// The explicit bidirectional formatting characters: embeddings and overrides (U+202A to
/// U+202E) and isolates (U+2066 to U+2069). They reorder what follows them, so that text
/// can show other than it reads (a name that seems to end in one word but holds another, a
/// link whose shown address is not its own). Not the marks (LRM, RLM, ALM), which only
/// give a neutral character a direction.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters with no width and no use in a name: the zero-width space (U+200B), the word
/// joiner (U+2060), the zero-width no-break space (U+FEFF), the Mongolian vowel separator
/// (U+180E), and the directional marks (U+200E, U+200F, U+061C). Not the zero-width
/// joiner (U+200D), which joins emoji sequences, nor the non-joiner (U+200C), which
/// Persian and other scripts spell with.
pub fn is_invisible_in_names(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Whether `c` shows as something: not white space, a joiner or a variation selector.
pub fn is_visible(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}')
        || is_bidi_control(c)
        || is_invisible_in_names(c))
}

/// The characters Rust's `char::is_whitespace` is true of (Unicode White_Space), as the
/// inside of a regular-expression class (`\uXXXX` escapes, which ECMA-262 and Python
/// read alike): for the patterns of the OpenAPI document.
pub const WHITE_SPACE_CLASS: &str =
    r"\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// `char::is_control` (Unicode Cc), as the inside of a class.
pub const CONTROL_CLASS: &str = r"\u0000-\u001F\u007F-\u009F";

/// The same without tab and new line, which a post may hold.
pub const CONTROL_BUT_TAB_AND_NEWLINE_CLASS: &str = r"\u0000-\u0008\u000B-\u001F\u007F-\u009F";

/// [`is_bidi_control`], as the inside of a class.
pub const BIDI_CONTROL_CLASS: &str = r"\u202A-\u202E\u2066-\u2069";

/// [`is_invisible_in_names`], as the inside of a class.
pub const INVISIBLE_IN_NAMES_CLASS: &str = r"\u200B\u2060\uFEFF\u180E\u200E\u200F\u061C";

/// The characters that [`is_visible`] is false of but that are neither white space nor
/// refused in names: the joiners and the variation selectors.
pub const JOINER_CLASS: &str = r"\u200C\u200D\uFE00-\uFE0F";

/// The pattern of a post's text: no control character but tab and new line, no
/// bidirectional control, and something that is not white space.
pub fn post_text_pattern() -> String {
    let refused = format!("{CONTROL_BUT_TAB_AND_NEWLINE_CLASS}{BIDI_CONTROL_CLASS}");
    format!("^[^{refused}]*[^{refused}{WHITE_SPACE_CLASS}][^{refused}]*$")
}

/// The pattern of a display name: no control, bidirectional or invisible character, and
/// something visible.
pub fn display_name_pattern() -> String {
    let refused = format!("{CONTROL_CLASS}{BIDI_CONTROL_CLASS}{INVISIBLE_IN_NAMES_CLASS}");
    format!("^[^{refused}]*[^{refused}{WHITE_SPACE_CLASS}{JOINER_CLASS}][^{refused}]*$")
}

/// The pattern of a bio: no control character but tab and new line, no bidirectional
/// control; empty allowed (it clears the bio).
pub fn bio_pattern() -> String {
    format!("^[^{CONTROL_BUT_TAB_AND_NEWLINE_CLASS}{BIDI_CONTROL_CLASS}]*$")
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The hashtags of `text`: each `#` followed by letters, digits or underscores, without
/// the `#`, lower-cased, each once, in order of first appearance. (Search indexes the
/// same tags, so `#tag` finds exactly the posts whose `tags` hold it.)
pub fn hashtags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('#') {
        rest = &rest[i + 1..];
        let end = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
        if end > 0 {
            let tag = rest[..end].to_lowercase();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        rest = &rest[end..];
    }
    tags
}

/// The handles `text` mentions: each `@` that does not follow a letter, digit or
/// underscore (`a@example.com` mentions nobody), followed by 3 to 30 of `A-Z a-z 0-9 _`
/// and then no other letter or digit; as written, each once ignoring case, in order of
/// first appearance. Whether a user holds the handle is the store's to say.
pub fn mentioned_handles(text: &str) -> Vec<String> {
    let mut handles: Vec<String> = Vec::new();
    let mut before: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c == '@' && !before.is_some_and(is_word) {
            let rest = &text[i + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let followed_by_word = rest[end..].chars().next().is_some_and(is_word);
            if (3..=30).contains(&end) && !followed_by_word {
                let handle = &rest[..end];
                if !handles.iter().any(|h| h.eq_ignore_ascii_case(handle)) {
                    handles.push(handle.to_owned());
                }
            }
        }
        before = Some(c);
    }
    handles
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A class of the document as a Rust regex (which spells `\uXXXX` as `\x{XXXX}`).
    fn class(inside: &str) -> regex::Regex {
        let rust = regex::Regex::new(r"\\u([0-9A-F]{4})")
            .unwrap()
            .replace_all(inside, r"\x{$1}");
        regex::Regex::new(&format!("^[{rust}]$")).unwrap()
    }

    /// Each class of the document's patterns says exactly what its predicate does, for
    /// every character of the Basic Multilingual Plane and a few beyond.
    #[test]
    fn the_patterns_classes_are_the_predicates() {
        type Predicate = fn(char) -> bool;
        let classes: [(&str, Predicate); 5] = [
            (WHITE_SPACE_CLASS, char::is_whitespace),
            (CONTROL_CLASS, char::is_control),
            (CONTROL_BUT_TAB_AND_NEWLINE_CLASS, |c| {
                c.is_control() && c != '\n' && c != '\t'
            }),
            (BIDI_CONTROL_CLASS, is_bidi_control),
            (INVISIBLE_IN_NAMES_CLASS, is_invisible_in_names),
        ];
        for (inside, predicate) in classes {
            let re = class(inside);
            for c in (0..=0x2_0000u32).filter_map(char::from_u32) {
                let mut buf = [0u8; 4];
                assert_eq!(
                    re.is_match(c.encode_utf8(&mut buf)),
                    predicate(c),
                    "{inside} {c:?}"
                );
            }
        }
    }

    #[test]
    fn overrides_and_isolates_are_bidi_controls_and_marks_are_not() {
        for c in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}'] {
            assert!(is_bidi_control(c), "{c:?}");
        }
        for c in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert!(is_bidi_control(c), "{c:?}");
        }
        for c in ['\u{200E}', '\u{200F}', '\u{200D}', 'a', '\u{05D0}'] {
            assert!(!is_bidi_control(c), "{c:?}");
        }
    }

    #[test]
    fn joiners_are_kept_in_names_and_are_not_visible_alone() {
        assert!(!is_invisible_in_names('\u{200D}'));
        assert!(!is_invisible_in_names('\u{200C}'));
        assert!(is_invisible_in_names('\u{200B}'));
        assert!(!is_visible('\u{200D}'));
        assert!(is_visible('🐦'));
    }

    #[test]
    fn hashtags_are_lower_cased_once_in_order() {
        assert_eq!(
            hashtags("#Rust and #rust, #Écrit #b_2! # #"),
            ["rust", "écrit", "b_2"]
        );
        assert!(hashtags("no tags here").is_empty());
    }

    #[test]
    fn mentions_are_handles_after_an_at_that_starts_a_word() {
        assert_eq!(
            mentioned_handles("@alice hi @Bob_2, (@alice) @ALICE bob@example.com"),
            ["alice", "Bob_2"]
        );
        // Too short, too long, or running on into letters a handle cannot hold.
        assert!(mentioned_handles("@ab @abcdefghijklmnopqrstuvwxyz12345 @alicé").is_empty());
        assert_eq!(mentioned_handles("@carol's @dave."), ["carol", "dave"]);
    }
}
