//! The client's reading of post text (`assets/js/text.js`: which `#tags` and `@handles`
//! become links) must be the server's (`chirp_core::text`). Both read the same cases: this
//! test holds the server to them, and the browser test (`scripts/web-test.py`) holds the
//! page's script to them.

use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    text: String,
    tags: Vec<String>,
    mentions: Vec<String>,
}

#[test]
fn the_server_reads_tags_and_mentions_as_the_shared_cases_say() {
    let cases: Vec<Case> =
        serde_json::from_str(include_str!("text-cases.json")).expect("the cases parse");
    assert!(cases.len() >= 8);
    for case in cases {
        assert_eq!(
            chirp_core::text::hashtags(&case.text),
            case.tags,
            "tags of {:?}",
            case.text
        );
        assert_eq!(
            chirp_core::text::mentioned_handles(&case.text),
            case.mentions,
            "mentions of {:?}",
            case.text
        );
    }
}
