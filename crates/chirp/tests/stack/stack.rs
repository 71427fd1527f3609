//! A local stack of this test's own, driven through `scripts/stack.sh`, and the traffic
//! the fault tests put through it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chirp_testkit::api::{sum_of, Api, Session, StackEnv};
use tokio_util::sync::CancellationToken;

/// One stack at a time: each is seven services and five servers on two cores.
pub static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Stack {
    dir: PathBuf,
    env: Option<StackEnv>,
    /// The public API, through the gateway.
    pub api: Api,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/stack.sh")
}

impl Stack {
    /// Starts a stack named `name` with `fanouts` fanout processes in one consumer group.
    pub async fn up(name: &str, fanouts: usize) -> Stack {
        Stack::up_with(name, &[("CHIRP_STACK_FANOUTS", &fanouts.to_string())]).await
    }

    /// Starts a stack named `name`, with `settings` in the environment of
    /// `scripts/stack.sh up` (and so of every process it starts).
    pub async fn up_with(name: &str, settings: &[(&str, &str)]) -> Stack {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("stack-{name}"));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        let mut stack = Stack {
            dir,
            env: None,
            api: Api::with_client("http://unset", http),
        };
        let out = stack
            .command("up")
            .envs(settings.iter().copied())
            .output()
            .await
            .expect("scripts/stack.sh runs");
        assert!(
            out.status.success(),
            "the stack did not come up:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = StackEnv::read(&stack.dir.join("env")).unwrap();
        stack.api = Api::with_client(env.gateway().unwrap(), stack.api.http.clone());
        stack.env = Some(env);
        stack
    }

    fn command(&self, verb: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("bash");
        c.arg(script())
            .arg(verb)
            .env("CHIRP_STACK_DIR", &self.dir)
            .env("CHIRP_BINARY", env!("CARGO_BIN_EXE_chirp"))
            .kill_on_drop(true);
        c
    }

    /// `scripts/stack.sh VERB PART`: stop, kill or start one part of the stack.
    pub async fn ctl(&self, verb: &str, part: &str) {
        let out = self
            .command(verb)
            .arg(part)
            .output()
            .await
            .expect("scripts/stack.sh runs");
        assert!(
            out.status.success(),
            "stack.sh {verb} {part}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A file in the stack's directory (`write.log`, `otlp.log`, ...).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A service's own address (`FANOUT`, `FANOUT2`, ...), for its /metrics and /readyz.
    pub fn service(&self, name: &str) -> &str {
        self.env.as_ref().unwrap().get(name).unwrap()
    }

    /// The sum of a counter's series on a service's /metrics.
    pub async fn counter(&self, name: &str, metric: &str) -> f64 {
        let url = format!("{}/metrics", self.service(name));
        sum_of(&self.api.metrics(&url).await.unwrap(), metric)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // A failed test keeps its stack's logs (in target/tmp/stack-NAME-logs) and shows
        // the end of each.
        if std::thread::panicking() {
            let keep = self.dir.with_file_name(format!(
                "{}-logs",
                self.dir.file_name().unwrap().to_string_lossy()
            ));
            let _ = std::fs::remove_dir_all(&keep);
            let _ = std::fs::create_dir_all(&keep);
            if let Ok(entries) = std::fs::read_dir(&self.dir) {
                for e in entries.flatten() {
                    let path = e.path();
                    if path.extension().is_some_and(|x| x == "log") {
                        let _ = std::fs::copy(&path, keep.join(e.file_name()));
                        let text = std::fs::read_to_string(&path).unwrap_or_default();
                        let lines: Vec<&str> = text.lines().collect();
                        eprintln!("--- {} (last lines) ---", path.display());
                        for l in &lines[lines.len().saturating_sub(15)..] {
                            eprintln!("{l}");
                        }
                    }
                }
            }
        }
        let _ = std::process::Command::new("bash")
            .arg(script())
            .arg("down")
            .env("CHIRP_STACK_DIR", &self.dir)
            .output();
    }
}

/// A signed-up user.
pub type User = Session;

/// Signs up `handle` through the gateway.
pub async fn signup(stack: &Stack, handle: &str) -> User {
    let email = format!("{handle}@example.com");
    stack
        .api
        .signup(handle, &email, "long enough")
        .await
        .unwrap()
}

/// `authors` authors and `followers` followers who follow every one of them.
pub async fn population(stack: &Stack, authors: usize, followers: usize) -> (Vec<User>, Vec<User>) {
    let mut a = Vec::new();
    for i in 0..authors {
        a.push(signup(stack, &format!("author{i}")).await);
    }
    let mut f = Vec::new();
    for i in 0..followers {
        let fan = signup(stack, &format!("fan{i}")).await;
        for author in &a {
            stack.api.follow(&fan.access, &author.id).await.unwrap();
        }
        f.push(fan);
    }
    (a, f)
}

/// Posts from the authors in turn, one every `every`, until stopped.
pub struct Writer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Outcome>,
}

/// What the writer saw: the posts acknowledged with 201, and every other answer.
#[derive(Default, Debug)]
pub struct Outcome {
    pub acked: Vec<String>,
    pub refused: Vec<String>,
}

impl Writer {
    pub fn start(stack: &Stack, authors: &[User], every: Duration) -> Writer {
        let api = stack.api.clone();
        let authors = authors.to_vec();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut out = Outcome::default();
            let mut n = 0usize;
            while !token.is_cancelled() {
                let author = &authors[n % authors.len()];
                match api.post(&author.access, &format!("post number {n}")).await {
                    Ok(post) => out.acked.push(post["id"].as_str().unwrap().to_owned()),
                    Err(e) => out.refused.push(format!("{e:#}")),
                }
                n += 1;
                tokio::time::sleep(every).await;
            }
            out
        });
        Writer { stop, task }
    }

    pub async fn finish(self) -> Outcome {
        self.stop.cancel();
        self.task.await.unwrap()
    }
}

