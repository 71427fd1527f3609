//! Home timelines: fanout, pagination, backfill and purge, edits and deletes, the cap,
//! hybrid fanout, rebuilds.

use chirp_core::Id;
use reqwest::{Method, StatusCode};

use crate::helpers::*;

fn id(s: &str) -> Id {
    Id(s.parse().unwrap())
}

/// `who`'s reply to `to`: its id.
async fn reply(app: &TestApp, who: &TestUser, to: &str, text: &str) -> String {
    let body_json = serde_json::json!({"text": text, "reply_to": to});
    let res = app.post_raw(&who.access, body_json).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    body(res).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn home_holds_own_posts_and_those_of_followees() {
    let app = spawn_app().await;
    let ava = app.signup("ava").await;
    let bea = app.signup("bea").await;
    let cal = app.signup("cal").await;
    app.follow(&ava, &bea).await;
    let own = app.post_id(&ava, "mine").await;
    let followed = app.post_id(&bea, "from bea").await;
    app.post_id(&cal, "from cal, not followed").await;
    app.home_becomes(&ava, &[followed.clone(), own.clone()])
        .await;
    app.home_becomes(&bea, &[followed]).await;
    assert_problem(
        app.get("/api/v1/timelines/home", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn walking_home_pages_sees_every_post_once_while_posts_arrive() {
    let app = spawn_app().await;
    let reader = app.signup("reader").await;
    let mut authors = Vec::new();
    for i in 0..3 {
        let a = app.signup(&format!("author{i}")).await;
        app.follow(&reader, &a).await;
        authors.push(a);
    }
    let mut expected = Vec::new();
    for i in 0..24 {
        expected.push(app.post_id(&authors[i % 3], &format!("post {i}")).await);
    }
    expected.reverse();
    eventually("every post reaches the home timeline", || async {
        (ids(&app.home(&reader, "?limit=100").await) == expected).then_some(())
    })
    .await;

    let mut pages = 0;
    let seen = app
        .walk("/api/v1/timelines/home", Some(&reader.access), 5, || {
            pages += 1;
            let (app, authors) = (&app, &authors);
            async move {
                for a in authors {
                    app.post_id(a, "arrives between pages").await;
                }
            }
        })
        .await;
    assert!(pages >= 5);
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn follow_backfills_and_unfollow_purges() {
    let app = spawn_app().await;
    let dan = app.signup("dan").await;
    let eli = app.signup("eli").await;
    let mut eli_posts = Vec::new();
    for i in 0..3 {
        eli_posts.push(app.post_id(&eli, &format!("eli {i}")).await);
    }
    eli_posts.reverse();
    let own = app.post_id(&dan, "dan's own").await;
    // Dan's timeline is warm (read once) before the follow, so the backfill is what
    // brings Eli's posts in, not a rebuild.
    app.home_becomes(&dan, std::slice::from_ref(&own)).await;
    app.follow(&dan, &eli).await;
    let mut with_eli = eli_posts.clone();
    with_eli.insert(0, own.clone());
    with_eli.sort_by_key(|p| std::cmp::Reverse(id(p)));
    app.home_becomes(&dan, &with_eli).await;

    app.unfollow(&dan, &eli).await;
    app.home_becomes(&dan, std::slice::from_ref(&own)).await;
    // In process, look at the store itself too.
    if let Some(system) = app.system_if_local() {
        let held = system.timeline_store_entries(id(&dan.id)).await;
        assert!(
            held.iter().all(|e| e.author != id(&eli.id)),
            "purged from the store too"
        );
    }
}

#[tokio::test]
async fn edits_and_deletes_reach_timelines() {
    let app = spawn_app().await;
    let fin = app.signup("fin").await;
    let gem = app.signup("gem").await;
    app.follow(&fin, &gem).await;
    let keep = app.post_id(&gem, "keep me").await;
    let gone = app.post_id(&gem, "delete me").await;
    app.home_becomes(&fin, &[gone.clone(), keep.clone()]).await;

    assert_eq!(
        app.edit(&gem, &keep, "kept, edited").await.status(),
        StatusCode::OK
    );
    let home = app.home(&fin, "").await;
    assert_eq!(home["items"][1]["text"], "kept, edited");
    assert!(home["items"][1]["edited_at"].is_string());

    assert_eq!(
        app.delete(&gem, &gone).await.status(),
        StatusCode::NO_CONTENT
    );
    app.home_becomes(&fin, std::slice::from_ref(&keep)).await;
    if let Some(system) = app.system_if_local() {
        eventually("the deleted post leaves the timeline store", || async {
            let held = system.timeline_store_entries(id(&fin.id)).await;
            held.iter().all(|e| e.post != id(&gone)).then_some(())
        })
        .await;
    }
}

/// Tests that need a setting of their own or a look inside the process: they run
/// in-process only, not against the stack.
mod inside {
    use super::*;

    #[tokio::test]
    async fn timelines_are_capped() {
        let app = spawn_app_with(|s| s.timeline_cap = 5).await;
        let hub = app.signup("hub").await;
        let ida = app.signup("ida").await;
        app.follow(&ida, &hub).await;
        let mut posted = Vec::new();
        for i in 0..8 {
            posted.push(app.post_id(&hub, &format!("p{i}")).await);
        }
        posted.reverse();
        app.home_becomes(&ida, &posted[..5]).await;
        eventually("the store holds at most the cap", || async {
            (app.system().timeline_store_entries(id(&ida.id)).await.len() == 5).then_some(())
        })
        .await;
    }

    #[tokio::test]
    async fn hybrid_fanout_merges_celebrities_at_read_time() {
        let app = spawn_app_with(|s| s.celebrity_threshold = 2).await;
        let celeb = app.signup("celeb").await;
        let fans: Vec<TestUser> = {
            let mut v = Vec::new();
            for i in 0..3 {
                let f = app.signup(&format!("fan{i}")).await;
                app.follow(&f, &celeb).await;
                v.push(f);
            }
            v
        };
        let friend = app.signup("friend").await;
        app.follow(&fans[0], &friend).await;
        // Warm every timeline involved first, so fanout (not a rebuild) would be the path.
        for u in fans.iter().chain([&celeb, &friend]) {
            app.home(u, "").await;
        }
        let mut expected = Vec::new();
        let mut celebrity_posts = Vec::new();
        for i in 0..6 {
            let p = app.post_id(&celeb, &format!("celebrity post {i}")).await;
            celebrity_posts.push(p.clone());
            expected.push(p);
            expected.push(app.post_id(&friend, &format!("friend post {i}")).await);
        }
        expected.reverse();
        celebrity_posts.reverse();
        app.home_becomes(&fans[0], &expected).await;
        app.home_becomes(&fans[1], &celebrity_posts).await;
        // The celebrity sees their own posts too.
        app.home_becomes(&celeb, &celebrity_posts).await;

        // Pages merge both sources without gaps or repeats.
        let seen = app
            .walk(
                "/api/v1/timelines/home",
                Some(&fans[0].access),
                4,
                || async {},
            )
            .await;
        assert_eq!(seen, expected);

        // The timeline store holds none of the celebrity's posts, anywhere.
        for u in fans.iter().chain([&celeb]) {
            let held = app.system().timeline_store_entries(id(&u.id)).await;
            assert!(
                held.iter().all(|e| e.author != id(&celeb.id)),
                "{} holds a celebrity post",
                u.handle
            );
        }
        let held = app.system().timeline_store_entries(id(&fans[0].id)).await;
        assert_eq!(held.len(), 6, "the friend's posts are stored: {held:?}");
    }

    #[tokio::test]
    async fn a_lost_timeline_is_rebuilt_from_the_posts_store() {
        let app = spawn_app_with(|s| s.celebrity_threshold = 1).await;
        let jan = app.signup("jan").await;
        let kay = app.signup("kay").await;
        let big = app.signup("big").await;
        app.follow(&jan, &kay).await;
        app.follow(&jan, &big).await;
        app.follow(&kay, &big).await; // big has 2 followers: above the threshold of 1
        let a = app.post_id(&kay, "a").await;
        let b = app.post_id(&big, "b").await;
        let c = app.post_id(&jan, "c").await;
        app.home_becomes(&jan, &[c.clone(), b.clone(), a.clone()])
            .await;

        // A restart loses timelines held in memory; in Redis, lose them by hand.
        let restarted = app.restart(|_| {}).await;
        if let Some(redis) = &restarted.system().stores.redis {
            redis.delete_prefix().await.unwrap();
        }
        assert!(restarted
            .system()
            .timeline_store_entries(id(&jan.id))
            .await
            .is_empty());
        assert_eq!(restarted.home_ids(&jan).await, [c, b.clone(), a]);
        let held = restarted.system().timeline_store_entries(id(&jan.id)).await;
        assert_eq!(
            held.len(),
            2,
            "the rebuild leaves the celebrity out of the store"
        );
        assert!(held.iter().all(|e| e.post != id(&b)));
        let res = restarted
            .send(
                Method::GET,
                "/api/v1/timelines/home",
                Some(&jan.access),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    /// A reply reaches the author's followers who also follow the author replied to
    /// (and the one replied to, and everyone for a reply to one's own post): when fanned
    /// out, when backfilled after a follow, when a lost timeline is rebuilt, and when a
    /// celebrity's posts are merged in at read.
    #[tokio::test]
    async fn a_reply_reaches_the_followers_who_also_follow_the_one_replied_to() {
        let app = spawn_app_with(|s| s.celebrity_threshold = 3).await;
        let bob = app.signup("bob").await;
        let ann = app.signup("ann").await;
        let cat = app.signup("cat").await;
        let dan = app.signup("dan").await;
        app.follow(&ann, &bob).await;
        app.follow(&cat, &bob).await;
        app.follow(&cat, &dan).await;
        for u in [&bob, &ann, &cat] {
            app.home(u, "").await; // warm: fanout, not a rebuild, is the path
        }
        let root = app.post_id(&bob, "a post of bob's").await;
        let dans = app.post_id(&dan, "a post of dan's").await;
        let anns = app.post_id(&ann, "a post of ann's").await;
        let to_self = reply(&app, &bob, &root, "bob to bob").await;
        let to_dan = reply(&app, &bob, &dans, "bob to dan").await;
        let to_ann = reply(&app, &bob, &anns, "bob to ann").await;
        // ann follows bob only: bob's reply to himself and to her, not to dan.
        let ann_sees = vec![to_ann.clone(), to_self.clone(), anns.clone(), root.clone()];
        app.home_becomes(&ann, &ann_sees).await;
        // cat follows bob and dan: the replies to bob and dan, not to ann.
        let cat_sees = vec![to_dan.clone(), to_self.clone(), dans.clone(), root.clone()];
        app.home_becomes(&cat, &cat_sees).await;
        // bob sees all of his own.
        let bob_sees = vec![
            to_ann.clone(),
            to_dan.clone(),
            to_self.clone(),
            root.clone(),
        ];
        app.home_becomes(&bob, &bob_sees).await;
        // A new follower's backfill takes the same rule.
        let eve = app.signup("eve").await;
        app.home(&eve, "").await;
        app.follow(&eve, &bob).await;
        let eve_sees = vec![to_self.clone(), root.clone()];
        app.home_becomes(&eve, &eve_sees).await;

        // Rebuilt from the posts store after a restart: the same.
        let app = app.restart(|_| {}).await;
        if let Some(redis) = &app.system().stores.redis {
            redis.delete_prefix().await.unwrap();
        }
        assert_eq!(app.home_ids(&ann).await, ann_sees);
        assert_eq!(app.home_ids(&cat).await, cat_sees);
        assert_eq!(app.home_ids(&eve).await, eve_sees);

        // bob above the threshold (4 followers > 3): merged in at read, the same rule.
        let fay = app.signup("fay").await;
        app.follow(&fay, &bob).await;
        eventually("bob is a celebrity", || async {
            (app.user(&bob.id).await["followers_count"] == 4).then_some(())
        })
        .await;
        let late_to_dan = reply(&app, &bob, &dans, "bob to dan again").await;
        let late_to_self = reply(&app, &bob, &root, "bob to bob again").await;
        assert!(!app
            .system()
            .timeline_store_entries(id(&ann.id))
            .await
            .iter()
            .any(|e| e.post == id(&late_to_self)));
        let mut ann_now = vec![late_to_self.clone()];
        ann_now.extend(ann_sees.iter().cloned());
        assert_eq!(app.home_ids(&ann).await, ann_now);
        let mut cat_now = vec![late_to_self.clone(), late_to_dan.clone()];
        cat_now.extend(cat_sees.iter().cloned());
        assert_eq!(app.home_ids(&cat).await, cat_now);
        // Walked a page at a time, the filtered replies shorten no page.
        let walked = app
            .walk("/api/v1/timelines/home", Some(&ann.access), 1, || async {})
            .await;
        assert_eq!(walked, ann_now);
    }

    /// A page of a home whose stored part and merged-in part are each smaller than the
    /// page, but together larger: the walk goes on to what the first page left out.
    #[tokio::test]
    async fn a_walk_sees_what_two_small_sources_hold_together() {
        let app = spawn_app_with(|s| s.celebrity_threshold = 1).await;
        let reader = app.signup("reader").await;
        let friend = app.signup("friend").await;
        let celeb = app.signup("celeb").await;
        let fan = app.signup("fan").await;
        app.follow(&reader, &friend).await;
        app.follow(&reader, &celeb).await;
        app.follow(&fan, &celeb).await; // 2 followers: above the threshold of 1
        app.home(&reader, "").await;
        let mut all = Vec::new();
        for i in 0..3 {
            all.push(app.post_id(&friend, &format!("friend {i}")).await);
            all.push(app.post_id(&celeb, &format!("celeb {i}")).await);
        }
        all.reverse();
        app.home_becomes(&reader, &all).await;
        let walked = app
            .walk(
                "/api/v1/timelines/home",
                Some(&reader.access),
                4,
                || async {},
            )
            .await;
        assert_eq!(walked, all);
    }
}
