//! Threads: replies (oldest first) and ancestors (root first), and reply counts.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

impl TestApp {
    pub(crate) async fn reply(&self, who: &TestUser, to: &str, text: &str) -> String {
        let res = self
            .post_raw(&who.access, json!({"text": text, "reply_to": to}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        body(res).await["id"].as_str().unwrap().to_owned()
    }

    async fn replies(&self, post: &str, query: &str) -> Value {
        self.get_json(&format!("/api/v1/posts/{post}/replies{query}"), None)
            .await
    }

    async fn ancestors(&self, post: &str) -> Vec<String> {
        ids(&self
            .get_json(&format!("/api/v1/posts/{post}/ancestors"), None)
            .await)
    }
}

#[tokio::test]
async fn replies_read_down_and_ancestors_read_up() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let cyd = app.signup("cyd").await;
    let root = app.post_id(&ann, "root").await;
    let first = app.reply(&bob, &root, "first reply").await;
    let second = app.reply(&cyd, &root, "second reply").await;
    let deep = app.reply(&ann, &first, "deeper").await;
    let deeper = app.reply(&cyd, &deep, "deeper still").await;

    assert_eq!(
        ids(&app.replies(&root, "").await),
        [first.clone(), second.clone()]
    );
    let page = app.replies(&root, "?limit=1").await;
    assert_eq!(ids(&page), [first.as_str()]);
    assert!(page["next_cursor"].is_string());
    assert_eq!(ids(&app.replies(&first, "").await), [deep.as_str()]);
    assert_eq!(
        app.ancestors(&deeper).await,
        [root.clone(), first.clone(), deep.clone()]
    );
    assert_eq!(app.ancestors(&root).await, Vec::<String>::new());
    let counted = |post: String| {
        let app = &app;
        async move {
            eventually(&format!("{post}'s replies counted"), || async {
                let p = app.get_json(&format!("/api/v1/posts/{post}"), None).await;
                Some(p["reply_count"].as_u64().unwrap())
            })
            .await
        }
    };
    assert_eq!(counted(root.clone()).await, 2);
    assert_eq!(counted(first.clone()).await, 1);

    // A deleted reply leaves the replies and the count; a chain ends at it.
    assert_eq!(
        app.delete(&bob, &first).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(ids(&app.replies(&root, "").await), [second.as_str()]);
    assert_eq!(app.ancestors(&deeper).await, [deep.as_str()]);
    eventually("the deleted reply is no longer counted", || async {
        let p = app.get_json(&format!("/api/v1/posts/{root}"), None).await;
        (p["reply_count"] == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_walk_over_replies_sees_each_once_while_replies_arrive() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let root = app.post_id(&ann, "a long conversation").await;
    let mut expected = Vec::new();
    for i in 0..7 {
        expected.push(app.reply(&bob, &root, &format!("reply {i}")).await);
    }
    let arrived = std::sync::Mutex::new(Vec::new());
    let walked = app
        .walk(
            &format!("/api/v1/posts/{root}/replies"),
            None,
            2,
            || async {
                let n = arrived.lock().unwrap().len();
                if n < 3 {
                    let id = app.reply(&ann, &root, &format!("late {n}")).await;
                    arrived.lock().unwrap().push(id);
                }
            },
        )
        .await;
    // Oldest first: what arrives during the walk is read at its end.
    expected.extend(arrived.into_inner().unwrap());
    assert_eq!(walked, expected);
}

#[tokio::test]
async fn a_thread_of_a_missing_post_is_404() {
    let app = spawn_app().await;
    let ann = app.signup("ann").await;
    let gone = app.post_id(&ann, "gone").await;
    assert_eq!(
        app.delete(&ann, &gone).await.status(),
        StatusCode::NO_CONTENT
    );
    for post in ["1", gone.as_str(), "x"] {
        for what in ["replies", "ancestors"] {
            let res = app.get(&format!("/api/v1/posts/{post}/{what}"), None).await;
            assert_problem(res, StatusCode::NOT_FOUND).await;
        }
    }
    let res = app
        .get(&format!("/api/v1/posts/{gone}/replies?limit=0"), None)
        .await;
    assert!(res.status().is_client_error());
    // A reply to a deleted post is refused.
    let res = app
        .post_raw(&ann.access, json!({"text": "late", "reply_to": gone}))
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}
