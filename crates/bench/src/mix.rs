//! The request mix: which operation each scheduled request is. The default is the
//! DeathStarBench social-network mix: 60% read a home timeline, 30% read a user's
//! timeline, 10% compose a post. The engagement mix adds what people do to posts, in
//! the proportions of Twitter's: 50% home, 20% user timeline, 15% like, 5% repost, 5%
//! reply, 5% post.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `GET /api/v1/timelines/home?limit=10` as a random user.
    Home,
    /// `GET /api/v1/users/{id}/posts?limit=10` of a random user.
    User,
    /// `POST /api/v1/posts` as a random user.
    Compose,
    /// `GET /healthz`: the HTTP floor, an empty route on the same server stack.
    Floor,
    /// `POST /api/v1/posts/{id}/like` of a random post of the population, as a random
    /// user.
    Like,
    /// `POST /api/v1/posts/{id}/repost` of a random post (201, or 200 when reposted
    /// before).
    Repost,
    /// `POST /api/v1/posts` replying to a random post.
    Reply,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Home => "home",
            Op::User => "user",
            Op::Compose => "compose",
            Op::Floor => "floor",
            Op::Like => "like",
            Op::Repost => "repost",
            Op::Reply => "reply",
        }
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "home" => Ok(Op::Home),
            "user" => Ok(Op::User),
            "compose" => Ok(Op::Compose),
            "floor" => Ok(Op::Floor),
            "like" => Ok(Op::Like),
            "repost" => Ok(Op::Repost),
            "reply" => Ok(Op::Reply),
            other => Err(format!(
                "unknown operation {other:?} (home, user, compose, floor, like, repost, reply)"
            )),
        }
    }
}

/// Operations with integer weights, e.g. `home=60,user=30,compose=10`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    weights: Vec<(Op, u32)>,
    total: u32,
}

pub const SOCIAL_NETWORK: &str = "home=60,user=30,compose=10";

/// Twitter's engagement mix, as issue 17 gives it.
pub const ENGAGEMENT: &str = "home=50,user=20,like=15,repost=5,reply=5,compose=5";

impl Mix {
    pub fn social_network() -> Mix {
        SOCIAL_NETWORK.parse().unwrap_or_else(|_| unreachable!())
    }

    pub fn only(op: Op) -> Mix {
        Mix {
            weights: vec![(op, 1)],
            total: 1,
        }
    }

    pub fn pick(&self, rng: &mut impl Rng) -> Op {
        let mut at = rng.gen_range(0..self.total);
        for (op, w) in &self.weights {
            if at < *w {
                return *op;
            }
            at -= w;
        }
        self.weights[self.weights.len() - 1].0
    }

    /// The share of requests that are `op`.
    pub fn share(&self, op: Op) -> f64 {
        self.weights
            .iter()
            .filter(|(o, _)| *o == op)
            .map(|(_, w)| *w as f64)
            .sum::<f64>()
            / self.total as f64
    }

    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.weights.iter().map(|(o, _)| *o)
    }
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut weights: Vec<(Op, u32)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (op, w) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not op=weight"))?;
            let op: Op = op.trim().parse()?;
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: the weight is not a whole number"))?;
            if weights.iter().any(|(o, _)| *o == op) {
                return Err(format!("{} given twice", op.name()));
            }
            if w > 0 {
                weights.push((op, w));
            }
        }
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return Err("a mix needs at least one operation with a weight above 0".into());
        }
        Ok(Mix { weights, total })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .weights
            .iter()
            .map(|(o, w)| format!("{}={w}", o.name()))
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_default_mix_is_sixty_thirty_ten() {
        let mix = Mix::social_network();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 200_000;
        let mut counts = std::collections::HashMap::new();
        for _ in 0..n {
            *counts.entry(mix.pick(&mut rng)).or_insert(0u32) += 1;
        }
        let share = |op| counts.get(&op).copied().unwrap_or(0) as f64 / n as f64;
        assert!((share(Op::Home) - 0.60).abs() < 0.005, "{counts:?}");
        assert!((share(Op::User) - 0.30).abs() < 0.005, "{counts:?}");
        assert!((share(Op::Compose) - 0.10).abs() < 0.005, "{counts:?}");
        assert_eq!(share(Op::Floor), 0.0);
        assert_eq!(mix.share(Op::Home), 0.6);
        assert_eq!(mix.to_string(), SOCIAL_NETWORK);
    }

    #[test]
    fn the_engagement_mix_is_twitters() {
        let mix: Mix = ENGAGEMENT.parse().unwrap();
        for (op, share) in [
            (Op::Home, 0.5),
            (Op::User, 0.2),
            (Op::Like, 0.15),
            (Op::Repost, 0.05),
            (Op::Reply, 0.05),
            (Op::Compose, 0.05),
        ] {
            assert_eq!(mix.share(op), share, "{}", op.name());
        }
        assert_eq!(mix.to_string(), ENGAGEMENT);
    }

    #[test]
    fn mixes_parse_and_bad_ones_are_refused() {
        let m: Mix = "compose=1".parse().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!((0..100).all(|_| m.pick(&mut rng) == Op::Compose));
        let m: Mix = "home=1, floor=3, user=0".parse().unwrap();
        assert_eq!(m.share(Op::Floor), 0.75);
        assert_eq!(m.ops().count(), 2);
        for bad in ["", "home", "home=x", "tweet=3", "home=0", "home=1,home=2"] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?} should be refused");
        }
    }
}
