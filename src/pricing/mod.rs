//! Pure rating: no async, no I/O, no database types. Every amount is an integer in minor units
//! and every rounding happens here, once, by a named rule.
mod credits;
mod invoice;
mod proration;
mod usage;

pub use credits::credits_for;
pub use invoice::{discount_amount, invoice_totals, line_amount, mrr};
pub use proration::prorate;
pub use usage::{blocks_due, short_units, tier_label, unit_charge, usage_charge};

/// `num / den` rounded to the nearest integer, halves away from zero. `den` must be positive.
pub(crate) fn div_round_half_away(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    let (q, r) = (num / den, num % den);
    if r.abs() * 2 >= den {
        q + num.signum()
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::div_round_half_away;

    #[test]
    fn halves_round_away_from_zero() {
        assert_eq!(div_round_half_away(5, 2), 3);
        assert_eq!(div_round_half_away(-5, 2), -3);
        assert_eq!(div_round_half_away(4, 3), 1);
        assert_eq!(div_round_half_away(5, 3), 2);
        assert_eq!(div_round_half_away(-4, 3), -1);
        assert_eq!(div_round_half_away(0, 7), 0);
    }
}
