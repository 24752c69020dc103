//! Stripe objects built from Stripe's own published fixtures (`tests/fixtures/stripe`), with the
//! fields a request decides overwritten, so the real async-stripe client deserializes them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

pub type Params = BTreeMap<String, String>;

static FIXTURES: OnceLock<Value> = OnceLock::new();

/// A fresh copy of Stripe's fixture for `resource` (`customer`, `payment_intent`,
/// `checkout.session`, ...).
pub fn stripe_fixture(resource: &str) -> Value {
    let all = FIXTURES.get_or_init(|| {
        serde_json::from_str(include_str!("../../../fixtures/stripe/fixtures3.json"))
            .expect("the vendored Stripe fixtures are valid JSON")
    });
    all["resources"][resource].clone()
}

/// An id shaped like Stripe's: prefix, underscore, 24 alphanumerics.
pub fn stripe_id(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &random[..24])
}

pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `metadata[k]=v` pairs of a form body, as the JSON object Stripe stores.
pub fn metadata_from(params: &Params) -> Value {
    let mut map = Map::new();
    for (key, value) in params {
        if let Some(name) = key
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
        {
            map.insert(name.to_string(), Value::String(value.clone()));
        }
    }
    Value::Object(map)
}

pub fn param_i64(params: &Params, key: &str) -> Option<i64> {
    params.get(key).and_then(|v| v.parse().ok())
}

pub fn param_bool(params: &Params, key: &str) -> bool {
    params.get(key).is_some_and(|v| v == "true")
}

fn opt(params: &Params, key: &str) -> Value {
    params
        .get(key)
        .map_or(Value::Null, |v| Value::String(v.clone()))
}

pub fn customer(params: &Params) -> Value {
    let mut c = stripe_fixture("customer");
    let id = stripe_id("cus");
    c["id"] = json!(id);
    c["created"] = json!(now_unix());
    // The fixture carries an example discount; a new customer has none.
    c["discount"] = Value::Null;
    c["shipping"] = Value::Null;
    c["invoice_prefix"] = json!(id[4..12].to_uppercase());
    update_customer(&mut c, params);
    c
}

pub fn update_customer(c: &mut Value, params: &Params) {
    for field in ["name", "email", "description", "phone"] {
        if params.contains_key(field) {
            c[field] = opt(params, field);
        }
    }
    if let Some(pm) = params.get("invoice_settings[default_payment_method]") {
        c["invoice_settings"]["default_payment_method"] = if pm.is_empty() {
            Value::Null
        } else {
            json!(pm)
        };
    }
    merge_metadata(c, params);
}

/// Stripe merges posted metadata into the stored one; an empty value deletes the key.
pub fn merge_metadata(object: &mut Value, params: &Params) {
    let Value::Object(posted) = metadata_from(params) else {
        return;
    };
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    for (key, value) in posted {
        let stored = object["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        if value.as_str() == Some("") {
            stored.remove(&key);
        } else {
            stored.insert(key, value);
        }
    }
}

fn payment_method_types(params: &Params) -> Value {
    let types: Vec<&String> = params
        .iter()
        .filter(|(k, _)| k.starts_with("payment_method_types["))
        .map(|(_, v)| v)
        .collect();
    if types.is_empty() {
        json!(["card"])
    } else {
        json!(types)
    }
}

pub fn setup_intent(params: &Params) -> Value {
    let mut s = stripe_fixture("setup_intent");
    let id = stripe_id("seti");
    s["client_secret"] = json!(format!("{id}_secret_{}", &stripe_id("x")[2..]));
    s["id"] = json!(id);
    s["created"] = json!(now_unix());
    s["customer"] = opt(params, "customer");
    s["description"] = opt(params, "description");
    s["usage"] = json!(params.get("usage").map_or("off_session", String::as_str));
    s["payment_method_types"] = payment_method_types(params);
    s["metadata"] = metadata_from(params);
    s["status"] = json!("requires_payment_method");
    // The fixture shows example errors and actions; a new intent has neither.
    s["last_setup_error"] = Value::Null;
    s["next_action"] = Value::Null;
    s["automatic_payment_methods"] = Value::Null;
    s["payment_method_configuration_details"] = Value::Null;
    s
}

