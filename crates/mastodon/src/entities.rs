//! Mastodon's entities, made from Chirp's objects: the one place that turns Chirp's
//! users, posts, relationships and notifications into what Mastodon clients read.

use chirp_core::model::{Post, Relationship, User};
use chirp_core::Id;
use serde::Deserialize;
use serde_json::{json, Value};

/// The Mastodon version the facade speaks, as clients compare it.
pub const MASTODON_VERSION: &str = "4.3.0";

/// Where links point: the origin the client called.
#[derive(Clone, Copy)]
pub struct Links<'a> {
    pub base: &'a str,
}

impl Links<'_> {
    pub fn profile(&self, handle: &str) -> String {
        format!("{}/@{handle}", self.base)
    }
    pub fn status(&self, handle: &str, id: Id) -> String {
        format!("{}/@{handle}/{id}", self.base)
    }
    pub fn tag(&self, tag: &str) -> String {
        format!("{}/tags/{tag}", self.base)
    }
    pub fn avatar(&self) -> String {
        format!("{}/avatars/original/missing.png", self.base)
    }
    pub fn header(&self) -> String {
        format!("{}/headers/original/missing.png", self.base)
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A post's text as Mastodon's HTML `content`: paragraphs (`<p>`) split at blank lines,
/// `<br>` for the other line breaks, every character of the text escaped, and links for
/// the mentions (of the users in `mentions` only: an unknown handle stays text), the
/// hashtags and the http(s) addresses. The same reading of `@` and `#` as the server's
/// (`chirp_core::text`).
pub fn content_html(text: &str, mentions: &[(Id, String)], links: Links<'_>) -> String {
    let paragraphs: Vec<&str> = text
        .split("\n\n")
        .map(|p| p.trim_matches('\n'))
        .filter(|p| !p.is_empty())
        .collect();
    let mut out = String::new();
    for p in paragraphs {
        out.push_str("<p>");
        inline_html(p, mentions, links, &mut out);
        out.push_str("</p>");
    }
    out
}

fn inline_html(text: &str, mentions: &[(Id, String)], links: Links<'_>, out: &mut String) {
    let mut before: Option<char> = None;
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or(' ');
        let word_start = !before.is_some_and(is_word);
        if c == '@' && word_start {
            let name = &rest[1..];
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            let followed = name[end..].chars().next().is_some_and(is_word);
            let known = mentions
                .iter()
                .find(|(_, h)| h.eq_ignore_ascii_case(&name[..end]));
            if let (true, false, Some((_, handle))) = ((3..=30).contains(&end), followed, known) {
                out.push_str(&format!(
                    "<span class=\"h-card\"><a href=\"{}\" class=\"u-url mention\">@<span>{}</span></a></span>",
                    escape(&links.profile(handle)),
                    escape(&name[..end])
                ));
                before = name[..end].chars().last();
                i += 1 + end;
                continue;
            }
        }
        if c == '#' {
            let tag = &rest[1..];
            let end = tag.find(|c: char| !is_word(c)).unwrap_or(tag.len());
            if end > 0 {
                let shown = &tag[..end];
                out.push_str(&format!(
                    "<a href=\"{}\" class=\"mention hashtag\" rel=\"tag\">#<span>{}</span></a>",
                    escape(&links.tag(&shown.to_lowercase())),
                    escape(shown)
                ));
                before = shown.chars().last();
                i += 1 + end;
                continue;
            }
        }
        if word_start && (rest.starts_with("https://") || rest.starts_with("http://")) {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
                .unwrap_or(rest.len());
            // Punctuation that ends a sentence is not part of the address.
            let url = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'']);
            if url.len() > "https://".len() {
                out.push_str(&format!(
                    "<a href=\"{0}\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">{0}</a>",
                    escape(url)
                ));
                before = url.chars().last();
                i += url.len();
                continue;
            }
        }
        match c {
            '\n' => out.push_str("<br>"),
            c => out.push_str(&escape(c.encode_utf8(&mut [0u8; 4]))),
        }
        before = Some(c);
        i += c.len_utf8();
    }
}

