//! `decide` against PRODUCT.md's worked examples and the demo catalog (src/demo.rs); what must
//! hold for any batch is in `batch_props.rs`, the tenant it decides for in `batch_fixtures.rs`.
use chrono::TimeDelta;

use super::Decision;
use crate::domain::{Enforcement, RejectCode, Rejection, SubscriptionStatus, UsageEventId};
use fixtures::*;

#[path = "batch_fixtures.rs"]
mod fixtures;
#[path = "batch_props.rs"]
mod props;

#[test]
fn one_report_of_the_worked_examples_charges_the_fee_plus_each_started_block() {
    let t = Tenant::tokens_400();
    for (tokens, charged) in [
        (5 * M, 40_000),
        (10 * M, 50_000),
        (18 * M, 60_000),
        (25 * M, 70_000),
        (50 * M, 100_000),
        (100 * M, 160_000),
    ] {
        let plan = t.decide(vec![event("k", "tokens", tokens)]);
        assert_eq!(outcomes(&plan), [Accepted], "{tokens}");
        let n = i64::try_from(plan.blocks.len()).expect("few blocks");
        assert_eq!(FEE + n * BLOCK_PRICE, charged, "{tokens} tokens");
        assert_eq!(blocks(&plan), (1..=n).collect::<Vec<_>>(), "{tokens}");
        assert_eq!(delta(&t, &plan, "tokens"), Some((tokens, 1)));
    }
}

#[test]
fn the_worked_examples_reached_call_by_call_charge_only_the_new_blocks() {
    // Totals of 5M, 10M, 18M, 25M, 50M, 100M, each from its own call.
    let (mut used, mut charged_blocks) = (0, 0);
    for (quantity, new_blocks, charged) in [
        (5 * M, vec![], 40_000),
        (5 * M, vec![1], 50_000),
        (8 * M, vec![2], 60_000),
        (7 * M, vec![3], 70_000),
        (25 * M, vec![4, 5, 6], 100_000),
        (50 * M, vec![7, 8, 9, 10, 11, 12], 160_000),
    ] {
        let t = Tenant::tokens_400().used("tokens", used);
        let plan = t.decide(vec![event("k", "tokens", quantity)]);
        assert_eq!(blocks(&plan), new_blocks, "from {used}");
        used += quantity;
        charged_blocks += i64::try_from(plan.blocks.len()).expect("few blocks");
        assert_eq!(FEE + charged_blocks * BLOCK_PRICE, charged, "at {used}");
    }
}

#[test]
fn in_one_batch_each_block_goes_to_the_event_that_entered_it() {
    let t = Tenant::tokens_400();
    let plan = t.decide(vec![
        event("a", "tokens", 5 * M),  // 5M
        event("b", "tokens", 5 * M),  // 10M: block 1
        event("c", "tokens", 8 * M),  // 18M: block 2
        event("d", "tokens", 32 * M), // 50M: blocks 3 to 6
    ]);
    let by_event: Vec<(i64, Option<usize>)> = plan
        .blocks
        .iter()
        .map(|b| {
            let i = (0..4).find(|i| accepted_id(&plan, *i) == Some(b.event));
            (b.index, i)
        })
        .collect();
    let expected = [(1, 1), (2, 2), (3, 3), (4, 3), (5, 3), (6, 3)];
    assert_eq!(by_event, expected.map(|(b, i)| (b, Some(i))));
    assert_eq!(delta(&t, &plan, "tokens"), Some((50 * M, 4)));
}

#[test]
fn a_hard_limit_admits_usage_up_to_the_limit_itself_and_refuses_the_rest() {
    let t = Tenant::starter().used("api_calls", 9_000);
    let plan = t.decide(vec![
        event("a", "api_calls", 600), // 9,600
        event("b", "api_calls", 500), // 10,100: over
        event("c", "api_calls", 400), // 10,000: the limit itself
        event("d", "api_calls", 1),   // 10,001: over
        event("e", "api_calls", 0),   // 10,000
    ]);
    let over = || Rejected(RejectCode::LimitExceeded);
    assert_eq!(
        outcomes(&plan),
        [Accepted, over(), Accepted, over(), Accepted]
    );
    assert_eq!(delta(&t, &plan, "api_calls"), Some((1_000, 3)));
    assert_eq!(crossings(&plan), [("api_calls", 100)]);
    assert_eq!(plan.accepted.len(), 3);
}

