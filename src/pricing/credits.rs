//! Credit conversion: how many credits a usage costs.
use crate::domain::{CreditRounding, Credits};

/// Credits owed for `units` when `credits` are charged per `per_units` units.
/// `CeilPerRequest` rounds the request up to whole credits (1,300 tokens at 1 credit per
/// 1,000 = 2 credits); `Exact` keeps micro-credits, rounding up only below one micro-credit.
/// `None` when the result would not fit in i64.
pub fn credits_for(
    units: i64,
    credits: Credits,
    per_units: i64,
    rounding: CreditRounding,
) -> Option<Credits> {
    if units < 0 || per_units <= 0 || credits.micro() < 0 {
        return None;
    }
    let numerator = i128::from(units).checked_mul(i128::from(credits.micro()))?;
    let per = i128::from(per_units);
    let exact_micro = numerator.checked_add(per - 1)? / per;
    let micro = match rounding {
        CreditRounding::Exact => exact_micro,
        CreditRounding::CeilPerRequest => {
            let unit = i128::from(Credits::MICRO_PER_CREDIT);
            exact_micro.checked_add(unit - 1)? / unit * unit
        }
    };
    i64::try_from(micro).ok().map(Credits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ONE: Credits = Credits(1_000_000);

    #[test]
    fn thirteen_hundred_tokens_cost_two_credits_when_rounded_per_request() {
        assert_eq!(
            credits_for(1_300, ONE, 1_000, CreditRounding::CeilPerRequest),
            Some(Credits(2_000_000))
        );
        assert_eq!(
            credits_for(1_000, ONE, 1_000, CreditRounding::CeilPerRequest),
            Some(ONE)
        );
        assert_eq!(
            credits_for(0, ONE, 1_000, CreditRounding::CeilPerRequest),
            Some(Credits(0))
        );
    }

    #[test]
    fn exact_rounding_keeps_fractions() {
        assert_eq!(
            credits_for(1_300, ONE, 1_000, CreditRounding::Exact),
            Some(Credits(1_300_000))
        );
        assert_eq!(
            credits_for(1, Credits(250_000), 1, CreditRounding::Exact),
            Some(Credits(250_000))
        );
    }

    #[test]
    fn nonsense_inputs_give_none() {
        assert_eq!(credits_for(-1, ONE, 1_000, CreditRounding::Exact), None);
        assert_eq!(credits_for(1, ONE, 0, CreditRounding::Exact), None);
        assert_eq!(
            credits_for(i64::MAX, Credits(i64::MAX), 1, CreditRounding::Exact),
            None
        );
    }

    proptest! {
        #[test]
        fn per_request_rounding_is_whole_and_never_below_exact(units in 0i64..10_000_000_000, per in 1i64..100_000) {
            let exact = credits_for(units, ONE, per, CreditRounding::Exact).map(|c| c.micro());
            let ceil = credits_for(units, ONE, per, CreditRounding::CeilPerRequest).map(|c| c.micro());
            let (exact, ceil) = (exact.unwrap_or_default(), ceil.unwrap_or_default());
            prop_assert_eq!(ceil % 1_000_000, 0);
            prop_assert!(ceil >= exact);
            prop_assert!(ceil - exact < 1_000_000);
        }
    }
}
