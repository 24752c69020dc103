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

    /// `true` for a clock that `advance` moves (development and tests).
    fn is_controlled(&self) -> bool {
        false
    }

    /// `true` while the clock stands still between advances.
    fn is_frozen(&self) -> bool {
        false
    }
}

/// Where a controlled clock stood when it was last moved, kept in the database so that a
/// restart resumes it instead of going back to the wall time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedClock {
    /// The clock's reading when it was saved.
    pub now: DateTime<Utc>,
    /// How far the clock was ahead of the wall time then.
    pub offset: TimeDelta,
}

impl SavedClock {
    /// The position of a clock reading `now` while the wall time is `wall`.
    pub fn at(now: DateTime<Utc>, wall: DateTime<Utc>) -> Self {
        Self {
            now,
            offset: now - wall,
        }
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
        Self::flowing_from(Utc::now())
    }

    /// Resumes a controlled clock at start-up. A standing clock (`start` given) resumes where
    /// it was saved, or at `start` if that is later; a flowing clock keeps the lead over the
    /// wall time it had when saved, and never starts behind the wall time.
    pub fn resume(
        start: Option<DateTime<Utc>>,
        saved: Option<SavedClock>,
        wall: DateTime<Utc>,
    ) -> Self {
        match start {
            Some(start) => Self::frozen_at(saved.map_or(start, |s| s.now.max(start))),
            None => {
                let ahead = saved
                    .and_then(|s| wall.checked_add_signed(s.offset))
                    .map_or(wall, |at| at.max(wall));
                Self::flowing_from(ahead)
            }
        }
    }

    /// Flows from `at`, as if the wall time were `at` now.
    pub fn flowing_from(at: DateTime<Utc>) -> Self {
        Self {
            state: Mutex::new(ClockState {
                base: at,
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

    fn is_controlled(&self) -> bool {
        true
    }

    fn is_frozen(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.flowing_since.is_none()
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
    fn a_standing_clock_resumes_where_it_was_saved_unless_its_start_is_later() {
        let start: DateTime<Utc> = "2026-01-31T00:00:00Z".parse().expect("time");
        let wall: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
        let later = start + TimeDelta::days(40);
        let saved = SavedClock::at(later, wall);
        let clock = ControlledClock::resume(Some(start), Some(saved), wall);
        assert_eq!(clock.now(), later);
        assert!(clock.is_frozen() && clock.is_controlled());
        let clock = ControlledClock::resume(Some(later + TimeDelta::days(1)), Some(saved), wall);
        assert_eq!(clock.now(), later + TimeDelta::days(1));
        assert_eq!(
            ControlledClock::resume(Some(start), None, wall).now(),
            start
        );
    }

    #[test]
    fn a_flowing_clock_keeps_its_lead_over_the_wall_time() {
        // Whole microseconds, like every reading, so that the comparisons are exact.
        let wall = Utc::now().trunc_subsecs(6);
        let saved = SavedClock::at(wall + TimeDelta::days(31), wall - TimeDelta::hours(1));
        let clock = ControlledClock::resume(None, Some(saved), wall);
        let lead = clock.now() - wall;
        assert!(!clock.is_frozen());
        assert!(
            lead >= TimeDelta::days(31) + TimeDelta::hours(1)
                && lead < TimeDelta::days(31) + TimeDelta::hours(1) + TimeDelta::seconds(5),
            "{lead}"
        );
        // A saved position behind the wall time never moves the clock back.
        let behind = SavedClock::at(wall - TimeDelta::days(2), wall);
        assert!(ControlledClock::resume(None, Some(behind), wall).now() >= wall);
    }

    #[test]
    fn the_system_clock_cannot_be_advanced() {
        assert_eq!(SystemClock.advance(TimeDelta::days(1)), None);
    }
}