#[test]
fn a_max_metric_is_held_to_its_hard_limit_by_its_largest_report() {
    let t = Tenant::starter().used("storage_gb", 8);
    let plan = t.decide(vec![
        event("a", "storage_gb", 5),
        event("b", "storage_gb", 11),
        event("c", "storage_gb", 10),
    ]);
    assert_eq!(
        outcomes(&plan),
        [Accepted, Rejected(RejectCode::LimitExceeded), Accepted]
    );
    assert_eq!(delta(&t, &plan, "storage_gb"), Some((10, 2)));
    assert_eq!(crossings(&plan), [("storage_gb", 100)]);
}

#[test]
fn a_soft_limit_accepts_usage_past_it_and_reports_each_threshold_once() {
    let t = Tenant::on(
        vec![limit("tokens", 16 * M, Enforcement::Soft)],
        vec![block_charge("tokens", 8 * M, 8 * M)],
    );
    let plan = t.decide(vec![
        event("a", "tokens", 20 * M),
        event("b", "tokens", 20 * M),
    ]);
    assert_eq!(outcomes(&plan), [Accepted, Accepted]);
    assert_eq!(crossings(&plan), [("tokens", 80), ("tokens", 100)]);
    assert_eq!(blocks(&plan), [1, 2, 3, 4]);
}

#[test]
fn thresholds_at_80_and_100_percent_are_reported_when_usage_reaches_them() {
    let t = Tenant::starter().used("api_calls", 7_999);
    let plan = t.decide(vec![
        event("a", "api_calls", 0),     // 7,999
        event("b", "api_calls", 1),     // 8,000: 80%
        event("c", "api_calls", 1_999), // 9,999
        event("d", "api_calls", 1),     // 10,000: 100%
    ]);
    assert_eq!(crossings(&plan), [("api_calls", 80), ("api_calls", 100)]);
    let already = Tenant::starter().used("api_calls", 8_000);
    let plan = already.decide(vec![event("a", "api_calls", 1_000)]);
    assert!(plan.crossings.is_empty());
}

#[test]
fn a_key_repeated_in_one_batch_is_accepted_once_and_answers_with_the_first_event() {
    let t = Tenant::tokens_400();
    let plan = t.decide(vec![event("k", "tokens", M), event("k", "tokens", 9 * M)]);
    let first = accepted_id(&plan, 0).expect("the first is accepted");
    assert_eq!(outcomes(&plan), [Accepted, Duplicate(first)]);
    assert_eq!(plan.accepted.len(), 1);
    assert_eq!(delta(&t, &plan, "tokens"), Some((M, 1)));
    assert!(plan.blocks.is_empty());
}

#[test]
fn a_key_stored_by_an_earlier_call_is_a_duplicate_even_when_the_resend_is_malformed() {
    let stored = UsageEventId::new();
    let mut t = Tenant::tokens_400();
    t.existing.insert("k".into(), stored);
    let malformed = Rejection::new(RejectCode::InvalidQuantity, "negative");
    let plan = t.decide(vec![
        event("k", "tokens", 20 * M),
        (Some("k".into()), Err(malformed)),
    ]);
    assert_eq!(outcomes(&plan), [Duplicate(stored), Duplicate(stored)]);
    assert!(plan.accepted.is_empty() && plan.deltas.is_empty() && plan.blocks.is_empty());
}

