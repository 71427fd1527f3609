//! Live streams (`GET /api/v1/streaming`): how soon what happens reaches a stream that is
//! open, and what open streams that carry nothing cost the server's memory.
//!
//! The lag step opens home streams for some of the population and notification streams
//! for a few others, then posts at a fixed rate (from users the streams' holders follow)
//! and likes at a lower one (posts of the notification streams' holders), open loop. Each
//! request's answer and each event's arrival is stamped as this process sees it; after
//! the step, each arrival is matched to its request: stream delivery lag is a post's 201
//! to the `event: post` on a follower's home stream (every follower with a stream open,
//! and the author's own), notification lag a like's 204 to the `event: notification` on
//! the author's stream. An event that arrives before its answer counts as 0 ms (and is
//! counted apart).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chirp_testkit::sse::{SseEnd, SseStream};
use futures::stream::{self, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{Member, Population, Target};
use crate::hist::{Latency, Summary};

/// The settings of the lag step.
#[derive(Debug, Clone, Copy)]
pub struct LagSettings {
    /// Home streams open (one per user, from the population's first users on).
    pub home_streams: usize,
    /// Notification streams open (of users with no home stream open), whose holders'
    /// posts are liked.
    pub notification_streams: usize,
    pub posts_per_sec: f64,
    pub likes_per_sec: f64,
    pub duration: Duration,
    /// How long after the last request its events may still arrive: one that has not is
    /// counted missing.
    pub grace: Duration,
}

/// What the lag step measured.
#[derive(Debug, Clone, Serialize)]
pub struct LagResult {
    pub home_streams: usize,
    pub notification_streams: usize,
    pub secs: f64,
    pub posts: usize,
    pub likes: usize,
    pub posts_per_sec: f64,
    pub likes_per_sec: f64,
    pub failed_requests: usize,
    pub first_error: Option<String>,
    /// Streams that ended or broke during the step (a slow reader is disconnected).
    pub streams_lost: usize,
    /// Post 201 to `event: post` on each open home stream it is owed to.
    pub delivery: Summary,
    pub deliveries_owed: u64,
    pub deliveries_missing: u64,
    pub deliveries_before_answer: u64,
    /// Like 204 to `event: notification` on the post's author's stream.
    pub notification: Summary,
    pub notifications_owed: u64,
    pub notifications_missing: u64,
    pub notifications_before_answer: u64,
}

/// What idle streams cost.
#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    pub streams: usize,
    /// The server's resident memory before the streams opened and once they all were
    /// (and had been for a few seconds).
    pub rss_before: Option<u64>,
    pub rss_after: Option<u64>,
    pub bytes_per_stream: Option<f64>,
    pub mib_total: Option<f64>,
    /// The same of its anonymous memory only (heap and stacks): without the pages of the
    /// files the server maps (the embedded database's, read to learn the readers'
    /// follows), which are the kernel's cache of those files.
    pub anon_before: Option<u64>,
    pub anon_after: Option<u64>,
    pub anon_bytes_per_stream: Option<f64>,
    pub anon_mib_total: Option<f64>,
    pub open_secs: f64,
    /// The same streams opened again once their readers were forgotten: what they cost
    /// on a process whose caches the first opening warmed (the embedded database's page
    /// caches, filled by reading 10,000 users' follows; the allocator's pools; the
    /// capacity of the maps of readers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm: Option<Box<IdleResult>>,
}

/// An event as it arrived: on which stream, what it was, when.
struct Arrival {
    stream: usize,
    /// The post's id (home), or the (actor, post) of a like (notification).
    key: (String, String),
    at: Instant,
}

/// A process's resident memory, in bytes: all of it (`VmRSS`), and its anonymous part
/// (`RssAnon`: heap and stacks, without the pages of the files it maps, such as the
/// embedded database's, which are the kernel's cache of those files).
#[derive(Debug, Clone, Copy)]
pub struct Resident {
    pub all: u64,
    pub anonymous: u64,
}

