//! Blocks, mutes and relationships (UserGraphService), and their filtering of the home
//! timeline (ReadService), with every error status of API.md.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    /// `POST` (or `DELETE`, when `undo`) `/api/v1/users/{id}/{what}` as `who`.
    async fn edge(&self, who: &TestUser, what: &str, id: &str, undo: bool) -> Response {
        let method = if undo { Method::DELETE } else { Method::POST };
        let path = format!("/api/v1/users/{id}/{what}");
        self.send(method, &path, Some(&who.access), None).await
    }

    async fn edge_ok(&self, who: &TestUser, what: &str, whom: &TestUser, undo: bool) {
        let res = self.edge(who, what, &whom.id, undo).await;
        assert_eq!(
            res.status(),
            StatusCode::NO_CONTENT,
            "{what} (undo: {undo})"
        );
    }

    async fn relationships(&self, who: &TestUser, ids: &[&TestUser]) -> Value {
        let ids: Vec<&str> = ids.iter().map(|u| u.id.as_str()).collect();
        let path = format!("/api/v1/relationships?ids={}", ids.join(","));
        self.get_json(&path, Some(&who.access)).await
    }

    /// Every page of `who`'s home at `limit`, asserting that each page but the last is
    /// full: the ids, newest first.
    async fn home_pages(&self, who: &TestUser, limit: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let mut query = format!("?limit={limit}");
        loop {
            let page = self.home(who, &query).await;
            let items = ids(&page);
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    assert_eq!(items.len(), limit, "a page short of its limit: {page}");
                    query = format!("?limit={limit}&cursor={cursor}");
                    seen.extend(items);
                }
                None => {
                    assert!(items.len() <= limit, "{page}");
                    seen.extend(items);
                    return seen;
                }
            }
        }
    }
}

fn relationship(id: &str, flags: [bool; 5]) -> Value {
    json!({
        "id": id,
        "following": flags[0],
        "followed_by": flags[1],
        "blocking": flags[2],
        "blocked_by": flags[3],
        "muting": flags[4],
    })
}

