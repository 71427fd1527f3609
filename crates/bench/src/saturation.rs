//! The search for the highest rate the system sustains within a latency bound: steps of
//! the load at rising rates (or falling ones, if the first fails) until one does not hold.

use std::time::Duration;

use serde::Serialize;

use crate::run::{step, Load, StepResult, WINDOW};

/// The rates a saturation search tries: from `from` up by `factor` while steps hold (not
/// past `to`); if the first step does not hold, down by `factor` until one does (not
/// below `from / 16`), so that a system slower than the first step still gets a figure.
#[derive(Debug, Clone)]
pub struct RateSearch {
    from: f64,
    factor: f64,
    to: f64,
    next: Option<f64>,
    sustained: Option<f64>,
}

/// How far below its first rate a search goes down.
const DOWN_TO: f64 = 1.0 / 16.0;

impl RateSearch {
    pub fn new(from: f64, factor: f64, to: f64) -> Self {
        RateSearch {
            from,
            factor: factor.max(1.01),
            to,
            next: (from <= to).then_some(from),
            sustained: None,
        }
    }

    /// The rate of the next step, if there is one.
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// The highest rate that held so far.
    pub fn sustained(&self) -> Option<f64> {
        self.sustained
    }

    /// Records whether the step at [`Self::next_rate`] held.
    pub fn record(&mut self, held: bool) {
        let Some(rate) = self.next else {
            return;
        };
        if held {
            self.sustained = Some(rate);
        }
        // Below the first rate, the search is going down.
        let going_down = rate < self.from;
        self.next = match (held, going_down) {
            (true, false) => Some(rate * self.factor).filter(|r| *r <= self.to),
            (true, true) => None,
            (false, _) if self.sustained.is_none() => {
                Some(rate / self.factor).filter(|r| *r >= self.from * DOWN_TO)
            }
            (false, _) => None,
        };
    }
}

/// The steps of a saturation search ([`RateSearch`]), each `secs` long.
#[derive(Debug, Clone, Serialize)]
pub struct Saturation {
    pub p99_bound_ms: f64,
    pub steps: Vec<StepResult>,
    /// The highest rate that held, requests per second.
    pub sustained: Option<f64>,
}

/// Searches for the highest rate at which `load` holds within `p99_bound_ms`, each step
/// told on stderr under `label`.
pub async fn saturate(
    load: &Load,
    from: f64,
    factor: f64,
    to: f64,
    secs: f64,
    p99_bound_ms: f64,
    label: &str,
) -> Saturation {
    let mut steps = Vec::new();
    let mut search = RateSearch::new(from, factor, to);
    while let Some(rate) = search.next_rate() {
        if !steps.is_empty() {
            // Let queues drain between steps.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let r = step(load, rate, Duration::from_secs_f64(secs)).await;
        let held = r.held(p99_bound_ms);
        eprintln!(
            "{label:<10} {rate:>8.0}/s: achieved {:>8.0}/s, {} {}",
            r.achieved,
            r.ops
                .iter()
                .map(|(op, o)| format!(
                    "{} p99 {:.1} ms ({} errors)",
                    op.name(),
                    o.latency.p99_ms,
                    o.errors
                ))
                .collect::<Vec<_>>()
                .join(", "),
            if held { "held" } else { "did not hold" }
        );
        if !r.slow_windows.is_empty() {
            let at: Vec<String> = r
                .slow_windows
                .iter()
                .take(12)
                .map(|w| format!("{:.1}s({}/{})", w.at_ms as f64 / 1000.0, w.slow, w.answers))
                .collect();
            eprintln!(
                "{label:<10} slow answers in {} windows of {} ms: {}",
                r.slow_windows.len(),
                WINDOW.as_millis(),
                at.join(" ")
            );
        }
        steps.push(r);
        search.record(held);
    }
    Saturation {
        p99_bound_ms,
        steps,
        sustained: search.sustained(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rates a search tries, given which of them hold.
    fn tried(mut search: RateSearch, holds: impl Fn(f64) -> bool) -> Vec<u64> {
        let mut rates = Vec::new();
        while let Some(r) = search.next_rate() {
            rates.push(r.round() as u64);
            search.record(holds(r));
        }
        rates
    }

    #[test]
    fn the_search_steps_up_until_a_step_fails() {
        let search = RateSearch::new(1000.0, 2.0, 100_000.0);
        assert_eq!(
            tried(search.clone(), |r| r < 5000.0),
            [1000, 2000, 4000, 8000]
        );
        let mut s = search;
        for held in [true, true, true, false] {
            s.record(held);
        }
        assert_eq!(s.sustained(), Some(4000.0));
    }

    #[test]
    fn the_search_stops_at_its_ceiling() {
        let search = RateSearch::new(1000.0, 2.0, 5000.0);
        assert_eq!(tried(search, |_| true), [1000, 2000, 4000]);
    }

    #[test]
    fn below_the_first_rate_the_search_steps_down_until_a_step_holds() {
        let search = RateSearch::new(1000.0, 2.0, 100_000.0);
        assert_eq!(tried(search.clone(), |r| r <= 300.0), [1000, 500, 250]);
        let mut s = search;
        for held in [false, false, true] {
            s.record(held);
        }
        assert_eq!(s.sustained(), Some(250.0));
        assert_eq!(s.next_rate(), None);
    }

    #[test]
    fn the_search_goes_down_to_a_sixteenth_of_its_first_rate_at_most() {
        let search = RateSearch::new(1000.0, 2.0, 100_000.0);
        let mut s = search.clone();
        assert_eq!(tried(search, |_| false), [1000, 500, 250, 125, 63]);
        for _ in 0..5 {
            s.record(false);
        }
        assert_eq!(s.sustained(), None);
    }
}
