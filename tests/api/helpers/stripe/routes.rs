//! What each Stripe endpoint does to the stored objects. Runs under the server's lock, so every
//! request is atomic, as one Stripe API call is.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::objects::{self, Params, error_body, param_bool, param_i64};
use super::server::{Store, StripeAnswer};

pub type Reply = (StatusCode, Value);

pub fn route(
    store: &mut Store,
    method: &Method,
    path: &str,
    params: &Params,
    answer: Option<StripeAnswer>,
) -> Reply {
    let rest = path.strip_prefix("/v1/").unwrap_or("");
    let segments: Vec<&str> = rest.split('/').collect();
    let post = method == Method::POST;
    let get = method == Method::GET;
    match segments.as_slice() {
        ["customers"] if post => created(store, objects::customer(params)),
        ["customers", id] if get => retrieve(store, "customer", id),
        ["customers", id] if post => update_customer(store, id, params),
        ["customers", id, "payment_methods"] if get => list_cards(store, id),
        ["payment_methods"] if get => match params.get("customer") {
            Some(customer) => list_cards(store, customer),
            None => missing("customer"),
        },
        ["payment_methods", id] if get => retrieve(store, "payment_method", id),
        ["payment_methods", id, "attach"] if post => attach(store, id, params.get("customer")),
        ["payment_methods", id, "detach"] if post => attach(store, id, None),
        ["setup_intents"] if post => match check_refs(store, params) {
            Err(reply) => reply,
            Ok(()) => created(store, objects::setup_intent(params)),
        },
        ["setup_intents", id] if get => retrieve(store, "setup_intent", id),
        ["payment_intents"] if post => create_payment_intent(store, params, answer),
        ["payment_intents", id] if get => retrieve(store, "payment_intent", id),
        ["payment_intents", id, "confirm"] if post => {
            let Some(mut pi) = store.find("payment_intent", id) else {
                return no_such("payment_intent", id);
            };
            let status = pi["status"].as_str().unwrap_or_default();
            if !status.starts_with("requires_") {
                let message = format!(
                    "This PaymentIntent's status is {status}, but it must be one of requires_payment_method, requires_confirmation or requires_action to be confirmed."
                );
                return invalid("intent", Some("payment_intent_unexpected_state"), &message);
            }
            if let Some(pm) = params.get("payment_method") {
                pi["payment_method"] = json!(pm);
            }
            confirm(store, pi, answer)
        }
        ["checkout", "sessions"] if post => match check_refs(store, params) {
            Err(reply) => reply,
            Ok(()) => {
                let session = objects::checkout_session(params, &store.base_url);
                created(store, session)
            }
        },
        ["checkout", "sessions", id] if get => retrieve(store, "checkout.session", id),
        ["refunds"] if post => create_refund(store, params),
        ["refunds", id] if get => retrieve(store, "refund", id),
        ["charges", id] if get => retrieve(store, "charge", id),
        _ => {
            let message = format!("Unrecognized request URL ({method}: {path}).");
            (
                StatusCode::NOT_FOUND,
                error_body("invalid_request_error", None, &message, None),
            )
        }
    }
}

/// `expand[]=latest_charge` and the like: top-level ids replaced by their objects.
pub fn expand(store: &Store, mut body: Value, params: &Params) -> Value {
    for (key, field) in params {
        if key.starts_with("expand[")
            && let Some(id) = body.get(field.as_str()).and_then(Value::as_str)
            && let Some(object) = store.by_id(id)
        {
            body[field.as_str()] = object;
        }
    }
    body
}

fn created(store: &mut Store, object: Value) -> Reply {
    store.put(object.clone());
    (StatusCode::OK, object)
}

fn retrieve(store: &Store, kind: &str, id: &str) -> Reply {
    match store.find(kind, id) {
        Some(object) => (StatusCode::OK, object),
        None => no_such(kind, id),
    }
}

