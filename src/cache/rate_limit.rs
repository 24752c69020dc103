//! Request rate limits per API key, per user, and per IP for calls without a credential: GCRA
//! (the generic cell rate algorithm), atomic in Redis by one Lua script so that every replica
//! shares one budget, and in this process when there is no Redis or while it is away (breaker
//! open). A budget is `per_minute` requests at a steady rate with up to `burst` at once.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::RedisCache;

/// One client's rate: steady requests per minute and how many may come at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u64,
    pub burst: u64,
}

impl Rate {
    /// Microseconds between two requests at the steady rate.
    fn interval_us(self) -> u64 {
        60_000_000 / self.per_minute.max(1)
    }
}

/// The decision on one request, with what the `RateLimit` headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still allowed at once after this one.
    pub remaining: u64,
    /// Whole seconds until a refused request may be retried (0 when allowed).
    pub retry_after_seconds: u64,
    /// Whole seconds until the full burst is available again.
    pub reset_seconds: u64,
}

/// GCRA over a theoretical arrival time (TAT) in microseconds, shared by the script and the
/// in-process fallback: returns the decision and the new TAT to store (if allowed).
fn gcra(tat: u64, now: u64, rate: Rate) -> (Decision, Option<u64>) {
    let t = rate.interval_us();
    let tolerance = t * rate.burst.max(1).saturating_sub(1);
    let tat = tat.max(now);
    if tat - now > tolerance {
        let wait = tat - now - tolerance;
        let d = Decision {
            allowed: false,
            remaining: 0,
            retry_after_seconds: wait.div_ceil(1_000_000).max(1),
            reset_seconds: (tat - now).div_ceil(1_000_000),
        };
        return (d, None);
    }
    let new_tat = tat + t;
    let used = (new_tat - now).div_ceil(t);
    let d = Decision {
        allowed: true,
        remaining: rate.burst.saturating_sub(used),
        retry_after_seconds: 0,
        reset_seconds: (new_tat - now).div_ceil(1_000_000),
    };
    (d, Some(new_tat))
}

/// The same algorithm in Lua, on Redis's own clock (so replicas need not agree on time).
const SCRIPT: &str = r#"
local t = tonumber(ARGV[1])
local tolerance = t * (tonumber(ARGV[2]) - 1)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, tat - now - tolerance, tat - now}
end
local new_tat = tat + t
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, new_tat - now, new_tat - now}
"#;

pub struct RateLimiter {
    redis: Option<Arc<RedisCache>>,
    script: redis::Script,
    local: Mutex<HashMap<String, u64>>,
    started: Instant,
}

impl RateLimiter {
    pub fn new(redis: Option<Arc<RedisCache>>) -> Self {
        Self {
            redis,
            script: redis::Script::new(SCRIPT),
            local: Mutex::new(HashMap::new()),
            started: Instant::now(),
        }
    }

    /// Takes one request from `who`'s budget: in Redis when it answers, in-process otherwise.
    pub async fn check(&self, who: &str, rate: Rate) -> Decision {
        if let Some(redis) = &self.redis {
            match self.check_redis(redis, who, rate).await {
                Ok(d) => return d,
                Err(e) => tracing::debug!(error = %e, "rate limit counted in-process"),
            }
        }
        self.check_local(who, rate)
    }

    async fn check_redis(
        &self,
        redis: &RedisCache,
        who: &str,
        rate: Rate,
    ) -> Result<Decision, super::CacheError> {
        let mut conn = redis.conn();
        let key = redis.key(&format!("rate:{who}"));
        let mut invocation = self.script.key(key);
        invocation.arg(rate.interval_us()).arg(rate.burst.max(1));
        let (allowed, wait_us, ahead_us): (i64, i64, i64) = redis
            .breaker
            .call(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let wait = u64::try_from(wait_us).unwrap_or(0);
        let ahead = u64::try_from(ahead_us).unwrap_or(0);
        let t = rate.interval_us();
        Ok(if allowed == 1 {
            Decision {
                allowed: true,
                remaining: rate.burst.saturating_sub(ahead.div_ceil(t)),
                retry_after_seconds: 0,
                reset_seconds: ahead.div_ceil(1_000_000),
            }
        } else {
            Decision {
                allowed: false,
                remaining: 0,
                retry_after_seconds: wait.div_ceil(1_000_000).max(1),
                reset_seconds: ahead.div_ceil(1_000_000),
            }
        })
    }

    fn check_local(&self, who: &str, rate: Rate) -> Decision {
        let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.len() > 100_000 {
            local.retain(|_, tat| *tat > now);
        }
        let tat = local.get(who).copied().unwrap_or(0);
        let (decision, new_tat) = gcra(tat, now, rate);
        if let Some(new_tat) = new_tat {
            local.insert(who.to_owned(), new_tat);
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_minute: 60,
        burst: 3,
    };

    #[test]
    fn a_burst_passes_then_the_next_waits_one_interval() {
        let mut tat = 0;
        for left in [2, 1, 0] {
            let (d, new) = gcra(tat, 10, RATE);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
            tat = new.expect("stored");
        }
        let (d, new) = gcra(tat, 10, RATE);
        assert!(!d.allowed && new.is_none());
        assert_eq!(d.retry_after_seconds, 1);
        // One second later one more request fits.
        assert!(gcra(tat, 10 + 1_000_000, RATE).0.allowed);
    }

    fn parse(spec: &str) -> Option<HashMap<String, u64>> {
        crate::config::Config {
            rate_limit_plans: spec.into(),
            ..Default::default()
        }
        .rate_limit_plan_rates()
    }

    #[test]
    fn plan_overrides_parse_or_are_refused() {
        let rates = parse("pro=600, free=60").expect("valid");
        assert_eq!(rates["pro"], 600);
        assert_eq!(rates["free"], 60);
        assert!(parse("pro=").is_none());
        assert!(parse("pro=0").is_none());
        assert_eq!(parse("").map(|r| r.len()), Some(0));
    }
}