/// Every id in `who`'s home timeline, walking every page; None while it cannot be read.
async fn home(stack: &Stack, who: &User) -> Option<Vec<String>> {
    let path = "/api/v1/timelines/home";
    stack
        .api
        .walk(path, Some(&who.access), 100, || async {})
        .await
        .ok()
}

/// Reads every follower's home timeline once (so that it is cached).
pub async fn read_every_home(stack: &Stack, followers: &[User]) {
    for fan in followers {
        let started = Instant::now();
        while home(stack, fan).await.is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "home unreadable"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits (up to `within`) until every follower's home timeline holds every acknowledged
/// post, then checks that it holds each exactly once and nothing else.
/// Returns when the last of them held every post.
pub async fn every_post_once_in_every_home(
    stack: &Stack,
    followers: &[User],
    acked: &[String],
    within: Duration,
) -> Instant {
    let wanted: HashSet<&String> = acked.iter().collect();
    assert_eq!(wanted.len(), acked.len(), "ids are unique");
    let started = Instant::now();
    let mut all_held = started;
    for (i, fan) in followers.iter().enumerate() {
        let got = loop {
            let got = home(stack, fan).await;
            if let Some(got) = &got {
                let have: HashSet<&String> = got.iter().collect();
                if wanted.is_subset(&have) {
                    all_held = Instant::now();
                    break got.clone();
                }
            }
            if started.elapsed() > within {
                let have: HashSet<String> = got.unwrap_or_default().into_iter().collect();
                let missing: Vec<&&String> =
                    wanted.iter().filter(|id| !have.contains(**id)).collect();
                panic!(
                    "follower {i}: {} of {} acknowledged posts missing after {within:?}, \
                     among them {:?}",
                    missing.len(),
                    acked.len(),
                    &missing[..missing.len().min(5)]
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let mut counts: HashMap<&String, usize> = HashMap::new();
        for id in &got {
            *counts.entry(id).or_default() += 1;
        }
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "follower {i}: posts more than once: {twice:?}"
        );
        let strange: Vec<_> = got.iter().filter(|id| !wanted.contains(id)).collect();
        assert!(
            strange.is_empty(),
            "follower {i}: posts nobody acknowledged: {strange:?}"
        );
    }
    all_held
}
