//! ReadService's logic: hydration (with the caller's own likes), the home timeline as the
//! merge of the stored timeline with the recent posts of followed "celebrities" (hybrid
//! fanout), threads and likes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chirp_core::model::{Post, Shown, User, UserData, UserRef, Viewer};
use chirp_core::page::{Cursor, Page, PageRequest, MAX_BATCHES};
use chirp_core::peers::{
    followed_among, reply_reaches_without_a_follow, Directory, SocialGraph, Timelines,
};
use chirp_core::time::rfc3339;
use chirp_core::{ApiError, ApiResult, Id};

use crate::ports::ReadStore;

/// The most ancestors a post's thread shows above it.
pub const MAX_ANCESTORS: usize = 40;

pub struct ReadService {
    pub store: Arc<dyn ReadStore>,
    pub graph: Arc<dyn SocialGraph>,
    pub timelines: Arc<dyn Timelines>,
    /// Authors with more followers than this are merged in at read time.
    pub celebrity_threshold: u64,
}

/// Puts `items` in the order of `ids`, dropping the missing.
fn in_order<T>(ids: &[Id], items: Vec<T>, id_of: impl Fn(&T) -> Id) -> Vec<T> {
    let mut by_id: HashMap<Id, T> = items.into_iter().map(|t| (id_of(&t), t)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

impl ReadService {
    pub async fn user(&self, id: Id) -> ApiResult<User> {
        self.users(&[id])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))
    }

    pub async fn user_by_handle(&self, handle: &str) -> ApiResult<User> {
        let no_such_user = || ApiError::NotFound(format!("no user with handle {handle:?}"));
        // No handle holds anything but `A-Z a-z 0-9 _` (nor more than 30 of them): no
        // need to ask the store, which may not even take the value (PostgreSQL refuses
        // a NUL character).
        let could_be = handle.len() <= 30
            && handle
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !could_be {
            return Err(no_such_user());
        }
        let id = self
            .store
            .profile_id_by_handle(&handle.to_ascii_lowercase())
            .await?
            .ok_or_else(no_such_user)?;
        self.user(id).await
    }

    /// The live post `id`, as `viewer` (the caller, if any) sees it.
    pub async fn post(&self, id: Id, viewer: Option<Id>) -> ApiResult<Shown> {
        let post = self
            .store
            .posts_seen(&[id], viewer)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::NotFound(format!("no post {id}")))?;
        // A repost of a post that is gone is gone with it.
        let post = self
            .with_originals(vec![post])
            .await?
            .pop()
            .ok_or_else(|| ApiError::NotFound(format!("no post {id}")))?;
        Ok(self.seen_by(viewer, vec![post]).await?.remove(0))
    }

    /// `posts` with each repost's original in its place, in order; a repost whose
    /// original is gone is left out.
    async fn with_originals(&self, posts: Vec<Arc<Post>>) -> ApiResult<Vec<Arc<Post>>> {
        let originals: Vec<Id> = posts.iter().filter_map(|p| p.original_id()).collect();
        if originals.is_empty() {
            return Ok(posts);
        }
        let found: HashMap<Id, Arc<Post>> = self
            .store
            .posts(&originals)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        Ok(posts
            .into_iter()
            .filter_map(|p| match p.original_id() {
                None => Some(p),
                Some(o) => {
                    let original = found.get(&o)?;
                    let mut p = Arc::unwrap_or_clone(p);
                    p.repost_of = Some(Box::new(Post::clone(original)));
                    Some(Arc::new(p))
                }
            })
            .collect())
    }

    /// The reposts among `posts` that `user`'s home does not show: a home shows an
    /// original at most once, so a repost of a post by someone `user` follows (or is),
    /// whose original is in the home already, or a repost of a post reposted earlier by
    /// someone else `user` follows, is left out. Decided from the graph and the reposts
    /// themselves, so every page of a walk decides it alike.
    async fn reposts_left_out(
        &self,
        user: Id,
        posts: &[Arc<Post>],
        followed: &tokio::sync::OnceCell<HashSet<Id>>,
    ) -> ApiResult<HashSet<Id>> {
        let reposts: Vec<&Arc<Post>> = posts.iter().filter(|p| p.repost_of.is_some()).collect();
        if reposts.is_empty() {
            return Ok(HashSet::new());
        }
        let followed = followed
            .get_or_try_init(|| async {
                let mut f: HashSet<Id> =
                    self.graph.all_followees(user).await?.into_iter().collect();
                f.insert(user);
                Ok::<_, ApiError>(f)
            })
            .await?;
        let originals: Vec<Id> = reposts.iter().filter_map(|p| p.original_id()).collect();
        let mut earliest: HashMap<Id, Id> = HashMap::new();
        for (original, repost, reposter) in self.store.reposts_of(&originals).await? {
            if followed.contains(&reposter) {
                let e = earliest.entry(original).or_insert(repost);
                *e = (*e).min(repost);
            }
        }
        Ok(reposts
            .into_iter()
            .filter(|p| {
                let Some(original) = &p.repost_of else {
                    return false;
                };
                followed.contains(&original.author.id)
                    || earliest.get(&original.id).is_some_and(|e| *e != p.id)
            })
            .map(|p| p.id)
            .collect())
    }

    pub async fn user_posts(
        &self,
        author: Id,
        req: PageRequest,
        viewer: Option<Id>,
    ) -> ApiResult<Page<Shown>> {
        // Reposts of posts deleted since are left out without shortening the page.
        let mut items = Vec::with_capacity(req.limit);
        let mut last_given = None;
        let mut at = req;
        let mut batches = 0;
        let more = loop {
            let mut posts = self.store.posts_by_seen(&[author], at, viewer).await?;
            let more = posts.len() > at.limit;
            posts.truncate(at.limit);
            let Some(last) = posts.last().map(|p| p.id) else {
                break false;
            };
            let order: Vec<Id> = posts.iter().map(|p| p.id).collect();
            let mut kept: HashMap<Id, Arc<Post>> = self
                .with_originals(posts)
                .await?
                .into_iter()
                .map(|p| (p.id, p))
                .collect();
            let mut rest = order.into_iter();
            for id in rest.by_ref() {
                last_given = Some(id);
                items.extend(kept.remove(&id));
                if items.len() == req.limit {
                    break;
                }
            }
            if items.len() == req.limit {
                break more || rest.next().is_some();
            }
            if !more {
                break false;
            }
            batches += 1;
            if batches == MAX_BATCHES {
                break true;
            }
            at.before = Some(last.get());
        };
        // A post read is its author's (posts are read with their authors' profiles), so
        // only a page with none asks whether the author is there at all.
        if items.is_empty() && !self.user_exists(author).await? {
            return Err(ApiError::NotFound(format!("no user {author}")));
        }
        let items = self.seen_by(viewer, items).await?;
        let next_cursor = match last_given {
            Some(id) if more => Some(Cursor(id.get()).encode()),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// The live direct replies to the live post `id`, oldest first.
    pub async fn replies(
        &self,
        id: Id,
        req: PageRequest,
        viewer: Option<Id>,
    ) -> ApiResult<Page<Shown>> {
        self.post(id, None).await?;
        let mut posts = self.store.replies(id, req).await?;
        let more = posts.len() > req.limit;
        posts.truncate(req.limit);
        let keys: Vec<u64> = posts.iter().map(|p| p.id.get()).collect();
        let posts = self.seen_by(viewer, posts).await?;
        Ok(Page::from_keys(posts, &keys, &req, more))
    }

    /// The posts the live post `id` replies to, root first: at most [`MAX_ANCESTORS`],
    /// and none above a deleted one.
    pub async fn ancestors(&self, id: Id, viewer: Option<Id>) -> ApiResult<Vec<Shown>> {
        self.post(id, None).await?;
        let ids = self.store.ancestor_ids(id, MAX_ANCESTORS).await?;
        let mut found: HashMap<Id, Arc<Post>> = self
            .store
            .posts_seen(&ids, viewer)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut chain: Vec<Arc<Post>> = ids.iter().map_while(|id| found.remove(id)).collect();
        chain.reverse();
        self.seen_by(viewer, chain).await
    }

    /// Who liked the live post `id`, most recent like first.
    pub async fn likers(&self, id: Id, req: PageRequest) -> ApiResult<Page<User>> {
        self.post(id, None).await?;
        let mut rows = self.store.likers(id, req).await?;
        let more = rows.len() > req.limit;
        rows.truncate(req.limit);
        let (keys, ids): (Vec<u64>, Vec<Id>) = rows.into_iter().unzip();
        let users = self.users(&ids).await?;
        Ok(Page::from_keys(users, &keys, &req, more))
    }

    /// Who reposted the live post `id`, most recent repost first.
    pub async fn reposters(&self, id: Id, req: PageRequest) -> ApiResult<Page<User>> {
        self.post(id, None).await?;
        let mut rows = self.store.reposters(id, req).await?;
        let more = rows.len() > req.limit;
        rows.truncate(req.limit);
        let (keys, ids): (Vec<u64>, Vec<Id>) = rows.into_iter().unzip();
        let users = self.users(&ids).await?;
        Ok(Page::from_keys(users, &keys, &req, more))
    }

    /// The live posts `user` liked, most recent like first.
    pub async fn liked(
        &self,
        user: Id,
        req: PageRequest,
        viewer: Option<Id>,
    ) -> ApiResult<Page<Shown>> {
        if !self.user_exists(user).await? {
            return Err(ApiError::NotFound(format!("no user {user}")));
        }
        let mut rows = self.store.liked(user, req).await?;
        let more = rows.len() > req.limit;
        rows.truncate(req.limit);
        let (keys, ids): (Vec<u64>, Vec<Id>) = rows.into_iter().unzip();
        let found = self.store.posts_seen(&ids, viewer).await?;
        let posts = in_order(&ids, found, |p: &Arc<Post>| p.id);
        let posts = self.seen_by(viewer, posts).await?;
        Ok(Page::from_keys(posts, &keys, &req, more))
    }

    /// `posts` as `viewer` sees them: with their own state, when there is a viewer, read
    /// from the store the likes are written to, so a like shows in the very next read:
    /// with the posts, when the store read it with them (`posts_seen`), else now.
    /// (The posts themselves are shared, not copied: see [`Shown`].)
    pub async fn seen_by(
        &self,
        viewer: Option<Id>,
        posts: Vec<Arc<Post>>,
    ) -> ApiResult<Vec<Shown>> {
        let Some(viewer) = viewer else {
            return Ok(posts.into_iter().map(|p| Shown::new(p, None)).collect());
        };
        if posts.iter().all(|p| p.viewer.is_some()) {
            return Ok(posts
                .into_iter()
                .map(|p| {
                    let state = p.viewer;
                    Shown::new(p, state)
                })
                .collect());
        }
        // For a repost, the state is the original's (a like of a repost likes it).
        let ids: Vec<Id> = posts.iter().map(|p| p.target_id()).collect();
        let (liked, reposted) = self.store.viewer_state(viewer, &ids).await?;
        Ok(posts
            .into_iter()
            .map(|p| {
                let target = p.target_id();
                let state = Viewer {
                    liked: liked.contains(&target),
                    reposted: reposted.contains(&target),
                };
                Shown::new(p, Some(state))
            })
            .collect())
    }

    /// The caller's home: their stored timeline merged with the recent posts of the
    /// accounts they follow (or are) that are above the hybrid-fanout threshold, without
    /// the posts of those the caller blocks or mutes or who block the caller. What is
    /// filtered out never shortens a page: further batches are read until the page is
    /// full or the timeline ends, and the cursor is the key of the last post given.
    pub async fn home(&self, user: Id, req: PageRequest) -> ApiResult<Page<Shown>> {
        // The graph's part (one call) and the stored timeline's page at the page's size at
        // once: that page is the first batch when there is nothing to filter.
        let (context, first) = tokio::try_join!(
            self.graph.home_context(user, self.celebrity_threshold),
            self.timelines.page(user, req)
        )?;
        let (hidden, celebrities) = (context.hidden, context.celebrities);
        let blocked: HashSet<Id> = hidden.blocked.iter().copied().collect();
        let hidden: HashSet<Id> = hidden.blocked.into_iter().chain(hidden.muted).collect();
        let celebrities: Vec<Id> = celebrities
            .into_iter()
            .filter(|c| !hidden.contains(c))
            .collect();
        // With nothing to filter, one batch of the page's size is the page (but for posts
        // deleted since they were delivered); otherwise read ahead, so that a page whose
        // posts are mostly filtered out takes few rounds.
        let batch_size = if hidden.is_empty() {
            req.limit
        } else {
            (req.limit * 2).clamp(20, 100)
        };
        let mut items = Vec::with_capacity(req.limit);
        let mut keys_seen: Vec<u64> = Vec::with_capacity(req.limit);
        let mut at = PageRequest {
            limit: batch_size,
            before: req.before,
        };
        let followed = tokio::sync::OnceCell::new();
        let mut batches = 0;
        let mut first = (batch_size == req.limit).then_some(first);
        let more = loop {
            let (batch, more) = self
                .home_batch(user, &celebrities, at, first.take())
                .await?;
            let Some(&(last, _)) = batch.last() else {
                break false;
            };
            // Reposts with their originals (those whose original is gone left out), less
            // those the home does not show.
            let found: Vec<Arc<Post>> = batch.iter().filter_map(|(_, p)| p.clone()).collect();
            let found = self.with_originals(found).await?;
            let left_out = self.reposts_left_out(user, &found, &followed).await?;
            let mut shown: HashMap<Id, Arc<Post>> = found
                .into_iter()
                .filter(|p| !left_out.contains(&p.id))
                .map(|p| (p.id, p))
                .collect();
            let mut entries = batch.into_iter();
            for (key, _) in entries.by_ref() {
                keys_seen.push(key);
                let Some(p) = shown.remove(&Id(key)) else {
                    continue;
                };
                let original_hidden = p
                    .repost_of
                    .as_ref()
                    .is_some_and(|o| blocked.contains(&o.author.id));
                if hidden.contains(&p.author.id) || original_hidden {
                    continue;
                }
                items.push(p);
                if items.len() == req.limit {
                    break;
                }
            }
            if items.len() == req.limit {
                break more || entries.next().is_some();
            }
            if !more {
                break false;
            }
            batches += 1;
            if batches == MAX_BATCHES {
                break true;
            }
            at.before = Some(last);
        };
        let items = self.seen_by(Some(user), items).await?;
        let next_cursor = match keys_seen.last() {
            Some(last) if more => Some(Cursor(*last).encode()),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// The replies among `posts` that would not have reached `user`'s home had they been
    /// fanned out (the celebrities' posts are merged in at read instead): replies to
    /// someone `user` does not follow (see [`reply_reaches_without_a_follow`]).
    async fn replies_not_reaching(&self, user: Id, posts: &[Arc<Post>]) -> ApiResult<HashSet<Id>> {
        let parents: Vec<Id> = posts.iter().filter_map(|p| p.reply_to).collect();
        if parents.is_empty() {
            return Ok(HashSet::new());
        }
        let replied: HashMap<Id, Id> = self
            .store
            .posts(&parents)
            .await?
            .into_iter()
            .map(|p| (p.id, p.author.id))
            .collect();
        let replied_author = |p: &Post| p.reply_to.and_then(|r| replied.get(&r).copied());
        let asked: Vec<Id> = posts
            .iter()
            .filter_map(|p| {
                let r = replied_author(p)?;
                (!reply_reaches_without_a_follow(user, p.author.id, r)).then_some(r)
            })
            .collect();
        let followed = followed_among(self.graph.as_ref(), user, asked).await?;
        Ok(posts
            .iter()
            .filter(|p| {
                replied_author(p).is_some_and(|r| {
                    !reply_reaches_without_a_follow(user, p.author.id, r) && !followed.contains(&r)
                })
            })
            .map(|p| p.id)
            .collect())
    }

    /// One batch of the home timeline below `req.before`: the keys of the stored timeline
    /// (`stored`, when they were read already) and of the celebrities' posts, merged,
    /// newest first, each with its post (`None` when it is deleted); and whether there
    /// may be more below.
    async fn home_batch(
        &self,
        user: Id,
        celebrities: &[Id],
        req: PageRequest,
        stored: Option<Vec<Id>>,
    ) -> ApiResult<(Vec<(u64, Option<Arc<Post>>)>, bool)> {
        let stored = match stored {
            Some(ids) => ids,
            None => self.timelines.page(user, req).await?,
        };
        // The stored posts (also those the page will leave out: at most a batch) and the
        // merged-in ones in one read.
        let (found, merged_in) = self
            .store
            .home_posts(&stored, celebrities, req, user)
            .await?;
        let more = stored.len() >= req.limit || merged_in.len() > req.limit;
        let unreached = self.replies_not_reaching(user, &merged_in).await?;

        let mut keys: Vec<u64> = stored
            .iter()
            .map(|id| id.get())
            .chain(merged_in.iter().map(|p| p.id.get()))
            .collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.dedup();
        // Two sources each within the batch can hold more than it together: what the
        // batch leaves out is below it.
        let more = more || keys.len() > req.limit;
        keys.truncate(req.limit);

        let mut known: HashMap<Id, Arc<Post>> = found
            .into_iter()
            .chain(merged_in)
            .map(|p| (p.id, p))
            .collect();
        // A merged-in reply that would not have reached this home is a key with no post,
        // like a deleted one: passed over without ending the batch.
        for id in &unreached {
            known.remove(id);
        }
        Ok((
            keys.into_iter()
                .map(|k| (k, known.remove(&Id(k))))
                .collect(),
            more,
        ))
    }
}

#[async_trait]
impl Directory for ReadService {
    async fn users(&self, ids: &[Id]) -> ApiResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let profiles = self.store.profiles(ids).await?;
        let counts = self.graph.counts(ids).await?;
        let users = profiles
            .into_iter()
            .map(|p| {
                let c = counts.get(&p.id).copied().unwrap_or_default();
                User {
                    id: p.id,
                    handle: p.handle,
                    display_name: p.display_name,
                    bio: p.bio,
                    created_at: rfc3339(p.created_at_ms),
                    followers_count: c.followers,
                    following_count: c.following,
                    posts_count: p.posts_count,
                }
            })
            .collect();
        Ok(in_order(ids, users, |u: &User| u.id))
    }

    async fn posts(&self, ids: &[Id]) -> ApiResult<Vec<Post>> {
        let posts = self.store.posts(ids).await?;
        let posts = self.with_originals(posts).await?;
        let posts = posts.into_iter().map(Arc::unwrap_or_clone).collect();
        Ok(in_order(ids, posts, |p: &Post| p.id))
    }

    async fn home(&self, user: Id, limit: usize) -> ApiResult<Vec<Post>> {
        let page = ReadService::home(self, user, PageRequest::first(limit)).await?;
        Ok(page.items.into_iter().map(Shown::into_post).collect())
    }

    async fn user_data(&self, user: Id) -> ApiResult<UserData> {
        const PAGE: usize = 100;
        let mut posts = Vec::new();
        let mut req = PageRequest::first(PAGE);
        loop {
            let mut page = self.store.posts_by(&[user], req).await?;
            let more = page.len() > PAGE;
            page.truncate(PAGE);
            req.before = page.last().map(|p| p.id.get());
            // Reposts with their originals (of a post since deleted: gone with it).
            let page = self.with_originals(page).await?;
            posts.extend(page.into_iter().map(Arc::unwrap_or_clone));
            if !more {
                break;
            }
        }
        let mut likes = Vec::new();
        let mut req = PageRequest::first(PAGE);
        loop {
            let mut rows = self.store.liked(user, req).await?;
            let more = rows.len() > PAGE;
            rows.truncate(PAGE);
            req.before = rows.last().map(|(key, _)| *key);
            likes.extend(rows.into_iter().map(|(_, post)| post));
            if !more {
                break;
            }
        }
        // Likes of posts deleted since are not the user's any more to see. (In chunks: an
        // embedded store binds one value per id.)
        let mut live: HashSet<Id> = HashSet::with_capacity(likes.len());
        for chunk in likes.chunks(PAGE) {
            live.extend(self.store.posts(chunk).await?.iter().map(|p| p.id));
        }
        likes.retain(|p| live.contains(p));
        let edges = self.graph.edges_of(user).await?;
        let mut everyone: Vec<Id> = [
            &edges.following,
            &edges.followers,
            &edges.blocks,
            &edges.mutes,
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect();
        everyone.sort_unstable();
        everyone.dedup();
        let mut handles: HashMap<Id, String> = HashMap::with_capacity(everyone.len());
        for chunk in everyone.chunks(PAGE) {
            let profiles = self.store.profiles(chunk).await?;
            handles.extend(profiles.into_iter().map(|p| (p.id, p.handle)));
        }
        let refs = |ids: Vec<Id>| -> Vec<UserRef> {
            ids.into_iter()
                .filter_map(|id| {
                    let handle = handles.get(&id)?.clone();
                    Some(UserRef { id, handle })
                })
                .collect()
        };
        Ok(UserData {
            posts,
            likes,
            following: refs(edges.following),
            followers: refs(edges.followers),
            blocks: refs(edges.blocks),
            mutes: refs(edges.mutes),
        })
    }

    async fn posts_seen_by(&self, ids: &[Id], viewer: Id) -> ApiResult<Vec<Post>> {
        let (hidden, posts) = tokio::try_join!(self.graph.hidden_from(viewer), async {
            Ok(self.store.posts_seen(ids, Some(viewer)).await?)
        })?;
        let posts = self.with_originals(posts).await?;
        let posts = in_order(ids, posts, |p: &Arc<Post>| p.id)
            .into_iter()
            .filter(|p| {
                !hidden.blocked.contains(&p.author.id)
                    && p.repost_of
                        .as_ref()
                        .is_none_or(|o| !hidden.blocked.contains(&o.author.id))
            })
            .collect();
        let posts = self.seen_by(Some(viewer), posts).await?;
        Ok(posts.into_iter().map(Shown::into_post).collect())
    }

    async fn user_exists(&self, id: Id) -> ApiResult<bool> {
        Ok(self.store.profile_exists(id).await?)
    }
}