pub fn payment_method(customer: Option<&str>, brand: &str, last4: &str, exp: (i64, i64)) -> Value {
    let mut pm = stripe_fixture("payment_method");
    pm["id"] = json!(stripe_id("pm"));
    pm["created"] = json!(now_unix());
    pm["customer"] = json!(customer);
    pm["metadata"] = json!({});
    pm["card"]["brand"] = json!(brand);
    pm["card"]["display_brand"] = json!(brand);
    pm["card"]["last4"] = json!(last4);
    pm["card"]["exp_month"] = json!(exp.0);
    pm["card"]["exp_year"] = json!(exp.1);
    pm["card"]["networks"] = json!({ "available": [brand], "preferred": null });
    pm["card"]["wallet"] = Value::Null;
    pm["card"]["generated_from"] = Value::Null;
    pm["card"]["fingerprint"] = json!(&stripe_id("fp")[3..19]);
    pm
}

/// A PaymentIntent as Stripe shows it right after creation (no confirmation yet).
pub fn payment_intent(params: &Params) -> Value {
    let mut p = stripe_fixture("payment_intent");
    let id = stripe_id("pi");
    p["client_secret"] = json!(format!("{id}_secret_{}", &stripe_id("x")[2..]));
    p["id"] = json!(id);
    p["created"] = json!(now_unix());
    p["amount"] = json!(param_i64(params, "amount").unwrap_or(0));
    p["currency"] = json!(params.get("currency").map(|c| c.to_lowercase()));
    for field in ["customer", "payment_method", "description", "receipt_email"] {
        p[field] = opt(params, field);
    }
    p["metadata"] = metadata_from(params);
    p["payment_method_types"] = payment_method_types(params);
    if params.contains_key("payment_method") {
        p["automatic_payment_methods"] = Value::Null;
    }
    p["status"] = json!(if params.contains_key("payment_method") {
        "requires_confirmation"
    } else {
        "requires_payment_method"
    });
    for field in [
        "canceled_at",
        "last_payment_error",
        "next_action",
        "processing",
    ] {
        p[field] = Value::Null;
    }
    p["transfer_data"] = Value::Null;
    p["shipping"] = Value::Null;
    p["payment_method_configuration_details"] = Value::Null;
    p["managed_payments"] = Value::Null;
    p
}

/// A charge for the PaymentIntent's full amount, paid with its card, or failed with the decline
/// `error` (see [`decline_error`]).
pub fn charge(pi: &Value, card: Option<&Value>, failure: Option<&Value>) -> Value {
    let mut c = stripe_fixture("charge");
    c["id"] = json!(stripe_id("ch"));
    c["created"] = json!(now_unix());
    for field in [
        "amount",
        "currency",
        "customer",
        "description",
        "metadata",
        "payment_method",
    ] {
        c[field] = pi[field].clone();
    }
    c["payment_intent"] = pi["id"].clone();
    let paid = failure.is_none();
    c["amount_captured"] = json!(if paid {
        pi["amount"].as_i64().unwrap_or(0)
    } else {
        0
    });
    c["captured"] = json!(paid);
    c["paid"] = json!(paid);
    c["status"] = json!(if paid { "succeeded" } else { "failed" });
    c["balance_transaction"] = if paid {
        json!(stripe_id("txn"))
    } else {
        Value::Null
    };
    c["failure_code"] = failure.map_or(Value::Null, |e| e["code"].clone());
    c["failure_message"] = failure.map_or(Value::Null, |e| e["message"].clone());
    c["outcome"]["type"] = json!(if paid {
        "authorized"
    } else {
        "issuer_declined"
    });
    c["outcome"]["reason"] = failure.map_or(Value::Null, |e| e["decline_code"].clone());
    c["outcome"]["network_status"] = json!(if paid {
        "approved_by_network"
    } else {
        "declined_by_network"
    });
    c["refunds"]["url"] = json!(format!(
        "/v1/charges/{}/refunds",
        c["id"].as_str().unwrap_or("")
    ));
    if let Some(card) = card {
        let details = &mut c["payment_method_details"]["card"];
        for field in [
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "fingerprint",
            "funding",
            "country",
        ] {
            details[field] = card["card"][field].clone();
        }
        details["network"] = card["card"]["brand"].clone();
        details["wallet"] = Value::Null;
    }
    // The fixture's legacy `source` describes an ACH transfer, not this card payment.
    c["source"] = Value::Null;
    c["transfer_data"] = Value::Null;
    c["shipping"] = Value::Null;
    c
}

