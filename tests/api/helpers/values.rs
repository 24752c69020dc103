//! Readers of response values and literals shared by the tests: strings, numbers, money, times
//! and credit decimals, each panicking with the value when it is not what was expected.
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A String field.
pub fn str_of(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// An `Int` field as i64.
pub fn int_of(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("expected an Int, got {v}"))
}

/// A BigInt (a JSON string) as i64.
pub fn big(v: &Value) -> i64 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a BigInt string: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not an integer ({e}): {v}"))
}

/// A Money field (`{ amountMinor }`) as an integer.
pub fn minor(v: &Value) -> i64 {
    big(&v["amountMinor"])
}

/// `invoice.<field>.amountMinor` as i64.
pub fn money(invoice: &Value, field: &str) -> i64 {
    minor(&invoice[field])
}

/// The `id` of an object.
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// A DateTime field (an RFC 3339 string) as a time.
pub fn at(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a DateTime string: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {v}"))
}

/// An RFC 3339 instant written in a test.
pub fn ts(s: &str) -> DateTime<Utc> {
    s.parse()
        .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"))
}

/// A decimal credit string ("-1.3") as micro-credits.
pub fn micro(s: &str) -> i64 {
    let (neg, abs) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = abs.split_once('.').unwrap_or((abs, ""));
    assert!(
        frac.len() <= 6 && !int.is_empty(),
        "not a credit decimal: {s}"
    );
    let int: i64 = int
        .parse()
        .unwrap_or_else(|e| panic!("not a decimal ({e}): {s}"));
    let frac: i64 = format!("{frac:0<6}")
        .parse()
        .unwrap_or_else(|e| panic!("not a decimal ({e}): {s}"));
    let v = int * 1_000_000 + frac;
    if neg { -v } else { v }
}
