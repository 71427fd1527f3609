//! The population's follower graph, planned before any request: a power law, as social
//! networks have. How many users each one follows is log-normal (most follow tens, a few
//! hundreds); whom they follow is Zipf–Mandelbrot-distributed by popularity rank, so a
//! few users are followed by thousands. User 0 is the celebrity: followed by more users than the
//! server's hybrid-fanout threshold, so its posts are merged in at read time. Every other
//! user stays below the threshold.

/// Popularity: rank `r` is followed in proportion to `1 / (r + OFFSET)^ZIPF` (Zipf–
/// Mandelbrot): with the population's defaults the most followed have thousands of
/// followers and the median user about a dozen.
const ZIPF: f64 = 1.0;
const OFFSET: f64 = 50.0;

use rand::distributions::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
pub struct Plan {
    /// Whom each user follows.
    pub follows: Vec<Vec<u32>>,
    /// Who follows each user.
    pub followers: Vec<Vec<u32>>,
    /// The one user above the threshold.
    pub celebrity: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub users: usize,
    /// The median of how many users each one follows.
    pub median_follows: f64,
    /// The server's hybrid-fanout threshold: the celebrity has more followers than this,
    /// everyone else fewer.
    pub threshold: usize,
    pub seed: u64,
}

impl Plan {
    pub fn new(shape: Shape) -> Plan {
        let n = shape.users;
        assert!(n >= 2, "a population needs two users");
        let mut rng = StdRng::seed_from_u64(shape.seed);
        // Zipf by rank over users 1..n (the celebrity is placed apart).
        let cdf: Vec<f64> = (1..n)
            .scan(0.0, |acc, rank| {
                *acc += 1.0 / (rank as f64 + OFFSET).powf(ZIPF);
                Some(*acc)
            })
            .collect();
        let total = cdf.last().copied().unwrap_or(1.0);
        let normal = rand_distr_normal();
        let cap = shape.threshold.saturating_sub(1).max(1);
        let mut followers: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut follows: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (u, mine) in follows.iter_mut().enumerate() {
            // Log-normal out-degree: median `median_follows`, sigma 0.9.
            let z: f64 = normal.sample(&mut rng);
            let want = (shape.median_follows * (0.9 * z).exp()).round() as usize;
            let want = want.clamp(1, n.saturating_sub(2).max(1));
            let mut tries = 0;
            while mine.len() < want && tries < want * 20 {
                tries += 1;
                let x = rng.gen::<f64>() * total;
                let v = cdf.partition_point(|c| *c < x) + 1;
                if v == u || v >= n || followers[v].len() >= cap || mine.contains(&(v as u32)) {
                    continue;
                }
                mine.push(v as u32);
                followers[v].push(u as u32);
            }
        }
        // The celebrity: followed by `threshold` + 10% (or everyone, if fewer).
        let want = (shape.threshold + shape.threshold / 10 + 1).min(n - 1);
        for u in rand::seq::index::sample(&mut rng, n - 1, want) {
            let u = u + 1;
            follows[u].push(0);
            followers[0].push(u as u32);
        }
        Plan {
            follows,
            followers,
            celebrity: 0,
        }
    }

    pub fn users(&self) -> usize {
        self.follows.len()
    }

    pub fn follow_count(&self) -> usize {
        self.follows.iter().map(Vec::len).sum()
    }

    /// Users by how many follow them, most followed first, the celebrity left out.
    pub fn most_followed(&self) -> Vec<u32> {
        let mut users: Vec<u32> = (0..self.users() as u32)
            .filter(|u| *u != self.celebrity)
            .collect();
        users.sort_by_key(|u| std::cmp::Reverse(self.followers[*u as usize].len()));
        users
    }
}

/// A standard normal distribution (Box–Muller), to keep to `rand`'s own distributions.
fn rand_distr_normal() -> impl Distribution<f64> {
    struct Normal;
    impl Distribution<f64> for Normal {
        fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
            let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
            let u2: f64 = rng.gen();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }
    Normal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::new(Shape {
            users: 10_000,
            median_follows: 25.0,
            threshold: 2_000,
            seed: 42,
        })
    }

    #[test]
    fn most_follow_tens_and_a_few_are_followed_by_thousands() {
        let p = plan();
        let mut out: Vec<usize> = p.follows.iter().map(Vec::len).collect();
        out.sort();
        let median = out[out.len() / 2];
        assert!((15..=45).contains(&median), "median follows {median}");
        assert!(
            out[out.len() * 99 / 100] >= 100,
            "a tail of heavy followers"
        );

        let mut inn: Vec<usize> = (1..p.users()).map(|u| p.followers[u].len()).collect();
        inn.sort();
        let top = inn[inn.len() - 1];
        assert!(top >= 1_000, "the most followed has {top}");
        assert!(top < 2_000, "below the threshold: {top}");
        assert!(
            inn[inn.len() / 2] < 30,
            "the median user is followed by few"
        );
        let thousands = inn.iter().filter(|c| **c >= 1_000).count();
        assert!(
            (1..=20).contains(&thousands),
            "{thousands} followed by thousands"
        );
    }

    #[test]
    fn one_celebrity_above_the_threshold_and_no_duplicates_or_self_follows() {
        let p = plan();
        assert_eq!(p.celebrity, 0);
        assert!(p.followers[0].len() > 2_000);
        for (u, f) in p.follows.iter().enumerate() {
            let mut d = f.clone();
            d.sort();
            d.dedup();
            assert_eq!(d.len(), f.len(), "user {u} follows someone twice");
            assert!(!f.contains(&(u as u32)), "user {u} follows itself");
        }
        assert_eq!(
            p.follow_count(),
            p.followers.iter().map(Vec::len).sum::<usize>()
        );
        assert!(!p.most_followed().contains(&0));
        // The same seed, the same graph.
        assert_eq!(plan().follows, p.follows);
    }

    #[test]
    fn a_small_population_still_has_its_celebrity() {
        let p = Plan::new(Shape {
            users: 50,
            median_follows: 5.0,
            threshold: 20,
            seed: 1,
        });
        assert!(p.followers[0].len() > 20);
        assert!((1..50).all(|u| p.followers[u].len() < 20));
    }
}
