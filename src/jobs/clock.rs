//! The billing clock as the API sees it: read it, and (development and tests) move it forward
//! and save where it stands, so that a restart resumes it.
use chrono::{DateTime, TimeDelta, Utc};

use super::{JobReport, run};
use crate::auth::Actor;
use crate::clock::SavedClock;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store;

/// How far to move the clock: by a duration, or to an instant.
#[derive(Clone, Copy, Debug)]
pub enum ClockMove {
    By(TimeDelta),
    To(DateTime<Utc>),
}

/// Which clock the billing runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// Production: the system time, which cannot be moved.
    System,
    /// Development and tests: moved by `advanceClock`, saved in the database.
    Controlled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockReading {
    pub now: DateTime<Utc>,
    pub frozen: bool,
    pub source: ClockSource,
}

/// The billing clock, for anyone signed in: it is not a secret, and a client needs it to date
/// usage in the current period.
pub fn billing_clock(state: &AppState, _actor: &Actor) -> ClockReading {
    let clock = &state.clock;
    ClockReading {
        now: clock.now(),
        frozen: clock.is_frozen(),
        source: if clock.is_controlled() {
            ClockSource::Controlled
        } else {
            ClockSource::System
        },
    }
}

/// Moves the development/test clock forward (at most five years at once), saves where it
/// stands, then runs the jobs. Production refuses.
#[tracing::instrument(skip_all)]
pub async fn advance_clock(
    state: &AppState,
    actor: &Actor,
    how: ClockMove,
) -> Result<(DateTime<Utc>, JobReport)> {
    actor.require_admin()?;
    if state.config.env == Environment::Production {
        return Err(Error::Forbidden(
            "the clock cannot be moved in production".into(),
        ));
    }
    let (by, field) = match how {
        ClockMove::By(by) => (by, "days"),
        ClockMove::To(at) => (at - state.clock.now(), "to"),
    };
    if by <= TimeDelta::zero() {
        return Err(Error::validation(field, "the clock only moves forward"));
    }
    if by > TimeDelta::days(5 * 366) {
        return Err(Error::validation(field, "at most five years at once"));
    }
    let now = state
        .clock
        .advance(by)
        .ok_or_else(|| Error::Forbidden("this clock cannot be moved".into()))?;
    let wall = Utc::now();
    store::clock::save(&state.db, SavedClock::at(now, wall), wall).await?;
    Ok((now, run(state).await?))
}