/// Opens `who`'s stream of `kind` (`home` or `notifications`).
async fn open(target: &Target, who: &Member, kind: &str) -> anyhow::Result<SseStream> {
    let res = target
        .http
        .get(format!("{}/api/v1/streaming?stream={kind}", target.base))
        .header("authorization", who.authorization.clone())
        // A stream outlives the client's timeout for requests.
        .timeout(Duration::from_secs(24 * 3600))
        .send()
        .await
        .with_context(|| format!("opening a {kind} stream"))?;
    anyhow::ensure!(
        res.status().is_success(),
        "opening a {kind} stream: {}",
        res.status()
    );
    Ok(SseStream::new(res))
}

/// Opens `n` streams of `kind` for `holders`, `concurrency` at a time.
async fn open_all(
    target: &Target,
    holders: &[&Member],
    kind: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<SseStream>> {
    stream::iter(holders.iter().map(|m| open(target, m, kind)))
        .buffered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Reads stream `index` until `stop`, stamping each event.
fn read(
    index: usize,
    mut s: SseStream,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    lost: Arc<Mutex<usize>>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            let deadline = Instant::now() + Duration::from_millis(250);
            match s.next_event(deadline).await {
                Ok(Some(e)) => {
                    let at = Instant::now();
                    let key = match e.event.as_str() {
                        "post" => (e.id, String::new()),
                        "notification" => (
                            e.data["actor"]["id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            e.data["post"]["id"].as_str().unwrap_or_default().to_owned(),
                        ),
                        _ => continue,
                    };
                    let a = Arrival {
                        stream: index,
                        key,
                        at,
                    };
                    arrivals.lock().unwrap_or_else(|p| p.into_inner()).push(a);
                }
                Ok(None) => {}
                Err(SseEnd::Ended | SseEnd::Broke(_)) => {
                    *lost.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                    return;
                }
            }
        }
    })
}