pub fn no_such(kind: &str, id: &str) -> Reply {
    let name = match kind {
        "payment_method" => "PaymentMethod",
        "payment_intent" => "payment_intent",
        "setup_intent" => "setupintent",
        "checkout.session" => "checkout.session",
        other => other,
    };
    let message = format!("No such {name}: '{id}'");
    (
        StatusCode::NOT_FOUND,
        error_body(
            "invalid_request_error",
            Some("resource_missing"),
            &message,
            Some("id"),
        ),
    )
}

fn missing(param: &str) -> Reply {
    let message = format!("Missing required param: {param}.");
    (
        StatusCode::BAD_REQUEST,
        error_body(
            "invalid_request_error",
            Some("parameter_missing"),
            &message,
            Some(param),
        ),
    )
}

fn invalid(param: &str, code: Option<&str>, message: &str) -> Reply {
    (
        StatusCode::BAD_REQUEST,
        error_body("invalid_request_error", code, message, Some(param)),
    )
}

/// Objects named in the body must exist, as Stripe checks before doing anything.
fn check_refs(store: &Store, params: &Params) -> Result<(), Reply> {
    for (param, kind, name) in [
        ("customer", "customer", "customer"),
        ("payment_method", "payment_method", "PaymentMethod"),
    ] {
        if let Some(id) = params.get(param)
            && store.find(kind, id).is_none()
        {
            return Err(invalid(
                param,
                Some("resource_missing"),
                &format!("No such {name}: '{id}'"),
            ));
        }
    }
    Ok(())
}

fn update_customer(store: &mut Store, id: &str, params: &Params) -> Reply {
    let Some(mut customer) = store.find("customer", id) else {
        return no_such("customer", id);
    };
    if let Some(pm) = params.get("invoice_settings[default_payment_method]")
        && !pm.is_empty()
        && store
            .find("payment_method", pm)
            .and_then(|p| p["customer"].as_str().map(str::to_string))
            .as_deref()
            != Some(id)
    {
        let message = format!("No such PaymentMethod: '{pm}'");
        return invalid(
            "invoice_settings[default_payment_method]",
            Some("resource_missing"),
            &message,
        );
    }
    objects::update_customer(&mut customer, params);
    created(store, customer)
}

fn list_cards(store: &Store, customer: &str) -> Reply {
    if store.find("customer", customer).is_none() {
        return no_such("customer", customer);
    }
    // Newest first, as Stripe lists.
    let cards: Vec<Value> = store
        .all("payment_method")
        .into_iter()
        .rev()
        .filter(|pm| pm["customer"] == json!(customer))
        .collect();
    (StatusCode::OK, objects::list("/v1/payment_methods", cards))
}

fn attach(store: &mut Store, id: &str, customer: Option<&String>) -> Reply {
    let Some(mut pm) = store.find("payment_method", id) else {
        return no_such("payment_method", id);
    };
    if let Some(customer) = customer
        && store.find("customer", customer).is_none()
    {
        return invalid(
            "customer",
            Some("resource_missing"),
            &format!("No such customer: '{customer}'"),
        );
    }
    if customer.is_none() && pm["customer"].is_null() {
        let message = "The payment method you provided is not attached to a customer so detachment is impossible.";
        return invalid(
            "payment_method",
            Some("payment_method_unexpected_state"),
            message,
        );
    }
    pm["customer"] = json!(customer);
    created(store, pm)
}

fn create_payment_intent(
    store: &mut Store,
    params: &Params,
    answer: Option<StripeAnswer>,
) -> Reply {
    let Some(amount) = param_i64(params, "amount") else {
        return missing("amount");
    };
    if !params.contains_key("currency") {
        return missing("currency");
    }
    // Stripe's minimum charge is 50 minor units in BRL, USD, EUR and most currencies.
    if amount < 50 {
        let currency = params.get("currency").map_or("", String::as_str);
        let message = format!("Amount must be at least 50 minor units of {currency}.");
        return invalid("amount", Some("amount_too_small"), &message);
    }
    if let Err(reply) = check_refs(store, params) {
        return reply;
    }
    let pi = objects::payment_intent(params);
    if param_bool(params, "confirm") {
        confirm(store, pi, answer)
    } else {
        created(store, pi)
    }
}

