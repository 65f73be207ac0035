//! Bearer-token authentication and the per-token rate limit.
//!
//! `Authorization: Bearer <secret>`; the secret's SHA-256 must name a token that is not
//! revoked (`store::tokens`). The request then carries a [`Caller`]; everything it writes to the
//! audit log names `api:<analyst>`. Each token has a token bucket ([`RateLimit`]): a request
//! takes one token; an empty bucket answers 429 with `Retry-After`.
use std::collections::HashMap;
use std::time::Instant;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: i64,
    pub analyst: String,
}

impl Caller {
    /// The audit actor of this caller's requests.
    pub fn actor(&self) -> String {
        format!("api:{}", self.analyst)
    }
}

/// Requests per token: `burst` at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RateLimit {
    /// 10 requests/s sustained, bursts of 60, per token.
    fn default() -> Self {
        RateLimit {
            per_second: 10.0,
            burst: 60.0,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
pub struct Limiter {
    buckets: HashMap<i64, Bucket>,
}

impl Limiter {
    /// Takes one request from `key`'s bucket at `now`: Ok, or Err(seconds until one is free).
    pub fn take(&mut self, key: i64, limit: RateLimit, now: Instant) -> Result<(), u64> {
        let b = self.buckets.entry(key).or_insert(Bucket {
            tokens: limit.burst,
            at: now,
        });
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * limit.per_second).min(limit.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / limit.per_second.max(1e-9);
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// The secret of an `Authorization: Bearer …` header value.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_refills_at_the_rate() {
        let lim = RateLimit {
            per_second: 2.0,
            burst: 3.0,
        };
        let mut l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take(1, lim, t0), Ok(()));
        }
        assert_eq!(l.take(1, lim, t0), Err(1));
        // Another token has its own bucket.
        assert_eq!(l.take(2, lim, t0), Ok(()));
        // Half a second later one request is free again (2/s).
        assert_eq!(l.take(1, lim, t0 + Duration::from_millis(500)), Ok(()));
        assert!(l.take(1, lim, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }
}