/// The lag step.
pub async fn lag(target: &Target, pop: &Population, s: LagSettings) -> anyhow::Result<LagResult> {
    let plan = &pop.plan;
    let n = pop.members.len();
    anyhow::ensure!(
        s.posts_per_sec > 0.0 && s.posts_per_sec.is_finite(),
        "posts per second must be above 0"
    );
    anyhow::ensure!(
        s.likes_per_sec > 0.0 && s.likes_per_sec.is_finite(),
        "likes per second must be above 0"
    );
    anyhow::ensure!(
        s.home_streams > 0 && s.notification_streams > 0,
        "the step needs home and notification streams"
    );
    anyhow::ensure!(!s.duration.is_zero(), "the step needs a duration");
    anyhow::ensure!(
        s.home_streams + s.notification_streams < n,
        "{} streams for {n} users",
        s.home_streams + s.notification_streams
    );
    // Home streams: users 1.. (the celebrity's home is like anyone's, but it posts).
    let home: Vec<usize> = (1..=s.home_streams).collect();
    let notified: Vec<usize> = (n - s.notification_streams..n).collect();
    let holders: Vec<&Member> = home.iter().map(|u| &pop.members[*u]).collect();
    let started_opening = Instant::now();
    let mut streams = open_all(target, &holders, "home", 64).await?;
    let notified_members: Vec<&Member> = notified.iter().map(|u| &pop.members[*u]).collect();
    streams.extend(open_all(target, &notified_members, "notifications", 64).await?);
    eprintln!(
        "streams: {} home and {} notification streams open in {:.1} s",
        home.len(),
        notified.len(),
        started_opening.elapsed().as_secs_f64()
    );
    // Each notified user's post, which the likes are of.
    let mut liked_posts = Vec::new();
    for u in &notified {
        liked_posts.push(target.post(&pop.members[*u], "like this #bench").await?);
    }
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let lost = Arc::new(Mutex::new(0usize));
    let stop = CancellationToken::new();
    let readers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, st)| read(i, st, arrivals.clone(), lost.clone(), stop.clone()))
        .collect();
    // Authors: whom the home streams' holders follow (each post is owed to a stream).
    let authors: Vec<usize> = {
        let set: HashSet<u32> = home
            .iter()
            .flat_map(|h| plan.follows[*h].iter().copied())
            .collect();
        let mut v: Vec<usize> = set.into_iter().map(|u| u as usize).collect();
        v.sort_unstable();
        v
    };
    anyhow::ensure!(!authors.is_empty(), "the streams' holders follow no one");

    // The load: posts and likes, open loop, each answer stamped.
    // (author, post, answered) and (whose post, liker, post, answered).
    let posted: Arc<Mutex<Vec<(usize, String, Instant)>>> = Arc::default();
    type Likes = Vec<(usize, String, String, Instant)>;
    let liked: Arc<Mutex<Likes>> = Arc::default();
    let errors: Arc<Mutex<(usize, Option<String>)>> = Arc::default();
    let mut rng = SmallRng::seed_from_u64(11);
    let mut likes_given: HashSet<(usize, usize)> = HashSet::new();
    let mut post_tick = tokio::time::interval(Duration::from_secs_f64(1.0 / s.posts_per_sec));
    let mut like_tick = tokio::time::interval(Duration::from_secs_f64(1.0 / s.likes_per_sec));
    post_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    like_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut k = 0usize;
    while started.elapsed() < s.duration {
        tokio::select! {
            _ = post_tick.tick() => {
                let author = authors[rng.gen_range(0..authors.len())];
                let (target, me) = (target.clone(), pop.members[author].clone());
                let (posted, errors) = (posted.clone(), errors.clone());
                k += 1;
                let text = format!("live post {k} #bench");
                sent.push(tokio::spawn(async move {
                    match target.post(&me, &text).await {
                        Ok(id) => posted.lock().unwrap_or_else(|p| p.into_inner()).push((author, id, Instant::now())),
                        Err(e) => note_error(&errors, e),
                    }
                }));
            }
            _ = like_tick.tick() => {
                // A liker who has not liked that post yet (a like again notifies no one).
                let Some((liker, which)) = (0..100).find_map(|_| {
                    let which = rng.gen_range(0..notified.len());
                    let liker = rng.gen_range(0..n);
                    (liker != notified[which] && !likes_given.contains(&(liker, which)))
                        .then_some((liker, which))
                }) else {
                    continue;
                };
                likes_given.insert((liker, which));
                let (target, me) = (target.clone(), pop.members[liker].clone());
                let post = liked_posts[which].clone();
                let (liked, errors) = (liked.clone(), errors.clone());
                sent.push(tokio::spawn(async move {
                    match target.like(&me, &post).await {
                        Ok(()) => liked.lock().unwrap_or_else(|p| p.into_inner()).push((which, me.id, post, Instant::now())),
                        Err(e) => note_error(&errors, e),
                    }
                }));
            }
        }
    }
    let load_secs = started.elapsed().as_secs_f64();
    for t in sent {
        let _ = t.await;
    }
    tokio::time::sleep(s.grace).await;
    stop.cancel();
    for r in readers {
        let _ = r.await;
    }

    // Matching each arrival to its answer.
    let posted = std::mem::take(&mut *posted.lock().unwrap_or_else(|p| p.into_inner()));
    let liked = std::mem::take(&mut *liked.lock().unwrap_or_else(|p| p.into_inner()));
    let arrivals = std::mem::take(&mut *arrivals.lock().unwrap_or_else(|p| p.into_inner()));
    let (failed_requests, first_error) = errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let streams_lost = *lost.lock().unwrap_or_else(|p| p.into_inner());
    let mut arrived: HashMap<(usize, &(String, String)), Instant> = HashMap::new();
    for a in &arrivals {
        arrived.entry((a.stream, &a.key)).or_insert(a.at);
    }
    // Home streams are 0..home.len(), by holder; who follows whom, among them.
    let stream_of: HashMap<usize, usize> = home.iter().enumerate().map(|(i, u)| (*u, i)).collect();
    let mut delivery = Tally::default();
    for (author, id, acked) in &posted {
        let key = (id.clone(), String::new());
        let owed = plan.followers[*author]
            .iter()
            .map(|f| *f as usize)
            .chain(std::iter::once(*author))
            .filter_map(|u| stream_of.get(&u));
        for stream in owed {
            delivery.count(*acked, arrived.get(&(*stream, &key)));
        }
    }
    let mut notification = Tally::default();
    for (which, actor, post, acked) in &liked {
        let key = (actor.clone(), post.clone());
        notification.count(*acked, arrived.get(&(home.len() + which, &key)));
    }
    Ok(LagResult {
        home_streams: home.len(),
        notification_streams: notified.len(),
        secs: load_secs,
        posts: posted.len(),
        likes: liked.len(),
        posts_per_sec: posted.len() as f64 / load_secs,
        likes_per_sec: liked.len() as f64 / load_secs,
        failed_requests,
        first_error,
        streams_lost,
        delivery: delivery.latency.summary(),
        deliveries_owed: delivery.owed,
        deliveries_missing: delivery.missing,
        deliveries_before_answer: delivery.early,
        notification: notification.latency.summary(),
        notifications_owed: notification.owed,
        notifications_missing: notification.missing,
        notifications_before_answer: notification.early,
    })
}

