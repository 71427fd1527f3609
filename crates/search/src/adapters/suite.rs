//! The behaviour every [`SearchIndex`] adapter must have, as one suite run against each.

use chirp_core::page::PageRequest;
use chirp_core::Id;

use super::elasticsearch::ElasticIndex;
use super::tantivy::TantivyIndex;
use crate::ports::{IndexOp, SearchIndex};
use crate::text::{hashtags, name_key, words, PostQuery};

fn post(id: u64, text: &str) -> IndexOp {
    IndexOp::Post {
        id: Id(id),
        author: Id(1),
        words: words(text),
        tags: hashtags(text),
    }
}

fn user(id: u64, handle: &str, name: &str) -> IndexOp {
    IndexOp::User {
        id: Id(id),
        handle_key: handle.to_lowercase(),
        name_key: name_key(name),
    }
}

async fn suite(ix: &dyn SearchIndex) {
    let big = 7_263_011_920_384_001u64; // beyond 2^53: ids must survive exactly
    ix.apply(vec![
        post(1, "rust is fast"),
        post(2, "Rust and #tokio"),
        post(big, "fast rust again"),
        user(10, "samwise", "Samwise Gamgee"),
        user(11, "tedx", "Gamma Ray"),
    ])
    .await
    .unwrap();
    let q = |s: &str| PostQuery::parse(s);
    let first = PageRequest::first(10);
    assert_eq!(
        ix.posts(&q("rust"), first).await.unwrap().ids,
        [Id(big), Id(2), Id(1)]
    );
    assert_eq!(
        ix.posts(&q("fast RUST"), first).await.unwrap().ids,
        [Id(big), Id(1)]
    );
    assert_eq!(ix.posts(&q("#tokio"), first).await.unwrap().ids, [Id(2)]);
    assert!(ix.posts(&q("#rust"), first).await.unwrap().ids.is_empty());
    // Pages: newest first, strictly below the cursor.
    let p1 = ix.posts(&q("rust"), PageRequest::first(2)).await.unwrap();
    assert_eq!((p1.ids.clone(), p1.more), (vec![Id(big), Id(2)], true));
    let p2 = ix
        .posts(
            &q("rust"),
            PageRequest {
                limit: 2,
                before: Some(2),
            },
        )
        .await
        .unwrap();
    assert_eq!((p2.ids, p2.more), (vec![Id(1)], false));

    // Replace and delete, twice each: the same outcome.
    for _ in 0..2 {
        ix.apply(vec![
            post(1, "now about go"),
            IndexOp::RemovePost { id: Id(2) },
        ])
        .await
        .unwrap();
    }
    assert_eq!(ix.posts(&q("rust"), first).await.unwrap().ids, [Id(big)]);
    assert_eq!(ix.posts(&q("go"), first).await.unwrap().ids, [Id(1)]);

    // Users by prefix of handle, display name, or a word of it.
    assert_eq!(ix.users("sam", first).await.unwrap().ids, [Id(10)]);
    assert_eq!(ix.users("gam", first).await.unwrap().ids, [Id(11), Id(10)]);
    assert_eq!(ix.users("samwise gam", first).await.unwrap().ids, [Id(10)]);
    assert!(ix.users("amwise", first).await.unwrap().ids.is_empty());

    // A deleted account: the user and every post of theirs, twice (a redelivery), after a
    // post of theirs in the same batch and before one of another author's.
    let by = |id: u64, author: u64, text: &str| IndexOp::Post {
        id: Id(id),
        author: Id(author),
        words: words(text),
        tags: hashtags(text),
    };
    for _ in 0..2 {
        ix.apply(vec![
            by(20, 10, "parting words"),
            by(21, 11, "parting too"),
            IndexOp::RemoveUser { id: Id(10) },
            by(22, 12, "parting later"),
        ])
        .await
        .unwrap();
    }
    assert_eq!(ix.users("sam", first).await.unwrap().ids, [] as [Id; 0]);
    assert_eq!(ix.users("gam", first).await.unwrap().ids, [Id(11)]);
    assert_eq!(
        ix.posts(&q("parting"), first).await.unwrap().ids,
        [Id(22), Id(21)]
    );
    ix.ping().await.unwrap();
}

#[tokio::test]
async fn tantivy_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    suite(&TantivyIndex::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn elasticsearch_passes_the_suite() {
    let url = chirp_testkit::elasticsearch_url();
    let prefix = format!("{}-", chirp_testkit::unique("test")).to_lowercase();
    let ix = ElasticIndex::new(&url, &prefix).unwrap();
    suite(&ix).await;
    chirp_testkit::drop_indices(&url, &prefix).await;
}
