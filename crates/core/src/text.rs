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

#[cfg(test)]
mod tests {
    use super::*;

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
}