fn note_error(errors: &Mutex<(usize, Option<String>)>, e: anyhow::Error) {
    let mut e2 = errors.lock().unwrap_or_else(|p| p.into_inner());
    e2.0 += 1;
    e2.1.get_or_insert_with(|| format!("{e:#}"));
}

/// Arrivals matched to what was owed.
#[derive(Default)]
struct Tally {
    latency: Latency,
    owed: u64,
    missing: u64,
    early: u64,
}

impl Tally {
    fn count(&mut self, acked: Instant, arrived: Option<&Instant>) {
        self.owed += 1;
        match arrived {
            None => self.missing += 1,
            Some(at) => {
                if *at < acked {
                    self.early += 1;
                }
                self.latency.record(at.saturating_duration_since(acked));
            }
        }
    }
}

/// Opens `n` home streams (of the population's users in turn), waits until they have all
/// been open for `settle`, and reads the server's memory before and after (`rss` of the
/// server's process, when there is one to read); then closes them.
pub async fn idle(
    target: &Target,
    pop: &Population,
    n: usize,
    settle: Duration,
    memory: impl Fn() -> Option<Resident>,
) -> anyhow::Result<IdleResult> {
    let before = memory();
    let started = Instant::now();
    let holders: Vec<&Member> = (0..n)
        .map(|i| &pop.members[i % pop.members.len()])
        .collect();
    let streams = open_all(target, &holders, "home", 64).await?;
    let open_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = memory();
    drop(streams);
    let grown = |f: fn(&Resident) -> u64| {
        before
            .zip(after)
            .map(|(b, a)| f(&a).saturating_sub(f(&b)) as f64)
    };
    let (all, anon) = (grown(|r| r.all), grown(|r| r.anonymous));
    Ok(IdleResult {
        streams: n,
        rss_before: before.map(|r| r.all),
        rss_after: after.map(|r| r.all),
        bytes_per_stream: all.map(|g| g / n.max(1) as f64),
        mib_total: all.map(|g| g / (1024.0 * 1024.0)),
        anon_before: before.map(|r| r.anonymous),
        anon_after: after.map(|r| r.anonymous),
        anon_bytes_per_stream: anon.map(|g| g / n.max(1) as f64),
        anon_mib_total: anon.map(|g| g / (1024.0 * 1024.0)),
        open_secs,
        warm: None,
    })
}
