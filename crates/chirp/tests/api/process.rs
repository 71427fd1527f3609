//! `chirp` as a child process of the test, for what needs a process of its own: a kill
//! without warning, a signal, a stop that must end within a deadline. It gets exactly
//! the environment the test gives it (never the test runner's), and is killed when the
//! test drops it, pass or fail.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct ChirpProcess {
    child: Child,
    /// Where it serves its public API.
    pub base: String,
}

impl ChirpProcess {
    /// Starts `chirp ARGS...` with only `envs` in its environment, and waits until it
    /// logs where it listens.
    pub fn start(args: &[&str], envs: &[(&str, String)]) -> ChirpProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chirp"))
            .env_clear()
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "info")
            // A `chirp all`'s Mastodon API on a port of its own choosing (tests run side by
            // side); a flag may say otherwise.
            .env("CHIRP_MASTODON_LISTEN", "127.0.0.1:0")
            .args(args)
            .args(["--log-format", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("chirp starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on ".len()..];
                    let url: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chirp logs where it listens");
        ChirpProcess { child, base }
    }

    /// Its process id, to read its `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, then how long the process took to exit and how it exited, if it did
    /// within `within`.
    pub fn terminate(&mut self, within: Duration) -> Option<(Duration, ExitStatus)> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "SIGTERM sent");
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((started.elapsed(), status));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ChirpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