/// A bio as Mastodon's `note`.
fn note_html(bio: &str, links: Links<'_>) -> String {
    content_html(bio, &[], links)
}

/// The Account of `user`.
pub fn account(user: &User, links: Links<'_>) -> Value {
    json!({
        "id": user.id.to_string(),
        "username": user.handle,
        "acct": user.handle,
        "display_name": user.display_name,
        "locked": false,
        "bot": false,
        "discoverable": true,
        "indexable": true,
        "group": false,
        "noindex": false,
        "created_at": user.created_at,
        "note": note_html(&user.bio, links),
        "url": links.profile(&user.handle),
        "uri": links.profile(&user.handle),
        "avatar": links.avatar(),
        "avatar_static": links.avatar(),
        "header": links.header(),
        "header_static": links.header(),
        "followers_count": user.followers_count,
        "following_count": user.following_count,
        "statuses_count": user.posts_count,
        "last_status_at": null,
        "hide_collections": false,
        "emojis": [],
        "fields": [],
        "roles": [],
    })
}

/// The Account of the caller (`verify_credentials`), with its `source`.
pub fn credential_account(user: &User, links: Links<'_>) -> Value {
    let mut a = account(user, links);
    a["source"] = json!({
        "note": user.bio,
        "fields": [],
        "privacy": "public",
        "sensitive": false,
        "language": null,
        "follow_requests_count": 0,
        "indexable": true,
        "hide_collections": false,
        "discoverable": true,
    });
    a
}

/// A post's author as an Account: Chirp's posts carry the author's id, handle and name;
/// the counts and bio are the profile's to tell, which clients fetch when they show it.
fn author_account(post: &Post, links: Links<'_>) -> Value {
    let user = User {
        id: post.author.id,
        handle: post.author.handle.clone(),
        display_name: post.author.display_name.clone(),
        bio: String::new(),
        created_at: post.created_at.clone(),
        followers_count: 0,
        following_count: 0,
        posts_count: 0,
    };
    account(&user, links)
}

/// The Status of `post`.
pub fn status(post: &Post, links: Links<'_>) -> Value {
    let viewer = post.viewer.unwrap_or_default();
    let reblog = post.repost_of.as_deref().map(|o| status(o, links));
    let mentions: Vec<(Id, String)> = post
        .mentions
        .iter()
        .map(|m| (m.id, m.handle.clone()))
        .collect();
    let content = match &reblog {
        Some(_) => String::new(),
        None => content_html(&post.text, &mentions, links),
    };
    let (favourited, reblogged) = match &post.repost_of {
        // A repost shows the caller's state of its original, as Mastodon's do.
        Some(o) => {
            let v = o.viewer.unwrap_or_default();
            (v.liked, v.reposted)
        }
        None => (viewer.liked, viewer.reposted),
    };
    json!({
        "id": post.id.to_string(),
        "uri": links.status(&post.author.handle, post.id),
        "url": links.status(&post.author.handle, post.id),
        "created_at": post.created_at,
        "edited_at": post.edited_at,
        "account": author_account(post, links),
        "content": content,
        "visibility": "public",
        "sensitive": false,
        "spoiler_text": "",
        "media_attachments": [],
        "application": null,
        "mentions": post.mentions.iter().map(|m| json!({
            "id": m.id.to_string(),
            "username": m.handle,
            "acct": m.handle,
            "url": links.profile(&m.handle),
        })).collect::<Vec<_>>(),
        "tags": post.tags.iter().map(|t| json!({"name": t, "url": links.tag(t)})).collect::<Vec<_>>(),
        "emojis": [],
        "reblogs_count": post.repost_count,
        "favourites_count": post.like_count,
        "replies_count": post.reply_count,
        "in_reply_to_id": post.reply_to.map(|id| id.to_string()),
        "in_reply_to_account_id": null,
        "reblog": reblog,
        "poll": null,
        "card": null,
        "language": null,
        "text": null,
        "favourited": favourited,
        "reblogged": reblogged,
        "muted": false,
        "bookmarked": false,
        "pinned": false,
        "filtered": [],
    })
}

