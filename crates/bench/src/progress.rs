//! A progress bar on stderr, redrawn at most ten times a second.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
    drawn: Mutex<Instant>,
}

impl Progress {
    pub fn new(label: &str, total: u64) -> Progress {
        let p = Progress {
            label: label.to_owned(),
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            drawn: Mutex::new(Instant::now() - Duration::from_secs(1)),
        };
        p.draw(0);
        p
    }

    pub fn inc(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut at) = self.drawn.try_lock() {
            if at.elapsed() >= Duration::from_millis(100) || done == self.total {
                *at = Instant::now();
                self.draw(done);
            }
        }
    }

    fn draw(&self, done: u64) {
        let width = 30;
        let filled = (done * width).checked_div(self.total).unwrap_or(width) as usize;
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{:<10} [{}{}] {done}/{} {rate:>7.0}/s {secs:>5.0} s",
            self.label,
            "=".repeat(filled),
            " ".repeat(width as usize - filled),
            self.total,
        );
        let _ = err.flush();
    }

    pub fn finish(&self) {
        self.draw(self.done.load(Ordering::Relaxed));
        eprintln!();
    }
}