/// Confirms with the intent's card: a success unless a decline or 3-D Secure was queued.
pub fn confirm(store: &mut Store, mut pi: Value, answer: Option<StripeAnswer>) -> Reply {
    let Some(card) = pi["payment_method"]
        .as_str()
        .and_then(|id| store.find("payment_method", id))
    else {
        let message =
            "You cannot confirm this PaymentIntent because it's missing a payment method.";
        return invalid(
            "payment_method",
            Some("payment_intent_unexpected_state"),
            message,
        );
    };
    match answer {
        Some(StripeAnswer::Decline { code, decline_code }) => {
            let mut error = objects::decline_error(code, decline_code);
            let charge = objects::charge(&pi, Some(&card), Some(&error));
            error["charge"] = charge["id"].clone();
            error["payment_method"] = card;
            pi["latest_charge"] = charge["id"].clone();
            store.put(charge);
            // A failed attempt leaves the intent waiting for a new payment method.
            pi["status"] = json!("requires_payment_method");
            pi["payment_method"] = Value::Null;
            pi["last_payment_error"] = error.clone();
            store.put(pi.clone());
            error["payment_intent"] = pi;
            (StatusCode::PAYMENT_REQUIRED, json!({ "error": error }))
        }
        Some(StripeAnswer::RequiresAction) => {
            pi["status"] = json!("requires_action");
            pi["next_action"] = json!({
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {
                    "type": "three_d_secure_redirect",
                    "stripe_js": format!("https://hooks.stripe.com/redirect/authenticate/{}", objects::stripe_id("src")),
                    "source": objects::stripe_id("src"),
                },
            });
            created(store, pi)
        }
        _ => {
            succeed(store, &mut pi, Some(&card));
            (StatusCode::OK, pi)
        }
    }
}

/// Marks the intent paid by a new charge of its full amount.
pub fn succeed(store: &mut Store, pi: &mut Value, card: Option<&Value>) {
    let charge = objects::charge(pi, card, None);
    pi["latest_charge"] = charge["id"].clone();
    store.put(charge);
    pi["status"] = json!("succeeded");
    pi["amount_received"] = pi["amount"].clone();
    pi["amount_capturable"] = json!(0);
    pi["last_payment_error"] = Value::Null;
    pi["next_action"] = Value::Null;
    store.put(pi.clone());
}

fn create_refund(store: &mut Store, params: &Params) -> Reply {
    let pi_id = match (params.get("payment_intent"), params.get("charge")) {
        (Some(pi), _) => pi.clone(),
        (None, Some(ch)) => match store.find("charge", ch) {
            Some(charge) => charge["payment_intent"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            None => {
                return invalid(
                    "charge",
                    Some("resource_missing"),
                    &format!("No such charge: '{ch}'"),
                );
            }
        },
        (None, None) => return missing("payment_intent"),
    };
    let Some(pi) = store.find("payment_intent", &pi_id) else {
        let message = format!("No such payment_intent: '{pi_id}'");
        return invalid("payment_intent", Some("resource_missing"), &message);
    };
    let charge = pi["latest_charge"]
        .as_str()
        .and_then(|id| store.find("charge", id));
    let Some(mut charge) = charge.filter(|_| pi["status"] == "succeeded") else {
        let message =
            format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund.");
        return invalid("payment_intent", None, &message);
    };
    let paid = charge["amount"].as_i64().unwrap_or(0);
    let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
    let remaining = paid - refunded;
    if remaining <= 0 {
        let message = format!(
            "Charge {} has already been refunded.",
            charge["id"].as_str().unwrap_or("")
        );
        return invalid("charge", Some("charge_already_refunded"), &message);
    }
    let amount = param_i64(params, "amount").unwrap_or(remaining);
    if amount < 1 || amount > remaining {
        let message = format!(
            "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
        );
        return invalid("amount", None, &message);
    }
    let refund = objects::refund(params, &pi, amount);
    charge["amount_refunded"] = json!(refunded + amount);
    charge["refunded"] = json!(refunded + amount == paid);
    if let Some(list) = charge["refunds"]["data"].as_array_mut() {
        list.insert(0, refund.clone());
    }
    store.put(charge);
    created(store, refund)
}
