//! Time is injected so billing periods can be tested without sleeping.
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

/// Clocks answer in whole microseconds, what PostgreSQL stores, so a time read back from the
/// database equals the time that was written.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Moves the clock forward; only a controllable clock can. Returns the new time.
    fn advance(&self, _by: TimeDelta) -> Option<DateTime<Utc>> {
        None
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// The development and test clock: real time plus an offset, or, when started at a fixed
/// instant, standing still until advanced.
pub struct ControlledClock {
    state: Mutex<ClockState>,
}

struct ClockState {
    base: DateTime<Utc>,
    /// `Some` while time flows: the instant `base` was read.
    flowing_since: Option<Instant>,
}

impl ControlledClock {
    /// Follows the system time, plus whatever is added by [`Clock::advance`].
    pub fn flowing() -> Self {
        Self {
            state: Mutex::new(ClockState {
                base: Utc::now(),
                flowing_since: Some(Instant::now()),
            }),
        }
    }

    /// Stands still at `at` until advanced.
    pub fn frozen_at(at: DateTime<Utc>) -> Self {
        Self {
            state: Mutex::new(ClockState {
                base: at,
                flowing_since: None,
            }),
        }
    }

    fn read(state: &ClockState) -> DateTime<Utc> {
        match state.flowing_since {
            Some(since) => TimeDelta::from_std(since.elapsed())
                .ok()
                .and_then(|d| state.base.checked_add_signed(d))
                .unwrap_or(state.base),
            None => state.base,
        }
    }
}

impl Clock for ControlledClock {
    fn now(&self) -> DateTime<Utc> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Self::read(&state).trunc_subsecs(6)
    }

    fn advance(&self, by: TimeDelta) -> Option<DateTime<Utc>> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let next = Self::read(&state).checked_add_signed(by)?;
        state.base = next;
        if state.flowing_since.is_some() {
            state.flowing_since = Some(Instant::now());
        }
        Some(next.trunc_subsecs(6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let start: DateTime<Utc> = "2026-01-31T10:00:00Z".parse().expect("time");
        let clock = ControlledClock::frozen_at(start);
        assert_eq!(clock.now(), start);
        assert_eq!(clock.now(), start);
        let later = clock.advance(TimeDelta::days(3));
        assert_eq!(later, Some(start + TimeDelta::days(3)));
        assert_eq!(clock.now(), start + TimeDelta::days(3));
    }

    #[test]
    fn the_system_clock_cannot_be_advanced() {
        assert_eq!(SystemClock.advance(TimeDelta::days(1)), None);
    }
}
