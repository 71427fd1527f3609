//! Latency histograms: HDR histograms of microseconds, from 1 µs to 10 minutes at three
//! significant digits, summarised as the percentiles the report shows.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Clone)]
pub struct Latency(Histogram<u64>);

/// What a histogram says, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency(
            Histogram::new_with_bounds(1, 600_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
        )
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 600_000_000);
        // Within the bounds set above, so it cannot fail.
        let _ = self.0.record(us);
    }

    pub fn add(&mut self, other: &Latency) {
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q` (0–1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn summary(&self) -> Summary {
        if self.0.is_empty() {
            return Summary::default();
        }
        Summary {
            count: self.0.len(),
            mean_ms: self.0.mean() / 1000.0,
            p50_ms: self.quantile_ms(0.50),
            p90_ms: self.quantile_ms(0.90),
            p99_ms: self.quantile_ms(0.99),
            p999_ms: self.quantile_ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }

    /// (latency in ms, share of samples at or below it), for a distribution plot.
    pub fn cdf(&self, points: usize) -> Vec<(f64, f64)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        (0..=points)
            .map(|i| {
                let q = i as f64 / points as f64;
                (self.quantile_ms(q), q)
            })
            .collect()
    }
}

/// Where in a step the slow answers were: answers counted in windows of the time they
/// were due, and for each window that had one slower than `slow`, how many and the worst.
/// A tail that is a few bursts (a pause somewhere) reads differently from one spread over
/// the whole step (a queue that never drains).
#[derive(Debug, Clone)]
pub struct Windows {
    width: Duration,
    slow: Duration,
    windows: Vec<WindowCount>,
}

#[derive(Debug, Clone, Copy, Default)]
struct WindowCount {
    answers: u64,
    slow: u64,
    worst: Duration,
}

/// One window with slow answers, as the report shows it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct SlowWindow {
    /// Start of the window, from the step's start (ms).
    pub at_ms: u64,
    /// Answers to requests due in the window.
    pub answers: u64,
    /// Of those, slower than the bound.
    pub slow: u64,
    pub worst_ms: f64,
}

impl Windows {
    pub fn new(width: Duration, slow: Duration) -> Self {
        Windows {
            width: width.max(Duration::from_millis(1)),
            slow,
            windows: Vec::new(),
        }
    }

    /// An answer to a request due `due` after the step's start, that took `took`.
    pub fn record(&mut self, due: Duration, took: Duration) {
        let i = (due.as_nanos() / self.width.as_nanos()) as usize;
        if self.windows.len() <= i {
            self.windows.resize(i + 1, WindowCount::default());
        }
        let w = &mut self.windows[i];
        w.answers += 1;
        if took > self.slow {
            w.slow += 1;
        }
        w.worst = w.worst.max(took);
    }

    /// The windows that had a slow answer, in order.
    pub fn slow_windows(&self) -> Vec<SlowWindow> {
        self.windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.slow > 0)
            .map(|(i, w)| SlowWindow {
                at_ms: (self.width * i as u32).as_millis() as u64,
                answers: w.answers,
                slow: w.slow,
                worst_ms: w.worst.as_secs_f64() * 1000.0,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b * 0.002 + 0.001
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = Latency::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!(close(s.p50_ms, 500.0), "{s:?}");
        assert!(close(s.p90_ms, 900.0), "{s:?}");
        assert!(close(s.p99_ms, 990.0), "{s:?}");
        assert!(close(s.p999_ms, 999.0), "{s:?}");
        assert!(close(s.max_ms, 1000.0), "{s:?}");
        assert!(close(s.mean_ms, 500.5), "{s:?}");
    }

    #[test]
    fn one_slow_request_in_a_thousand_is_the_p999_not_the_p99() {
        let mut h = Latency::default();
        for _ in 0..999 {
            h.record(Duration::from_micros(250));
        }
        h.record(Duration::from_secs(2));
        let s = h.summary();
        assert!(close(s.p99_ms, 0.25), "{s:?}");
        assert!(close(s.max_ms, 2000.0), "{s:?}");
        assert!(close(s.p999_ms, 0.25) || close(s.p999_ms, 2000.0), "{s:?}");
    }

    #[test]
    fn histograms_merge_and_an_empty_one_says_zero() {
        assert_eq!(Latency::default().summary(), Summary::default());
        let mut a = Latency::default();
        let mut b = Latency::default();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(3));
        a.add(&b);
        assert_eq!(a.count(), 2);
        assert!(close(a.summary().max_ms, 3.0));
        let cdf = a.cdf(4);
        assert_eq!(cdf.len(), 5);
        assert!(cdf.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
    }

    #[test]
    fn slow_answers_are_placed_in_the_window_they_were_due_in() {
        let mut w = Windows::new(Duration::from_millis(100), Duration::from_millis(20));
        // A quiet window, then a burst in the third window, then one slow answer later.
        for i in 0..50u64 {
            w.record(Duration::from_millis(i * 2), Duration::from_millis(1));
        }
        for i in 0..10u64 {
            w.record(
                Duration::from_millis(200 + i),
                Duration::from_millis(30 + i),
            );
        }
        w.record(Duration::from_millis(250), Duration::from_millis(2));
        w.record(Duration::from_millis(1_050), Duration::from_millis(25));
        // Exactly the bound is not slow.
        w.record(Duration::from_millis(1_500), Duration::from_millis(20));
        assert_eq!(
            w.slow_windows(),
            vec![
                SlowWindow {
                    at_ms: 200,
                    answers: 11,
                    slow: 10,
                    worst_ms: 39.0
                },
                SlowWindow {
                    at_ms: 1_000,
                    answers: 1,
                    slow: 1,
                    worst_ms: 25.0
                },
            ]
        );
    }
}
