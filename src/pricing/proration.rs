//! Proration by the second: the share of a fee for the part of a period still to run.
use super::div_round_half_away;

/// `fee * remaining / total`, rounded to the nearest minor unit (halves away from zero).
/// `remaining` is clamped to `0..=total`, so a full period gives exactly the fee. `None` when
/// `total` is not positive.
pub fn prorate(fee: i64, remaining_seconds: i64, total_seconds: i64) -> Option<i64> {
    if total_seconds <= 0 {
        return None;
    }
    let remaining = remaining_seconds.clamp(0, total_seconds);
    let share = div_round_half_away(
        i128::from(fee) * i128::from(remaining),
        i128::from(total_seconds),
    );
    i64::try_from(share).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;

    #[test]
    fn the_readme_upgrade_example_holds() {
        // March has 31 days; the change happens with 21 of them left.
        assert_eq!(prorate(2_900, 21 * DAY, 31 * DAY), Some(1_965)); // 1964.52
        assert_eq!(prorate(9_900, 21 * DAY, 31 * DAY), Some(6_706)); // 6706.45
    }

    #[test]
    fn halves_round_up_and_the_ends_are_exact() {
        assert_eq!(prorate(1, 1, 2), Some(1));
        assert_eq!(prorate(3, 1, 2), Some(2));
        assert_eq!(prorate(2_900, 0, 31 * DAY), Some(0));
        assert_eq!(prorate(2_900, 40 * DAY, 31 * DAY), Some(2_900));
        assert_eq!(prorate(2_900, 1, 0), None);
    }

    proptest! {
        #[test]
        fn a_full_period_costs_the_full_fee(fee in 0i64..1_000_000_000_000_000, total in 1i64..400 * DAY) {
            prop_assert_eq!(prorate(fee, total, total), Some(fee));
        }

        #[test]
        fn a_share_never_exceeds_the_fee_and_grows_with_time(
            fee in 0i64..1_000_000_000_000,
            total in 1i64..400 * DAY,
            a in 0i64..400 * DAY,
            b in 0i64..400 * DAY,
        ) {
            let (lo, hi) = (a.min(b), a.max(b));
            let (p_lo, p_hi) = (prorate(fee, lo, total).unwrap_or(-1), prorate(fee, hi, total).unwrap_or(-1));
            prop_assert!(0 <= p_lo && p_lo <= p_hi && p_hi <= fee);
        }
    }
}