#[tokio::test]
async fn a_block_ends_the_follows_both_ways_and_stops_new_ones_until_it_ends() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.follow(&ann, &bob).await;
    app.follow(&bob, &ann).await;
    app.follow(&cat, &ann).await;
    let rel = app.relationships(&ann, &[&bob, &cat]).await;
    assert_eq!(
        rel,
        json!({"items": [
            relationship(&bob.id, [true, true, false, false, false]),
            relationship(&cat.id, [false, true, false, false, false]),
        ]}),
        "relationships are immediate"
    );

    app.edge_ok(&ann, "block", &bob, false).await;
    app.edge_ok(&ann, "block", &bob, false).await;
    assert_eq!(
        app.relationships(&ann, &[&bob]).await["items"],
        json!([relationship(&bob.id, [false, false, true, false, false])])
    );
    assert_eq!(
        app.relationships(&bob, &[&ann]).await["items"],
        json!([relationship(&ann.id, [false, false, false, true, false])])
    );
    let ann_user = app.user(&ann.id).await;
    assert_eq!(
        (&ann_user["followers_count"], &ann_user["following_count"]),
        (&json!(1), &json!(0))
    );
    let blocks = app.get_json("/api/v1/blocks", Some(&ann.access)).await;
    assert_eq!(ids(&blocks), std::slice::from_ref(&bob.id));
    assert_eq!(blocks["items"][0]["handle"], bob.handle, "items are users");
    assert!(ids(&app.get_json("/api/v1/blocks", Some(&bob.access)).await).is_empty());

    // Neither may follow the other while the block lasts.
    let before = app.fingerprint().await;
    for (who, whom) in [(&bob, &ann), (&ann, &bob)] {
        assert_problem(
            app.follow_raw(&who.access, &whom.id).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    assert_eq!(
        app.fingerprint().await,
        before,
        "a refused follow changes nothing"
    );

    // Only the blocker's unblock ends it; then follows are possible again (the ones the
    // block ended stay ended).
    app.edge_ok(&bob, "block", &ann, true).await;
    assert_problem(
        app.follow_raw(&bob.access, &ann.id).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    app.edge_ok(&ann, "block", &bob, true).await;
    app.edge_ok(&ann, "block", &bob, true).await;
    assert_eq!(
        app.relationships(&ann, &[&bob]).await["items"],
        json!([relationship(&bob.id, [false, false, false, false, false])])
    );
    app.follow(&bob, &ann).await;
    assert!(ids(&app.get_json("/api/v1/blocks", Some(&ann.access)).await).is_empty());
}

#[tokio::test]
async fn mutes_are_one_way_listed_newest_first_and_undone() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let dan = app.signup("dan").await;
    app.follow(&ann, &bob).await;
    for whom in [&bob, &cat, &dan] {
        app.edge_ok(&ann, "mute", whom, false).await;
    }
    app.edge_ok(&ann, "mute", &cat, false).await;
    let walked = app
        .walk("/api/v1/mutes", Some(&ann.access), 2, || async {})
        .await;
    assert_eq!(walked, [dan.id.clone(), cat.id.clone(), bob.id.clone()]);
    assert_eq!(
        app.relationships(&ann, &[&bob, &ann]).await["items"],
        json!([
            relationship(&bob.id, [true, false, false, false, true]),
            relationship(&ann.id, [false, false, false, false, false]),
        ]),
        "a mute leaves the follow; oneself is asked about like anyone"
    );
    assert_eq!(
        app.relationships(&bob, &[&ann]).await["items"],
        json!([relationship(&ann.id, [false, true, false, false, false])]),
        "the muted cannot tell"
    );
    app.edge_ok(&ann, "mute", &cat, true).await;
    app.edge_ok(&ann, "mute", &cat, true).await;
    let mutes = app
        .get_json("/api/v1/mutes?limit=10", Some(&ann.access))
        .await;
    assert_eq!(ids(&mutes), [dan.id.clone(), bob.id.clone()]);
}

#[tokio::test]
async fn bad_blocks_mutes_and_relationships_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let eve = app.signup("eve").await;
    let fay = app.signup("fay").await;
    let before = app.fingerprint().await;
    for what in ["block", "mute"] {
        for undo in [false, true] {
            let res = app.edge(&eve, what, &eve.id, undo).await;
            assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
            for unknown in ["999999", "abc"] {
                let res = app.edge(&eve, what, unknown, undo).await;
                assert_problem(res, StatusCode::NOT_FOUND).await;
            }
            let method = if undo { Method::DELETE } else { Method::POST };
            let path = format!("/api/v1/users/{}/{what}", fay.id);
            let res = app.send(method, &path, None, None).await;
            assert_problem(res, StatusCode::UNAUTHORIZED).await;
        }
    }
    let hundred_and_one = vec![fay.id.as_str(); 101].join(",");
    for query in [
        "",
        "?ids=",
        "?ids=,",
        &format!("?ids={},", fay.id),
        &format!("?ids={},,{}", fay.id, fay.id),
        &format!("?ids={},x", fay.id),
        "?ids=12345678901234567890",
        &format!("?ids={hundred_and_one}"),
    ] {
        let res = app
            .get(&format!("/api/v1/relationships{query}"), Some(&eve.access))
            .await;
        let doc = assert_problem(res, StatusCode::BAD_REQUEST).await;
        assert!(
            doc["detail"].as_str().unwrap().contains("ids"),
            "{query}: {doc}"
        );
    }
    let res = app
        .get(&format!("/api/v1/relationships?ids={}", fay.id), None)
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    for list in ["/api/v1/blocks", "/api/v1/mutes"] {
        assert_problem(app.get(list, None).await, StatusCode::UNAUTHORIZED).await;
        let res = app.get(&format!("{list}?limit=0"), Some(&eve.access)).await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.fingerprint().await, before);
    // A hundred is the most.
    let hundred = vec![fay.id.as_str(); 100].join(",");
    let rel = app
        .get_json(
            &format!("/api/v1/relationships?ids={hundred}"),
            Some(&eve.access),
        )
        .await;
    assert_eq!(rel["items"].as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn a_muted_or_blocked_author_leaves_the_home_timeline_without_shortening_a_page() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.follow(&ann, &bob).await;
    app.follow(&ann, &cat).await;
    app.follow(&bob, &ann).await;
    let mut all = Vec::new();
    let (mut bobs, mut cats) = (Vec::new(), Vec::new());
    for i in 0..7 {
        let b = app.post_id(&bob, &format!("bob {i}")).await;
        let c1 = app.post_id(&cat, &format!("cat {i}a")).await;
        let c2 = app.post_id(&cat, &format!("cat {i}b")).await;
        bobs.push(b.clone());
        cats.extend([c1.clone(), c2.clone()]);
        all.extend([b, c1, c2]);
    }
    // A run of cat's posts longer than a batch (20) at the top.
    for i in 0..25 {
        let c = app.post_id(&cat, &format!("cat run {i}")).await;
        cats.push(c.clone());
        all.push(c);
    }
    let own = app.post_id(&ann, "ann's own").await;
    all.push(own.clone());
    all.reverse();
    app.home_becomes(&ann, &all).await;

    // Muted: cat's posts leave at once, and every page but the last is full.
    app.edge_ok(&ann, "mute", &cat, false).await;
    let mut expected: Vec<String> = all.iter().filter(|p| !cats.contains(p)).cloned().collect();
    for limit in [1, 2, 3, 5] {
        assert_eq!(app.home_pages(&ann, limit).await, expected, "limit {limit}");
    }
    assert_eq!(
        app.relationships(&ann, &[&cat]).await["items"][0]["following"],
        true,
        "a mute leaves the follow"
    );
    // Unmuted: they come back.
    app.edge_ok(&ann, "mute", &cat, true).await;
    assert_eq!(app.home_pages(&ann, 4).await, all);

    // Blocked: bob's posts leave ann's home at once (before fanout has taken them out),
    // and ann's leave bob's.
    let bob_home_before = app.home_ids(&bob).await;
    assert!(bob_home_before.contains(&own), "{bob_home_before:?}");
    app.edge_ok(&ann, "block", &bob, false).await;
    expected = all.iter().filter(|p| !bobs.contains(p)).cloned().collect();
    assert_eq!(app.home_pages(&ann, 2).await, expected);
    assert!(!app.home_ids(&bob).await.contains(&own));
    // Fanout takes them out of the stored timeline too; after the unblock they do not
    // come back (the follow ended).
    app.edge_ok(&ann, "block", &bob, true).await;
    app.home_becomes(&ann, &expected).await;
}

#[tokio::test]
async fn across_a_block_neither_may_reply_to_or_like_the_others_posts() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let anns = app.post_id(&ann, "ann's post").await;
    let bobs = app.post_id(&bob, "bob's post").await;
    app.edge_ok(&ann, "block", &bob, false).await;
    let before = app.fingerprint().await;
    for (who, post) in [(&bob, &anns), (&ann, &bobs)] {
        let like = format!("/api/v1/posts/{post}/like");
        let res = app.send(Method::POST, &like, Some(&who.access), None).await;
        assert_problem(res, StatusCode::FORBIDDEN).await;
        let reply = json!({"text": "a reply", "reply_to": post});
        assert_problem(
            app.post_raw(&who.access, reply).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    assert_eq!(app.fingerprint().await, before, "refused, nothing changed");
    // One's own posts stay one's own to reply to and like.
    let own = json!({"text": "to myself", "reply_to": anns});
    assert_eq!(
        app.post_raw(&ann.access, own).await.status(),
        StatusCode::CREATED
    );
    let like = format!("/api/v1/posts/{anns}/like");
    let res = app.send(Method::POST, &like, Some(&ann.access), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // After the unblock, both may.
    app.edge_ok(&ann, "block", &bob, true).await;
    let reply = json!({"text": "a reply", "reply_to": anns});
    assert_eq!(
        app.post_raw(&bob.access, reply).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn search_leaves_out_blocked_authors_for_the_caller_and_shows_the_viewer_state() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    let word = app.word("blocksearch");
    let mut all = Vec::new();
    let mut bobs = Vec::new();
    for i in 0..4 {
        all.push(app.post_id(&cat, &format!("{word} cat {i}")).await);
    }
    // A run of bob's posts longer than a page between cat's.
    for i in 0..6 {
        let p = app.post_id(&bob, &format!("{word} bob {i}")).await;
        bobs.push(p.clone());
        all.push(p);
    }
    let mut anns = Vec::new();
    for i in 0..2 {
        let p = app.post_id(&ann, &format!("{word} ann {i}")).await;
        anns.push(p.clone());
        all.push(p);
    }
    all.push(app.post_id(&cat, &format!("{word} cat last")).await);
    all.reverse();
    app.search_becomes(&word, &all).await;
    let like = format!("/api/v1/posts/{}/like", all[0]);
    let res = app.send(Method::POST, &like, Some(&ann.access), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.edge_ok(&ann, "block", &bob, false).await;

    let path = format!("/api/v1/search/posts?q={word}");
    let cats: Vec<String> = all.iter().filter(|p| !bobs.contains(p)).cloned().collect();
    assert_eq!(
        cats[..3],
        [all[0].clone(), anns[1].clone(), anns[0].clone()]
    );
    // The blocker's and the blocked's searches both leave the other out, and no page
    // but the last is short.
    let walked = app.walk(&path, Some(&ann.access), 2, || async {}).await;
    assert_eq!(walked, cats, "the blocker's search leaves the blocked out");
    let walked = app.walk(&path, Some(&bob.access), 2, || async {}).await;
    let not_anns: Vec<String> = all.iter().filter(|p| !anns.contains(p)).cloned().collect();
    assert_eq!(
        walked, not_anns,
        "and the blocked's leaves out the blocker's"
    );
    let page = app
        .get_json(&format!("{path}&limit=2"), Some(&ann.access))
        .await;
    assert_eq!(ids(&page), cats[..2]);
    let second = app
        .get_json(
            &format!(
                "{path}&limit=2&cursor={}",
                page["next_cursor"].as_str().unwrap()
            ),
            Some(&ann.access),
        )
        .await;
    assert_eq!(
        ids(&second),
        cats[2..4],
        "the page across bob's run is full"
    );
    assert_eq!(
        page["items"][0]["viewer"],
        json!({"liked": true, "reposted": false})
    );
    assert_eq!(
        page["items"][1]["viewer"],
        json!({"liked": false, "reposted": false})
    );
    // Without a token: everything, and no viewer state.
    let anonymous = app.search_posts(&word).await;
    assert_eq!(ids(&anonymous), all);
    assert!(anonymous["items"][0].get("viewer").is_none());
}

/// Promise 3 on the new lists: a walk over the blocks, and over a filtered home timeline,
/// sees every item that was there when it began once, while new ones arrive.
#[tokio::test]
async fn walks_over_blocks_and_a_filtered_home_see_every_item_once_while_items_arrive() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let mut blocked = Vec::new();
    for i in 0..7 {
        let u = app.signup(&format!("b{i}")).await;
        app.edge_ok(&ann, "block", &u, false).await;
        blocked.push(u);
    }
    let late: Vec<TestUser> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(app.signup(&format!("late{i}")).await);
        }
        v
    };
    let queue = std::sync::Mutex::new(late.clone());
    let walked = app
        .walk("/api/v1/blocks", Some(&ann.access), 2, || async {
            let next = queue.lock().unwrap().pop();
            if let Some(u) = next {
                app.edge_ok(&ann, "block", &u, false).await;
            }
        })
        .await;
    let expected: Vec<String> = blocked.iter().rev().map(|u| u.id.clone()).collect();
    assert_eq!(
        walked, expected,
        "blocks made during the walk come before it"
    );

    // A home with a muted author's posts between the others', walked while both post.
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.follow(&ann, &bob).await;
    app.follow(&ann, &cat).await;
    app.edge_ok(&ann, "mute", &cat, false).await;
    let mut bobs = Vec::new();
    for i in 0..6 {
        bobs.push(app.post_id(&bob, &format!("bob {i}")).await);
        for j in 0..3 {
            app.post_id(&cat, &format!("cat {i}.{j}")).await;
        }
    }
    bobs.reverse();
    app.home_becomes(&ann, &bobs).await;
    let n = std::sync::atomic::AtomicUsize::new(0);
    let walked = app
        .walk("/api/v1/timelines/home", Some(&ann.access), 2, || async {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            app.post_id(&bob, &format!("bob late {i}")).await;
            app.post_id(&cat, &format!("cat late {i}")).await;
        })
        .await;
    assert_eq!(walked, bobs, "posts made during the walk come before it");
}

/// A page that filtering would leave empty for more batches than one request reads
/// (`chirp_core::page::MAX_BATCHES`) is answered short, with a cursor: the walk goes on
/// from where it stopped and finds what is further down, each item once.
#[tokio::test]
async fn a_page_hidden_for_too_long_is_answered_short_and_the_walk_goes_on() {
    // More posts by one user than the writes allowed per minute by default.
    let app = spawn_app_with(|s| s.limits = chirp::settings::LimitSettings::off()).await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cat = app.signup("cat").await;
    app.follow(&ann, &bob).await;
    app.follow(&ann, &cat).await;
    let bobs = app.post_id(&bob, "below a long muted run").await;
    let runs = chirp_core::page::MAX_BATCHES * 20 + 10;
    for i in 0..runs {
        app.post_id(&cat, &format!("cat {i}")).await;
    }
    app.edge_ok(&ann, "mute", &cat, false).await;
    let first = app.home(&ann, "?limit=1").await;
    assert!(ids(&first).is_empty(), "{first}");
    assert!(
        first["next_cursor"].is_string(),
        "a short page says where to go on: {first}"
    );
    let walked = app
        .walk("/api/v1/timelines/home", Some(&ann.access), 1, || async {})
        .await;
    assert_eq!(walked, [bobs]);
}
