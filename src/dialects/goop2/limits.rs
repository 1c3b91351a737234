//! Per-peer and per-IP rate limits of the Goop2 routes (goop2-credit-system.md,
//! "Rate Limiting"; field-notes §1 for `/publish`), with the GCRA of `governor`.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::Goop2Error;
use super::settings::RateLimits;

/// Which limit a route draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Balance and store-data reads, per peer.
    Balance,
    /// Purchases and spends, per peer.
    Purchase,
    /// History reads, per peer.
    Transactions,
    /// `/publish`, per client IP.
    Publish,
}

/// The keyed limiters.
pub struct Limiters {
    balance: DefaultKeyedRateLimiter<String>,
    purchase: DefaultKeyedRateLimiter<String>,
    transactions: DefaultKeyedRateLimiter<String>,
    publish: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn per_minute(n: u32) -> DefaultKeyedRateLimiter<String> {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_minute(n))
}

impl Limiters {
    /// From `[goop2.rate_limits]` (requests per minute, each ≥ 1).
    pub fn new(limits: &RateLimits) -> Limiters {
        Limiters {
            balance: per_minute(limits.balance_per_min),
            purchase: per_minute(limits.purchase_per_min),
            transactions: per_minute(limits.transactions_per_min),
            publish: per_minute(limits.publish_per_min),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request of `key` from `limit`.
    ///
    /// # Errors
    /// [`Goop2Error::RateLimited`] with the seconds to wait (at least 1).
    pub fn check(&self, limit: Limit, key: &str) -> Result<(), Goop2Error> {
        let limiter = match limit {
            Limit::Balance => &self.balance,
            Limit::Purchase => &self.purchase,
            Limit::Transactions => &self.transactions,
            Limit::Publish => &self.publish,
        };
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Goop2Error::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Forgets keys that are back to a full quota (called periodically).
    pub fn shrink(&self) {
        for l in [
            &self.balance,
            &self.purchase,
            &self.transactions,
            &self.publish,
        ] {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_per_key_and_says_when_to_retry() {
        let limits = Limiters::new(&RateLimits {
            balance_per_min: 2,
            ..RateLimits::default()
        });
        assert!(limits.check(Limit::Balance, "a").is_ok());
        assert!(limits.check(Limit::Balance, "a").is_ok());
        match limits.check(Limit::Balance, "a") {
            Err(Goop2Error::RateLimited { retry_after_secs }) => {
                assert!((1..=30).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(limits.check(Limit::Balance, "b").is_ok());
        assert!(limits.check(Limit::Purchase, "a").is_ok());
    }
}
