//! Checks shared by the billing tests: invoice arithmetic and refusals. The readers of
//! response values they use live in the harness (`helpers`).
use serde_json::Value;

use crate::helpers::{Gql, big, money};

/// Asserts the invoice arithmetic: every line amount is quantity × unit amount, the subtotal
/// is their sum, total = subtotal - discount, amountDue = max(total, 0).
pub fn assert_arithmetic(invoice: &Value) {
    let lines = invoice["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no lines in {invoice}"));
    let mut sum: i128 = 0;
    for l in lines {
        let q = i128::from(big(&l["quantity"]));
        let unit = i128::from(big(&l["unitAmount"]["amountMinor"]));
        let amount = i128::from(big(&l["amount"]["amountMinor"]));
        assert_eq!(amount, q * unit, "line amount is not quantity × unit: {l}");
        sum += amount;
    }
    let subtotal = money(invoice, "subtotal");
    let discount = money(invoice, "discount");
    let total = money(invoice, "total");
    assert_eq!(
        i128::from(subtotal),
        sum,
        "subtotal ≠ sum of lines: {invoice}"
    );
    assert_eq!(
        total,
        subtotal - discount,
        "total ≠ subtotal - discount: {invoice}"
    );
    assert_eq!(
        money(invoice, "amountDue"),
        total.max(0),
        "amountDue ≠ max(total, 0): {invoice}"
    );
    assert!(discount >= 0, "negative discount: {invoice}");
    assert!(
        discount <= subtotal.max(0),
        "discount above the subtotal: {invoice}"
    );
}

/// Asserts that a request was refused with `code`: no server failure, no internal error, no data.
pub fn refused(r: &Gql, code: &str, what: &str) {
    assert!(r.status < 500, "{what}: HTTP {} with {}", r.status, r.body);
    assert_eq!(
        r.code(),
        Some(code),
        "{what}: expected {code}, got {}",
        r.body
    );
    let errors = r.body["errors"].as_array().map_or(&[][..], Vec::as_slice);
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"].as_str() != Some("INTERNAL")),
        "{what}: internal error: {}",
        r.body
    );
    assert!(
        r.body["data"].is_null(),
        "{what}: a refused request returned data: {}",
        r.body
    );
}
