//! One circuit breaker in front of every Redis call (cache, invalidation, rate limits, login
//! throttling). Closed: calls go through, each bounded by a short timeout. After
//! `failures` consecutive failures it opens: calls are refused at once, without touching the
//! network, so a Redis outage costs requests nothing. After `open_for` one trial call is let
//! through (half-open); its success closes the breaker, its failure opens it again.
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::CacheError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

struct Inner {
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

pub struct Breaker {
    inner: Mutex<Inner>,
    failures: u32,
    open_for: Duration,
    timeout: Duration,
}

impl Breaker {
    pub fn new(timeout: Duration, failures: u32, open_for: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                consecutive_failures: 0,
                opened_at: None,
                trial_in_flight: false,
            }),
            failures: failures.max(1),
            open_for,
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(at) if at.elapsed() >= self.open_for => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// Whether a call may go out now; in half-open state only one trial at a time.
    fn admit(&self) -> bool {
        let mut inner = self.lock();
        match inner.opened_at {
            None => true,
            Some(at) if at.elapsed() >= self.open_for && !inner.trial_in_flight => {
                inner.trial_in_flight = true;
                true
            }
            Some(_) => false,
        }
    }

    fn record(&self, ok: bool) {
        let mut inner = self.lock();
        inner.trial_in_flight = false;
        if ok {
            if inner.opened_at.is_some() {
                tracing::info!("redis is back; circuit breaker closed");
            }
            inner.consecutive_failures = 0;
            inner.opened_at = None;
        } else {
            inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
            if inner.opened_at.is_some() || inner.consecutive_failures >= self.failures {
                if inner.opened_at.is_none() {
                    tracing::warn!(
                        "redis failing; circuit breaker open, using in-process fallbacks"
                    );
                }
                inner.opened_at = Some(Instant::now());
            }
        }
    }

    /// A call made outside the breaker (the readiness ping) proved Redis answers.
    pub fn record_success(&self) {
        self.record(true);
    }

    /// Runs `call` if the breaker admits it, bounded by the timeout, and records the outcome.
    pub async fn call<T, E: std::fmt::Display>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, CacheError> {
        if !self.admit() {
            return Err(CacheError("redis circuit breaker open".into()));
        }
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(CacheError(e.to_string())),
            Err(_) => Err(CacheError("redis did not answer in time".into())),
        };
        self.record(outcome.is_ok());
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fail() -> Result<(), CacheError> {
        Err(CacheError("down".into()))
    }

    #[tokio::test]
    async fn opens_after_consecutive_failures_and_closes_after_a_good_trial() {
        let b = Breaker::new(Duration::from_secs(1), 2, Duration::from_millis(20));
        assert!(b.call(fail()).await.is_err());
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.call(fail()).await.is_err());
        assert_eq!(b.state(), BreakerState::Open);
        // Open: the call is not even made.
        let mut ran = false;
        let r = b
            .call(async {
                ran = true;
                Ok::<_, CacheError>(())
            })
            .await;
        assert!(r.is_err() && !ran);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.call(async { Ok::<_, CacheError>(()) }).await.is_ok());
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn a_failed_trial_opens_it_again_and_a_hung_call_times_out() {
        let b = Breaker::new(Duration::from_millis(10), 1, Duration::from_millis(20));
        let hung = b
            .call(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<_, CacheError>(())
            })
            .await;
        assert!(hung.is_err());
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(b.call(fail()).await.is_err());
        assert_eq!(b.state(), BreakerState::Open);
    }
}
