//! Usage charges: included units, started blocks and per-unit prices.
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::domain::ChargeModel;

/// Blocks owed for `usage`: none within `included`, then one per started `block_size`.
/// `ceil((usage - included) / block_size)`; 0 for a block size that is not positive.
pub fn blocks_due(usage: i64, included: i64, block_size: i64) -> i64 {
    if usage <= included || block_size <= 0 {
        return 0;
    }
    let over = i128::from(usage) - i128::from(included);
    let size = i128::from(block_size);
    i64::try_from((over + size - 1) / size).unwrap_or(i64::MAX)
}

/// `8M`, `500K`, or the plain number when it is not a whole number of thousands.
pub fn short_units(n: i64) -> String {
    if n != 0 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n != 0 && n % 1_000 == 0 {
        format!("{}K", n / 1_000)
    } else {
        n.to_string()
    }
}

/// The range block `index` covers, e.g. `8M-16M`; index 0 is the included range `0-8M`.
pub fn tier_label(index: i64, included: i64, block_size: i64) -> String {
    if index <= 0 {
        return format!("0-{}", short_units(included));
    }
    let lower = i128::from(included) + i128::from(index - 1) * i128::from(block_size);
    let upper = lower + i128::from(block_size);
    match (i64::try_from(lower), i64::try_from(upper)) {
        (Ok(l), Ok(u)) => format!("{}-{}", short_units(l), short_units(u)),
        _ => "beyond range".to_owned(),
    }
}

/// What usage above `included` costs at a per-unit price finer than a centavo, rounded once to
/// the nearest minor unit (halves away from zero). `None` on overflow.
pub fn unit_charge(usage: i64, included: i64, unit_price_minor: Decimal) -> Option<i64> {
    let billable = usage.saturating_sub(included).max(0);
    let exact = Decimal::from(billable).checked_mul(unit_price_minor)?;
    exact
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
}

/// The charge of a usage under a money model: (amount in minor units, blocks). Credit charges
/// are not money and give `None`, as does an overflow.
pub fn usage_charge(model: &ChargeModel, usage: i64) -> Option<(i64, i64)> {
    match model {
        ChargeModel::Block {
            included_units,
            block_size,
            block_price_minor,
        } => {
            let blocks = blocks_due(usage, *included_units, *block_size);
            Some((blocks.checked_mul(*block_price_minor)?, blocks))
        }
        ChargeModel::Unit {
            included_units,
            unit_price_minor,
        } => Some((unit_charge(usage, *included_units, *unit_price_minor)?, 0)),
        ChargeModel::Credits { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const M: i64 = 1_000_000;

    fn seed_plan() -> ChargeModel {
        ChargeModel::Block {
            included_units: 8 * M,
            block_size: 8 * M,
            block_price_minor: 10_000,
        }
    }

    #[test]
    fn the_seed_examples_hold_to_the_centavo() {
        let fee = 40_000;
        for (tokens, total) in [
            (5 * M, 40_000),
            (10 * M, 50_000),
            (18 * M, 60_000),
            (25 * M, 70_000),
            (50 * M, 100_000),
            (100 * M, 160_000),
        ] {
            let (blocks_amount, _) = usage_charge(&seed_plan(), tokens).expect("charge");
            assert_eq!(fee + blocks_amount, total, "{tokens} tokens");
        }
    }

    #[test]
    fn tiers_are_labelled_like_the_seed() {
        assert_eq!(tier_label(0, 8 * M, 8 * M), "0-8M");
        assert_eq!(tier_label(1, 8 * M, 8 * M), "8M-16M");
        assert_eq!(tier_label(2, 8 * M, 8 * M), "16M-24M");
        assert_eq!(tier_label(1, 4 * M, 8 * M), "4M-12M");
        assert_eq!(tier_label(1, 500_000, 500_000), "500K-1M");
        assert_eq!(tier_label(1, 10, 5), "10-15");
        assert_eq!(blocks_due(8 * M, 8 * M, 8 * M), 0);
        assert_eq!(blocks_due(8 * M + 1, 8 * M, 8 * M), 1);
        assert_eq!(blocks_due(5 * M, 4 * M, 8 * M), 1);
    }

    #[test]
    fn unit_prices_round_once_halves_away_from_zero() {
        let half = Decimal::new(5, 1); // 0.5
        assert_eq!(unit_charge(1_001, 100, half), Some(451)); // 450.5
        assert_eq!(unit_charge(50, 100, half), Some(0));
        assert_eq!(unit_charge(1_999, 1_000, Decimal::new(5, 2)), Some(50)); // 49.95
        assert_eq!(unit_charge(i64::MAX, 0, Decimal::from(i64::MAX)), None);
    }

    proptest! {
        #[test]
        fn blocks_are_the_ceiling_of_the_usage_above_the_included_units(
            usage in 0i64..1_000_000_000_000,
            included in 0i64..100_000_000,
            block in 1i64..100_000_000,
        ) {
            let due = blocks_due(usage, included, block);
            let over = (usage - included).max(0);
            prop_assert_eq!(due, (over + block - 1) / block);
            // Every unit of usage above the included units is inside a charged block.
            prop_assert!(due * block >= over && (due == 0 || (due - 1) * block < over));
        }

        #[test]
        fn charging_the_new_blocks_of_each_report_charges_the_total_once(
            reports in proptest::collection::vec(0i64..20_000_000, 1..40),
        ) {
            let (mut usage, mut charged) = (0i64, 0i64);
            for q in reports {
                let before = blocks_due(usage, 8 * M, 8 * M);
                usage += q;
                charged += blocks_due(usage, 8 * M, 8 * M) - before;
            }
            prop_assert_eq!(charged, blocks_due(usage, 8 * M, 8 * M));
        }
    }
}
