//! Checks and readers shared by the billing tests: response values as numbers and times,
//! invoice arithmetic, and refusals.
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::helpers::Gql;

/// A DateTime field (an RFC 3339 string) as a time.
pub fn at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a DateTime string: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {v}"))
}

/// A BigInt (a JSON string) as i64.
pub fn big(v: &Value) -> i64 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a BigInt string: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not an integer ({e}): {v}"))
}

/// `invoice.<field>.amountMinor` as i64.
pub fn money(invoice: &Value, field: &str) -> i64 {
    big(&invoice[field]["amountMinor"])
}

pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

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