#[test]
fn a_refused_event_does_not_claim_its_key() {
    let t = Tenant::starter().used("api_calls", 9_999);
    let malformed = Rejection::new(RejectCode::InvalidQuantity, "negative");
    let plan = t.decide(vec![
        (Some("k".into()), Err(malformed)),
        event("k", "api_calls", 2),
        event("k", "api_calls", 1),
    ]);
    let over = Rejected(RejectCode::LimitExceeded);
    assert_eq!(
        outcomes(&plan),
        [Rejected(RejectCode::InvalidQuantity), over, Accepted]
    );
}

/// Each refusal answers its code and leaves the plan empty: nothing stored, counted, charged
/// or notified.
#[test]
fn refusals_answer_their_code_and_change_nothing() {
    let t = Tenant::tokens_400;
    let tiny_blocks = || Tenant::on(vec![], vec![block_charge("api_calls", 0, 1)]);
    let no_subscription = || {
        let mut t = Tenant::tokens_400();
        t.subscription = None;
        t
    };
    let ahead = t().now + TimeDelta::minutes(5) + TimeDelta::seconds(1);
    let before = period_start() - TimeDelta::seconds(1);
    let cases: Vec<(&str, Tenant, Report, &str)> = vec![
        (
            "unknown metric",
            t(),
            event("k", "gpu_seconds", 1),
            "UNKNOWN_METRIC",
        ),
        (
            "no live subscription",
            no_subscription(),
            event("k", "tokens", 1),
            "NO_SUBSCRIPTION",
        ),
        (
            "unknown metric and no subscription",
            no_subscription(),
            event("k", "gpu_seconds", 1),
            "UNKNOWN_METRIC",
        ),
        (
            "past a hard limit",
            Tenant::starter().used("api_calls", 10_000),
            event("k", "api_calls", 1),
            "LIMIT_EXCEEDED",
        ),
        (
            "dated more than 5 minutes ahead",
            t(),
            dated(event("k", "tokens", 1), ahead),
            "OCCURRED_IN_FUTURE",
        ),
        (
            "dated before the period",
            t(),
            dated(event("k", "tokens", 1), before),
            "PERIOD_CLOSED",
        ),
        (
            "a total that would overflow",
            t().used("tokens", i64::MAX - 1),
            event("k", "tokens", 2),
            "INVALID_QUANTITY",
        ),
        (
            "more than 10,000 blocks in one call",
            tiny_blocks(),
            event("k", "api_calls", 10_001),
            "INVALID_QUANTITY",
        ),
        (
            "a malformed key",
            t(),
            (None, Err(Rejection::new(RejectCode::InvalidKey, "bad key"))),
            "INVALID_KEY",
        ),
    ];
    for (name, tenant, report, code) in cases {
        let plan = tenant.decide(vec![report]);
        let codes: Vec<&str> = plan
            .decisions
            .iter()
            .map(|d| match d {
                Decision::Rejected(r) => r.code.as_str(),
                _ => "not refused",
            })
            .collect();
        assert_eq!(codes, [code], "{name}");
        assert!(plan.accepted.is_empty(), "{name}");
        assert!(plan.deltas.is_empty() && plan.blocks.is_empty(), "{name}");
        assert!(plan.crossings.is_empty(), "{name}");
    }
}

#[test]
fn events_dated_within_the_period_or_the_clock_tolerance_are_accepted() {
    let t = Tenant::tokens_400();
    let plan = t.decide(vec![
        dated(event("a", "tokens", 1), period_start()),
        dated(event("b", "tokens", 1), t.now + TimeDelta::minutes(5)),
        event("c", "tokens", 1),
    ]);
    assert_eq!(outcomes(&plan), [Accepted, Accepted, Accepted]);
    assert_eq!(plan.accepted[2].occurred_at, t.now, "undated means now");
}

