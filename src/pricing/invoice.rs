//! Invoice arithmetic: line amounts, discounts, totals and recurring revenue.
use super::div_round_half_away;
use crate::domain::{Discount, InvoiceTotals};

/// `quantity * unit`, or `None` on overflow.
pub fn line_amount(quantity: i64, unit_amount_minor: i64) -> Option<i64> {
    quantity.checked_mul(unit_amount_minor)
}

/// The discount on a subtotal. A percentage is rounded to the nearest minor unit (halves away
/// from zero); a fixed amount is capped at the subtotal. Nothing is discounted from a subtotal
/// of zero or less, so a discount never takes an invoice below zero.
pub fn discount_amount(discount: &Discount, subtotal: i64) -> i64 {
    if subtotal <= 0 {
        return 0;
    }
    match discount {
        Discount::Percent(p) => {
            let raw = div_round_half_away(i128::from(subtotal) * i128::from(*p), 100);
            i64::try_from(raw).unwrap_or(subtotal).min(subtotal)
        }
        Discount::Amount(m) => m.amount_minor.clamp(0, subtotal),
    }
}

/// Totals of an invoice with these line amounts. `None` on overflow.
pub fn invoice_totals(line_amounts: &[i64], discount: Option<&Discount>) -> Option<InvoiceTotals> {
    let subtotal = line_amounts
        .iter()
        .try_fold(0i64, |acc, a| acc.checked_add(*a))?;
    let discount = discount.map_or(0, |d| discount_amount(d, subtotal));
    let total = subtotal.checked_sub(discount)?;
    Some(InvoiceTotals {
        subtotal,
        discount,
        total,
        amount_due: total.max(0),
    })
}

/// Monthly recurring revenue: monthly fees as they are, plus yearly fees spread over twelve
/// months, rounded once (halves away from zero). `None` on overflow.
pub fn mrr(monthly_fees: &[i64], yearly_fees: &[i64]) -> Option<i64> {
    let monthly = monthly_fees
        .iter()
        .try_fold(0i128, |acc, f| acc.checked_add(i128::from(*f)))?;
    let yearly = yearly_fees
        .iter()
        .try_fold(0i128, |acc, f| acc.checked_add(i128::from(*f)))?;
    i64::try_from(monthly.checked_add(div_round_half_away(yearly, 12))?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money};
    use proptest::prelude::*;

    fn brl(minor: i64) -> Discount {
        Discount::Amount(Money::new(minor, Currency::BRL))
    }

    #[test]
    fn percentages_round_to_the_nearest_centavo_halves_up() {
        assert_eq!(discount_amount(&Discount::Percent(20), 2_900), 580);
        assert_eq!(discount_amount(&Discount::Percent(15), 999), 150); // 149.85
        assert_eq!(discount_amount(&Discount::Percent(50), 999), 500); // 499.5
        assert_eq!(discount_amount(&Discount::Percent(33), 1_000), 330);
        assert_eq!(discount_amount(&Discount::Percent(100), 2_900), 2_900);
    }

    #[test]
    fn a_fixed_amount_never_takes_an_invoice_below_zero() {
        let totals = invoice_totals(&[2_900], Some(&brl(5_000)));
        assert_eq!(
            totals,
            Some(InvoiceTotals {
                subtotal: 2_900,
                discount: 2_900,
                total: 0,
                amount_due: 0
            })
        );
        assert_eq!(discount_amount(&brl(1_000), 0), 0);
        assert_eq!(discount_amount(&Discount::Percent(20), -500), 0);
    }

    #[test]
    fn a_credit_total_is_owed_as_zero() {
        let totals = invoice_totals(&[-1_965, 1_000], None).expect("totals");
        assert_eq!((totals.total, totals.amount_due), (-965, 0));
    }

    #[test]
    fn yearly_fees_count_one_twelfth_rounded_once() {
        assert_eq!(mrr(&[2_900, 9_900], &[29_000]), Some(15_217)); // 2416.67
        assert_eq!(mrr(&[], &[29_000, 29_000]), Some(4_833)); // 4833.33, not 2 x 2417
        assert_eq!(mrr(&[], &[]), Some(0));
        assert_eq!(line_amount(i64::MAX, 2), None);
    }

    proptest! {
        #[test]
        fn the_total_is_the_sum_of_the_lines_less_the_discount(
            lines in proptest::collection::vec(-1_000_000_000i64..1_000_000_000, 0..50),
            percent in 1u8..=100,
            amount in 0i64..10_000_000_000,
            use_percent in any::<bool>(),
        ) {
            let discount = if use_percent { Discount::Percent(percent) } else { brl(amount) };
            let t = invoice_totals(&lines, Some(&discount)).expect("no overflow at these sizes");
            prop_assert_eq!(t.subtotal, lines.iter().sum::<i64>());
            prop_assert_eq!(t.total, t.subtotal - t.discount);
            prop_assert!(t.discount >= 0);
            prop_assert!(t.subtotal <= 0 || t.total >= 0);
            prop_assert_eq!(t.amount_due, t.total.max(0));
        }
    }
}