/// The `error` object of a card decline; `charge` is the failed charge's id.
pub fn decline_error(code: &str, decline_code: &str) -> Value {
    let message = match (code, decline_code) {
        (_, "insufficient_funds") => "Your card has insufficient funds.",
        ("expired_card", _) => "Your card has expired.",
        ("incorrect_cvc", _) => "Your card's security code is incorrect.",
        ("authentication_required", _) => {
            "Your card was declined. This transaction requires authentication."
        }
        _ => "Your card was declined.",
    };
    json!({
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": message,
        "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
    })
}

pub fn checkout_session(params: &Params, base_url: &str) -> Value {
    let mut s = stripe_fixture("checkout.session");
    let id = stripe_id("cs_test");
    let mut total: i64 = 0;
    let mut currency = params.get("currency").cloned();
    for i in 0.. {
        let key = |f: &str| format!("line_items[{i}][{f}]");
        let Some(unit) = param_i64(params, &key("price_data][unit_amount")) else {
            break;
        };
        let quantity = param_i64(params, &key("quantity")).unwrap_or(1);
        total = total.saturating_add(unit.saturating_mul(quantity));
        currency = currency.or_else(|| params.get(&key("price_data][currency")).cloned());
    }
    s["url"] = json!(format!("{base_url}c/pay/{id}"));
    s["id"] = json!(id);
    s["created"] = json!(now_unix());
    s["expires_at"] = json!(now_unix() + 24 * 3600);
    s["amount_subtotal"] = json!(total);
    s["amount_total"] = json!(total);
    s["currency"] = json!(currency.map(|c| c.to_lowercase()));
    for field in [
        "customer",
        "customer_email",
        "client_reference_id",
        "success_url",
        "cancel_url",
    ] {
        s[field] = opt(params, field);
    }
    s["mode"] = json!(params.get("mode").map_or("payment", String::as_str));
    s["metadata"] = metadata_from(params);
    s["payment_method_types"] = payment_method_types(params);
    s["status"] = json!("open");
    s["payment_status"] = json!("unpaid");
    s["payment_intent"] = Value::Null;
    s["customer_details"] = Value::Null;
    s["total_details"] = json!({ "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 });
    for field in [
        "shipping_cost",
        "shipping_address_collection",
        "currency_conversion",
        "collected_information",
        "after_expiration",
        "invoice_creation",
        "payment_method_configuration_details",
        "managed_payments",
    ] {
        s[field] = Value::Null;
    }
    s
}

pub fn refund(params: &Params, pi: &Value, amount: i64) -> Value {
    let mut r = stripe_fixture("refund");
    r["id"] = json!(stripe_id("re"));
    r["created"] = json!(now_unix());
    r["amount"] = json!(amount);
    r["currency"] = pi["currency"].clone();
    r["charge"] = pi["latest_charge"].clone();
    r["payment_intent"] = pi["id"].clone();
    r["customer"] = pi["customer"].clone();
    r["payment_method"] = pi["payment_method"].clone();
    r["metadata"] = metadata_from(params);
    r["reason"] = opt(params, "reason");
    r["balance_transaction"] = json!(stripe_id("txn"));
    r["status"] = json!("succeeded");
    r
}

/// Stripe's list envelope.
pub fn list(url: &str, data: Vec<Value>) -> Value {
    json!({ "object": "list", "data": data, "has_more": false, "url": url })
}

/// Stripe's error envelope.
pub fn error_body(kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Value {
    let mut e = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        e["code"] = json!(code);
        e["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        e["param"] = json!(param);
    }
    json!({ "error": e })
}
