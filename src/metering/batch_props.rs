//! What `decide` guarantees for any batch: a hard limit is never passed and refuses only what
//! would pass it, a key is accepted once, and each block is charged once, by the event whose
//! usage enters it.
use std::collections::{HashMap, HashSet};

use proptest::collection::{hash_set, vec};
use proptest::prelude::*;

use super::fixtures::{M, Report, Tenant, block_charge, event, limit, metric};
use crate::domain::{Aggregation, Enforcement, RejectCode, Rejection, UsageEventId};
use crate::metering::batch::Decision;

/// Thresholds of `limit` that a total moving from `old` to `new` reaches, reaching counting.
fn thresholds_reached(old: i64, new: i64, limit: i64) -> Vec<i64> {
    [80, 100]
        .into_iter()
        .filter(|p| limit > 0 && old * 100 < limit * p && new * 100 >= limit * p)
        .collect()
}

/// Blocks started by `usage`: none within `included`, then one per started `size`.
fn started_blocks(usage: i64, included: i64, size: i64) -> i64 {
    if usage <= included {
        0
    } else {
        (usage - included + size - 1) / size
    }
}

proptest! {
    #[test]
    fn a_limit_holds_and_a_hard_one_refuses_exactly_the_reports_that_would_pass_it(
        aggregation in prop_oneof![
            Just(Aggregation::Sum),
            Just(Aggregation::Max),
            Just(Aggregation::Count),
        ],
        hard in any::<bool>(),
        value in 0i64..1_000,
        prior in 0i64..1_200,
        quantities in vec(0i64..400, 0..30),
    ) {
        let enforcement = if hard { Enforcement::Hard } else { Enforcement::Soft };
        let mut t = Tenant::on(vec![limit("meter", value, enforcement)], vec![]);
        t.metrics.insert("meter".into(), metric(9, "meter", aggregation));
        let t = t.used("meter", prior);
        let reports: Vec<Report> = quantities
            .iter()
            .enumerate()
            .map(|(i, q)| event(&format!("k{i}"), "meter", *q))
            .collect();
        let plan = t.decide(reports);

        prop_assert_eq!(plan.decisions.len(), quantities.len());
        let mut total = prior;
        let mut accepted = 0;
        for (q, decision) in quantities.iter().zip(&plan.decisions) {
            let next = match aggregation {
                Aggregation::Sum => total + q,
                Aggregation::Max => total.max(*q),
                Aggregation::Count => total + 1,
            };
            match decision {
                Decision::Accepted(_) => {
                    prop_assert!(!hard || next <= value, "{} accepted past {}", next, value);
                    total = next;
                    accepted += 1;
                }
                Decision::Rejected(r) => {
                    prop_assert!(hard && next > value, "{} refused within {}", next, value);
                    prop_assert_eq!(r.code, RejectCode::LimitExceeded);
                }
                Decision::Duplicate(_) => prop_assert!(false, "every key is new"),
            }
        }
        if hard && prior <= value {
            prop_assert!(total <= value);
        }
        // What the caller folds into the stored total gives the same running total.
        let (folded, events) = plan.deltas.get(&t.metrics["meter"].id.0).copied().unwrap_or((0, 0));
        let stored = match aggregation {
            Aggregation::Sum | Aggregation::Count => prior + folded,
            Aggregation::Max => prior.max(folded),
        };
        prop_assert_eq!(stored, total);
        prop_assert_eq!(events, accepted);
        let crossed: Vec<i64> = plan.crossings.iter().map(|(_, p)| *p).collect();
        prop_assert_eq!(crossed, thresholds_reached(prior, total, value));
    }

    #[test]
    fn a_key_is_accepted_at_most_once_and_a_stored_key_never(
        stored in hash_set(0usize..6, 0..4),
        events in vec((0usize..6, 0i64..4_000, any::<bool>()), 0..30),
    ) {
        // Starter's hard limit of 10,000 API calls refuses some events along the way.
        let mut t = Tenant::on(vec![limit("api_calls", 10_000, Enforcement::Hard)], vec![]);
        for k in &stored {
            t.existing.insert(format!("k{k}"), UsageEventId::new());
        }
        let reports: Vec<Report> = events
            .iter()
            .map(|(k, q, malformed)| {
                let key = format!("k{k}");
                if *malformed {
                    let why = Rejection::new(RejectCode::InvalidQuantity, "malformed");
                    (Some(key), Err(why))
                } else {
                    event(&key, "api_calls", *q)
                }
            })
            .collect();
        let plan = t.decide(reports);

        let mut first: HashMap<String, UsageEventId> = HashMap::new();
        let mut ids = HashSet::new();
        for ((k, _, _), decision) in events.iter().zip(&plan.decisions) {
            let key = format!("k{k}");
            let earlier = t.existing.get(&key).or_else(|| first.get(&key)).copied();
            match (earlier, decision) {
                (Some(e), Decision::Duplicate(id)) => prop_assert_eq!(e, *id),
                (Some(_), _) => prop_assert!(false, "{} was seen but not a duplicate", key),
                (None, Decision::Duplicate(_)) => prop_assert!(false, "{} is new", key),
                (None, Decision::Accepted(id)) => {
                    prop_assert!(ids.insert(*id), "one id per accepted event");
                    first.insert(key, *id);
                }
                (None, Decision::Rejected(_)) => {}
            }
        }
        let keys: Vec<&str> = plan.accepted.iter().map(|a| a.report.idempotency_key.as_str()).collect();
        let unique: HashSet<&str> = keys.iter().copied().collect();
        prop_assert_eq!(unique.len(), keys.len());
        prop_assert!(keys.iter().all(|k| !t.existing.contains_key(*k)));
        prop_assert_eq!(plan.accepted.len(), first.len());
    }

    #[test]
    fn each_block_is_charged_once_by_the_event_whose_usage_enters_it(
        included in 0i64..20 * M,
        size in M..10 * M,
        prior in 0i64..60 * M,
        quantities in vec(0i64..30 * M, 0..20),
    ) {
        let t = Tenant::on(vec![], vec![block_charge("tokens", included, size)])
            .used("tokens", prior);
        let reports: Vec<Report> = quantities
            .iter()
            .enumerate()
            .map(|(i, q)| event(&format!("k{i}"), "tokens", *q))
            .collect();
        let plan = t.decide(reports);

        // Block k holds units included + (k-1)*size + 1 ..= included + k*size; the event whose
        // range of usage holds the block's first unit is the one that enters it.
        let mut expected = Vec::new();
        let mut before = prior;
        for (q, decision) in quantities.iter().zip(&plan.decisions) {
            let Decision::Accepted(id) = decision else {
                prop_assert!(false, "nothing limits this batch");
                continue;
            };
            let after = before + q;
            let mut k = 1;
            while included + (k - 1) * size < after {
                let first_unit = included + (k - 1) * size + 1;
                if before < first_unit {
                    expected.push((k, *id));
                }
                k += 1;
            }
            before = after;
        }
        let charged: Vec<(i64, UsageEventId)> = plan.blocks.iter().map(|b| (b.index, b.event)).collect();
        prop_assert_eq!(&charged, &expected);
        // As PRODUCT.md counts them: started blocks at the end less those the prior total had
        // already started (and so charged).
        let n = i64::try_from(charged.len()).unwrap_or(i64::MAX);
        prop_assert_eq!(
            n,
            started_blocks(before, included, size) - started_blocks(prior, included, size)
        );
    }
}