#[test]
fn one_call_charges_at_most_10000_blocks_and_the_next_call_goes_on() {
    let t = Tenant::on(vec![], vec![block_charge("api_calls", 0, 1)]);
    let plan = t.decide(vec![
        event("a", "api_calls", 10_000),
        event("b", "api_calls", 1),
        event("c", "api_calls", 0),
    ]);
    let too_many = Rejected(RejectCode::InvalidQuantity);
    assert_eq!(outcomes(&plan), [Accepted, too_many, Accepted]);
    assert_eq!(plan.blocks.len(), 10_000);
    assert_eq!(delta(&t, &plan, "api_calls"), Some((10_000, 2)));
    let next = t
        .used("api_calls", 10_000)
        .decide(vec![event("b", "api_calls", 1)]);
    assert_eq!(blocks(&next), [10_001]);
}

#[test]
fn usage_during_a_trial_is_counted_but_no_block_is_charged() {
    let mut t = Tenant::tokens_400();
    if let Some(sub) = &mut t.subscription {
        sub.status = SubscriptionStatus::Trialing;
        sub.cycle = 0;
    }
    let plan = t.decide(vec![event("a", "tokens", 20 * M)]);
    assert_eq!(outcomes(&plan), [Accepted]);
    assert!(plan.blocks.is_empty());
    assert_eq!(delta(&t, &plan, "tokens"), Some((20 * M, 1)));
}

#[test]
fn a_period_closed_refusal_says_whether_the_event_or_the_billing_clock_is_behind() {
    let message = |t: &Tenant, report: Report| match &t.decide(vec![report]).decisions[..] {
        [Decision::Rejected(r)] if r.code == RejectCode::PeriodClosed => r.message.clone(),
        _ => panic!("not refused as PERIOD_CLOSED"),
    };
    let t = Tenant::tokens_400();
    let late = dated(
        event("a", "tokens", 1),
        period_start() - TimeDelta::seconds(1),
    );
    let text = message(&t, late);
    assert!(
        text.contains("occurredAt") && text.contains("already invoiced"),
        "{text}"
    );
    // A billing clock behind the subscription's period (as after a restart that lost it):
    // the event is not late, the clock is.
    let mut behind = Tenant::tokens_400();
    behind.now = period_start() - TimeDelta::days(3);
    let text = message(&behind, event("b", "tokens", 1));
    assert!(
        text.contains("billing clock") && text.contains("behind"),
        "{text}"
    );
    assert!(!text.contains("already invoiced"), "{text}");
}

/// After a mid-period plan change the blocks already charged (under the old plan) are what
/// counts, not what the total implies under the new plan: no block is charged twice, none is
/// skipped.
#[test]
fn after_a_plan_change_blocks_continue_from_the_highest_one_charged() {
    // From 0 included to tokens-400's 8M included, with blocks 1 and 2 charged at 10M: the
    // new plan implies only block 1 at 10M, but block 2 is not charged again at 17M.
    let t = Tenant::tokens_400()
        .used("tokens", 10 * M)
        .charged("tokens", 2);
    assert_eq!(
        blocks(&t.decide(vec![event("k", "tokens", 7 * M)])),
        Vec::<i64>::new()
    );
    let t = t.used("tokens", 17 * M);
    assert_eq!(
        blocks(&t.decide(vec![event("k", "tokens", 8 * M)])),
        vec![3]
    );

    // From 8M included to none, with block 1 charged at 10M: block 2 (8M to 16M under the
    // new plan) is charged when the next report comes, not skipped.
    let t = Tenant::on(vec![], vec![block_charge("tokens", 0, 8 * M)])
        .used("tokens", 10 * M)
        .charged("tokens", 1);
    assert_eq!(
        blocks(&t.decide(vec![event("k", "tokens", 6 * M)])),
        vec![2]
    );

    // Within one batch the running highest block moves on with each event.
    let t = Tenant::tokens_400()
        .used("tokens", 10 * M)
        .charged("tokens", 2);
    let plan = t.decide(vec![
        event("a", "tokens", 7 * M),
        event("b", "tokens", 8 * M),
        event("c", "tokens", 8 * M),
    ]);
    assert_eq!(blocks(&plan), vec![3, 4]);
}
