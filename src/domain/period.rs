//! Billing periods. Every period is computed from the anchor, never from the previous period,
//! so a subscription anchored on the 31st returns to the 31st after a short month.
use chrono::{DateTime, Months, Utc};

str_enum!(Interval { Month = "month", Year = "year" });

impl Interval {
    pub fn months(self) -> u32 {
        match self {
            Interval::Month => 1,
            Interval::Year => 12,
        }
    }
}

/// `at` plus `months` calendar months, clamped to the last day of a shorter month
/// (Jan 31 + 1 month = Feb 28 or 29). `None` past the calendar's end.
pub fn add_months(at: DateTime<Utc>, months: u32) -> Option<DateTime<Utc>> {
    at.checked_add_months(Months::new(months))
}

/// The bounds `[start, end)` of paid cycle `cycle` (1-based) of a subscription anchored at
/// `anchor`: cycle 1 starts at the anchor.
pub fn cycle_bounds(
    anchor: DateTime<Utc>,
    interval: Interval,
    cycle: u32,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = cycle.checked_sub(1)?;
    let start = add_months(anchor, first.checked_mul(interval.months())?)?;
    let end = add_months(anchor, cycle.checked_mul(interval.months())?)?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("RFC 3339")
    }

    #[test]
    fn a_jan_31_anchor_returns_to_the_month_end_after_february() {
        let anchor = at("2026-01-31T10:00:00Z");
        let ends: Vec<_> = (1..=4)
            .map(|c| cycle_bounds(anchor, Interval::Month, c).map(|b| b.1))
            .collect();
        assert_eq!(
            ends,
            vec![
                Some(at("2026-02-28T10:00:00Z")),
                Some(at("2026-03-31T10:00:00Z")),
                Some(at("2026-04-30T10:00:00Z")),
                Some(at("2026-05-31T10:00:00Z")),
            ]
        );
    }

    #[test]
    fn leap_years_give_february_its_29th() {
        let anchor = at("2028-01-31T00:00:00Z");
        assert_eq!(
            cycle_bounds(anchor, Interval::Month, 2),
            Some((at("2028-02-29T00:00:00Z"), at("2028-03-31T00:00:00Z")))
        );
    }

    #[test]
    fn yearly_cycles_are_twelve_months_and_cycle_zero_has_no_bounds() {
        let anchor = at("2024-02-29T00:00:00Z");
        assert_eq!(
            cycle_bounds(anchor, Interval::Year, 1),
            Some((anchor, at("2025-02-28T00:00:00Z")))
        );
        assert_eq!(
            cycle_bounds(anchor, Interval::Year, 4).map(|b| b.1),
            Some(at("2028-02-29T00:00:00Z"))
        );
        assert_eq!(cycle_bounds(anchor, Interval::Month, 0), None);
    }

    #[test]
    fn consecutive_cycles_touch_without_gaps() {
        let anchor = at("2026-01-30T23:59:59Z");
        for c in 1..40 {
            let (_, end) = cycle_bounds(anchor, Interval::Month, c).expect("bounds");
            let (next_start, _) = cycle_bounds(anchor, Interval::Month, c + 1).expect("bounds");
            assert_eq!(end, next_start);
        }
    }
}
