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
    use crate::domain::MAX_EVENT_QUANTITY;
    use CreditRounding::{CeilPerRequest as Ceil, Exact};
    use proptest::prelude::*;

    const ONE: Credits = Credits(1_000_000);

    /// A credit amount written as the seed writes it, e.g. "0.2".
    fn credits(raw: &str) -> Credits {
        Credits::parse("expected", raw).expect("a credit amount")
    }

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

    #[test]
    fn the_seed_requests_cost_what_its_price_table_says() {
        // Seed 002 (PRODUCT.md §2): 1 credit per 1,000 tokens, each request rounded up by
        // default; fractional credits when the plan says exact.
        for (what, tokens, rounding, cost) in [
            ("re-audit", 2_000, Ceil, "2"),
            ("deep research", 4_000, Ceil, "4"),
            ("diagnosis", 7_000, Ceil, "7"),
            ("diagnosis one token into its 7th credit", 6_001, Ceil, "7"),
            ("short chat message", 80, Ceil, "1"),
            ("one token", 1, Ceil, "1"),
            ("long chat message", 500, Exact, "0.5"),
            ("chat message", 200, Exact, "0.2"),
            ("short chat message", 80, Exact, "0.08"),
            ("one token", 1, Exact, "0.001"),
            ("deep research", 4_000, Exact, "4"),
        ] {
            let cost = Some(credits(cost));
            assert_eq!(credits_for(tokens, ONE, 1_000, rounding), cost, "{what}");
        }
    }

    #[test]
    fn exact_credits_round_up_only_what_is_below_one_micro_credit() {
        // 1 credit per 3 units: each unit is 0.333333... credits.
        let third = |units, rounding| credits_for(units, ONE, 3, rounding);
        assert_eq!(third(1, Exact), Some(Credits(333_334)));
        assert_eq!(third(2, Exact), Some(Credits(666_667)));
        assert_eq!(third(3, Exact), Some(ONE));
        assert_eq!(third(1, Ceil), Some(ONE));
        assert_eq!(third(4, Ceil), Some(Credits(2_000_000)));
        // One micro-credit per 1,000 units: the first unit already costs one micro-credit.
        assert_eq!(credits_for(1, Credits(1), 1_000, Exact), Some(Credits(1)));
        assert_eq!(
            credits_for(1_000, Credits(1), 1_000, Exact),
            Some(Credits(1))
        );
        assert_eq!(
            credits_for(1_001, Credits(1), 1_000, Exact),
            Some(Credits(2))
        );
        assert_eq!(
            credits_for(1_000_000, Credits(0), 1, Ceil),
            Some(Credits(0))
        );
    }

    #[test]
    fn every_quantity_an_event_may_carry_fits_the_default_rule_and_overflow_is_none() {
        // CreditRule::price takes 0..=MAX_EVENT_QUANTITY and, unless the plan says otherwise,
        // charges 1 credit per 1,000 units: at most 10^12 credits.
        let max = MAX_EVENT_QUANTITY;
        let most = Some(Credits(1_000_000_000_000 * Credits::MICRO_PER_CREDIT));
        assert_eq!(credits_for(max, ONE, 1_000, Ceil), most);
        assert_eq!(credits_for(max, ONE, 1_000, Exact), most);
        // The largest rate a plan may set, 10^9 credits a unit, cannot price that much.
        assert_eq!(credits_for(max, credits("1000000000"), 1, Exact), None);
        assert_eq!(credits_for(i64::MAX, ONE, 1, Ceil), None);
        // Rounding up to a whole credit can overflow where the exact amount still fits.
        let units = i64::MAX - i64::MAX % 1_000_000 + 1;
        assert_eq!(
            credits_for(units, Credits(1), 1, Exact),
            Some(Credits(units))
        );
        assert_eq!(credits_for(units, Credits(1), 1, Ceil), None);
    }

    fn rounding() -> impl Strategy<Value = CreditRounding> {
        prop_oneof![Just(Exact), Just(Ceil)]
    }

    /// Quantities an event may carry, small ones often.
    fn quantity() -> impl Strategy<Value = i64> {
        prop_oneof![0i64..10_000, 0..=MAX_EVENT_QUANTITY]
    }

    /// Rates a plan may set: up to 10^9 credits per 1 to 10^15 units.
    fn rate() -> impl Strategy<Value = (Credits, i64)> {
        let micro = prop_oneof![0i64..=10_000_000, 0i64..=1_000_000_000_000_000];
        let per = prop_oneof![1i64..=10_000, 1i64..=1_000_000_000_000_000];
        (micro.prop_map(Credits), per)
    }

    /// Any i64, its edges often.
    fn extreme() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(-1),
            Just(0),
            Just(1),
            Just(999_999),
            Just(1_000_000),
            Just(i64::MAX - 1),
            Just(i64::MAX),
            0i64..1_000_000_000_000,
            any::<i64>(),
        ]
    }

    proptest! {
        #[test]
        fn nothing_used_costs_nothing(micro in 0i64.., per in 1i64.., rounding in rounding()) {
            prop_assert_eq!(credits_for(0, Credits(micro), per, rounding), Some(Credits(0)));
        }

        #[test]
        fn more_units_never_cost_less(
            a in quantity(), b in quantity(), (rate, per) in rate(), rounding in rounding(),
        ) {
            let (fewer, more) = (a.min(b), a.max(b));
            match (credits_for(fewer, rate, per, rounding), credits_for(more, rate, per, rounding)) {
                (Some(x), Some(y)) => prop_assert!(x <= y, "{:?} > {:?}", x, y),
                (None, Some(_)) => prop_assert!(false, "{} units overflow, {} do not", fewer, more),
                _ => {}
            }
        }

        #[test]
        fn splitting_a_usage_in_two_requests_never_costs_less_and_at_most_one_rounding_more(
            a in quantity(), b in quantity(), (rate, per) in rate(), rounding in rounding(),
        ) {
            let cost = |units| credits_for(units, rate, per, rounding).map(|c| i128::from(c.micro()));
            if let (Some(x), Some(y), Some(whole)) = (cost(a), cost(b), cost(a + b)) {
                let step = match rounding { Exact => 1, Ceil => 1_000_000 };
                prop_assert!(x + y >= whole);
                prop_assert!(x + y - whole <= step);
            }
        }

        /// `Some` is the least amount (in micro-credits, or in whole credits per request) that
        /// covers units * rate / per; `None` only for a negative input, a `per` below one, or when
        /// that amount does not fit in i64. Nothing panics.
        #[test]
        fn any_input_gives_the_least_covering_amount_or_none_when_it_cannot(
            units in extreme(), micro in extreme(), per in extreme(), rounding in rounding(),
        ) {
            let got = credits_for(units, Credits(micro), per, rounding).map(Credits::micro);
            if units < 0 || micro < 0 || per <= 0 {
                prop_assert_eq!(got, None);
                return Ok(());
            }
            let owed = i128::from(units) * i128::from(micro);
            let per = i128::from(per);
            let step: i128 = match rounding { Exact => 1, Ceil => 1_000_000 };
            match got {
                Some(m) => {
                    let m = i128::from(m);
                    prop_assert_eq!(m % step, 0);
                    prop_assert!(m * per >= owed, "{} does not cover {}/{}", m, owed, per);
                    prop_assert!((m - step) * per < owed, "{} is more than needed", m);
                }
                None => {
                    let largest = i128::from(i64::MAX) / step * step;
                    prop_assert!(largest * per < owed, "{}/{} fits but gave None", owed, per);
                }
            }
        }
    }
}