/// A deleted status, with its text as written (Mastodon's answer to a delete, so that a
/// client can offer to write it again).
pub fn deleted_status(post: &Post, links: Links<'_>) -> Value {
    let mut s = status(post, links);
    s["text"] = json!(post.text);
    s
}

/// The Relationship of Chirp's relationship.
pub fn relationship(r: &Relationship) -> Value {
    json!({
        "id": r.id.to_string(),
        "following": r.following,
        "showing_reblogs": r.following,
        "notifying": false,
        "languages": null,
        "followed_by": r.followed_by,
        "blocking": r.blocking,
        "blocked_by": r.blocked_by,
        "muting": r.muting,
        "muting_notifications": r.muting,
        "requested": false,
        "requested_by": false,
        "domain_blocking": false,
        "endorsed": false,
        "note": "",
    })
}

/// A notification as NotificationService sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct ChirpNotification {
    pub id: Id,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor: Actor,
    pub post: Option<Post>,
    pub created_at: String,
    #[serde(default)]
    pub read: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Actor {
    pub id: Id,
    pub handle: String,
    pub display_name: String,
}

/// Mastodon's type of a Chirp notification type: a like is a `favourite`, a repost a
/// `reblog`, and a reply, as in Mastodon, a `mention`.
pub fn mastodon_type(chirp: &str) -> &'static str {
    match chirp {
        "follow" => "follow",
        "like" => "favourite",
        "repost" => "reblog",
        _ => "mention",
    }
}

/// Chirp's notification types of Mastodon's `type`; none for a type Chirp never makes.
pub fn chirp_types(mastodon: &str) -> &'static [&'static str] {
    match mastodon {
        "follow" => &["follow"],
        "favourite" => &["like"],
        "reblog" => &["repost"],
        "mention" => &["mention", "reply"],
        _ => &[],
    }
}

pub fn notification(n: &ChirpNotification, links: Links<'_>) -> Value {
    let actor = User {
        id: n.actor.id,
        handle: n.actor.handle.clone(),
        display_name: n.actor.display_name.clone(),
        bio: String::new(),
        created_at: n.created_at.clone(),
        followers_count: 0,
        following_count: 0,
        posts_count: 0,
    };
    json!({
        "id": n.id.to_string(),
        "type": mastodon_type(&n.kind),
        "created_at": n.created_at,
        "group_key": format!("ungrouped-{}", n.id),
        "account": account(&actor, links),
        "status": n.post.as_ref().map(|p| status(p, links)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINKS: Links<'static> = Links {
        base: "https://chirp.example",
    };

    #[test]
    fn content_escapes_text_and_links_known_mentions_tags_and_urls() {
        let mentions = [(Id(7), "alice".to_owned())];
        let html = content_html(
            "Hi @Alice & @nobody <b>#Rust</b>\nsee https://x.example/a?b=1&c=2.\n\nbye",
            &mentions,
            LINKS,
        );
        assert_eq!(
            html,
            "<p>Hi <span class=\"h-card\"><a href=\"https://chirp.example/@alice\" class=\"u-url mention\">@<span>Alice</span></a></span> &amp; @nobody &lt;b&gt;\
             <a href=\"https://chirp.example/tags/rust\" class=\"mention hashtag\" rel=\"tag\">#<span>Rust</span></a>&lt;/b&gt;<br>\
             see <a href=\"https://x.example/a?b=1&amp;c=2\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">https://x.example/a?b=1&amp;c=2</a>.</p><p>bye</p>"
        );
    }

    #[test]
    fn an_at_inside_a_word_mentions_nobody() {
        let mentions = [(Id(7), "alice".to_owned())];
        let html = content_html("mail bob@alice or @alicex", &mentions, LINKS);
        assert_eq!(html, "<p>mail bob@alice or @alicex</p>");
    }

    #[test]
    fn notification_types_map_both_ways() {
        for chirp in ["follow", "like", "repost", "mention", "reply"] {
            assert!(
                chirp_types(mastodon_type(chirp)).contains(&chirp),
                "{chirp}"
            );
        }
        assert!(chirp_types("poll").is_empty());
    }
}
