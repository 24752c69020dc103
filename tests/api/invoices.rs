//! Invoices: the status machine, totals, corrections, gapless numbering (also under concurrent
//! finalizations), listing and filters, admin-only moves, bad input, past due and zero-amount
//! invoices. The clock stands still at `START` and moves only through `advanceClock`.
use billing::domain::Role;
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::billing_checks::*;
use crate::helpers::*;

const START: &str = "2026-03-01T00:00:00Z";

/// The mutations that take only an invoice id.
const FINALIZE: &str = "finalizeInvoice";
const PAY: &str = "markInvoicePaid";
const VOID: &str = "voidInvoice";
const UNCOLLECTIBLE: &str = "markInvoiceUncollectible";

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests
// ---------------------------------------------------------------------------------------------

fn start() -> DateTime<Utc> {
    START.parse().expect("START is RFC 3339")
}

fn number(year: i32, n: usize) -> String {
    format!("{year}-{n:06}")
}

fn line(description: &str, quantity: i64, unit_amount_minor: i64) -> Value {
    json!({
        "description": description,
        "quantity": quantity.to_string(),
        "unitAmountMinor": unit_amount_minor.to_string(),
    })
}

async fn create_invoice(app: &TestApp, token: &str, input: Value) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($i: CreateInvoiceInput!) {{ createInvoice(input: $i) {{ {INVOICE_FIELDS} }} }}"
        ),
        json!({ "i": input }),
    )
    .await
}

async fn add_line(app: &TestApp, token: &str, invoice_id: &str, line: Value) -> Gql {
    app.as_token(
        token,
        &format!(
            "mutation($id: ID!, $l: InvoiceLineInput!) {{ addInvoiceLine(invoiceId: $id, line: $l) {{ {INVOICE_FIELDS} }} }}"
        ),
        json!({ "id": invoice_id, "l": line }),
    )
    .await
}

/// Sends `mutation` (finalizeInvoice, markInvoicePaid, voidInvoice, markInvoiceUncollectible).
async fn move_invoice(app: &TestApp, token: &str, mutation: &str, id: &str) -> Gql {
    app.as_token(
        token,
        &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ {INVOICE_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await
}

/// Sends `mutation` as admin and returns the invoice, asserting success.
async fn admin_move(app: &TestApp, mutation: &str, id: &str) -> Value {
    let r = move_invoice(app, &app.admin_token, mutation, id).await;
    r.data()[mutation].clone()
}

/// A DRAFT invoice for `tenant` with `lines`, created as admin.
async fn draft(app: &TestApp, tenant: &str, lines: Vec<Value>) -> Value {
    let r = create_invoice(
        app,
        &app.admin_token,
        json!({ "tenantId": tenant, "lines": lines }),
    )
    .await;
    r.data()["createInvoice"].clone()
}

/// A DRAFT invoice with one line of 1 × `amount`.
async fn simple_draft(app: &TestApp, tenant: &str, amount: i64) -> Value {
    draft(app, tenant, vec![line("Consulting", 1, amount)]).await
}

async fn read_invoice(app: &TestApp, token: &str, id: &str) -> Gql {
    app.as_token(
        token,
        &format!("query($id: ID!) {{ invoice(id: $id) {{ {INVOICE_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await
}

/// Every invoice of every tenant, as admin, in creation order.
async fn all_invoices(app: &TestApp) -> Vec<Value> {
    let r = app
        .as_admin(
            &format!("{{ invoices(first: 100) {{ edges {{ node {{ {INVOICE_FIELDS} }} }} }} }}"),
            json!({}),
        )
        .await;
    nodes(&r, "invoices")
}

/// Sends `mutation` on `id` with `token`; asserts it is refused with `code` and that the
/// invoice is exactly as it was.
async fn refuses_move(app: &TestApp, token: &str, mutation: &str, id: &str, code: &str) {
    let before = app.invoice(id).await;
    let r = move_invoice(app, token, mutation, id).await;
    let what = format!("{mutation} on a {} invoice", before["status"]);
    refused(&r, code, &what);
    assert_eq!(app.invoice(id).await, before, "{what} changed the invoice");
}

/// addInvoiceLine with `token`; asserts it is refused with `code`, invoice unchanged.
async fn refuses_line(app: &TestApp, token: &str, id: &str, l: Value, code: &str, what: &str) {
    let before = app.invoice(id).await;
    let r = add_line(app, token, id, l).await;
    refused(&r, code, what);
    assert_eq!(app.invoice(id).await, before, "{what} changed the invoice");
}

/// The numbers of `invoices`, sorted.
fn sorted_numbers(invoices: &[Value]) -> Vec<String> {
    let mut numbers: Vec<String> = invoices
        .iter()
        .map(|i| {
            i["number"]
                .as_str()
                .unwrap_or_else(|| panic!("invoice without a number: {i}"))
                .to_owned()
        })
        .collect();
    numbers.sort();
    numbers
}

fn expected_numbers(year: i32, count: usize) -> Vec<String> {
    (1..=count).map(|n| number(year, n)).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Status machine
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_invoice_goes_from_draft_to_open_to_paid_through_the_admin_mutations() {
    // Arrange
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;

    // Act: a draft with one line.
    let d = draft(&app, &t, vec![line("Setup fee", 1, 15_000)]).await;

    // Assert
    let id = id_of(&d);
    assert!(id.starts_with("inv_"), "{d}");
    assert_eq!(d["tenantId"], json!(t));
    assert_eq!(d["status"], "DRAFT");
    assert!(d["number"].is_null(), "a draft has no number: {d}");
    assert_eq!(d["billingReason"], "MANUAL");
    assert!(d["subscriptionId"].is_null(), "{d}");
    assert!(d["cycle"].is_null(), "{d}");
    assert_eq!(d["currency"], "BRL");
    assert_eq!(at(&d["periodStart"]), start());
    assert_eq!(at(&d["periodEnd"]), start());
    for field in [
        "issuedAt",
        "dueAt",
        "paidAt",
        "voidedAt",
        "markedUncollectibleAt",
    ] {
        assert!(d[field].is_null(), "a draft has no {field}: {d}");
    }
    assert_eq!(money(&d, "subtotal"), 15_000);
    assert_eq!(money(&d, "discount"), 0);
    assert_eq!(money(&d, "amountDue"), 15_000);
    assert_eq!(money(&d, "amountPaid"), 0);
    assert!(d["couponCode"].is_null(), "{d}");
    assert_eq!(d["lines"].as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(d["lines"][0]["kind"], "manual");
    assert_eq!(d["lines"][0]["description"], "Setup fee");
    assert_arithmetic(&d);

    // Act: a second line.
    let r = add_line(&app, &app.admin_token, &id, line("Support hours", 3, 2_500)).await;

    // Assert
    let d = r.data()["addInvoiceLine"].clone();
    assert_eq!(d["status"], "DRAFT");
    assert!(d["number"].is_null(), "{d}");
    let descriptions: Vec<&str> = d["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["description"].as_str().expect("description"))
        .collect();
    assert_eq!(descriptions, ["Setup fee", "Support hours"], "{d}");
    assert_eq!(money(&d, "subtotal"), 22_500);
    assert_eq!(money(&d, "amountDue"), 22_500);
    assert_arithmetic(&d);

    // Act: finalize.
    let open = admin_move(&app, FINALIZE, &id).await;

    // Assert
    assert_eq!(open["status"], "OPEN");
    assert_eq!(open["number"], "2026-000001");
    assert_eq!(at(&open["issuedAt"]), start());
    assert_eq!(at(&open["dueAt"]), start() + Duration::days(7));
    assert_eq!(open["lines"], d["lines"], "finalizing changed the lines");
    assert_eq!(money(&open, "amountDue"), 22_500);
    assert_eq!(money(&open, "amountPaid"), 0);
    assert!(open["paidAt"].is_null(), "{open}");
    assert_eq!(
        app.invoice(&id).await,
        open,
        "invoice(id) differs from the payload"
    );

    // Act: a day later it is paid.
    app.advance_days(1).await;
    let r = app
        .as_admin(
            &format!(
                "mutation($id: ID!, $ref: String) {{ markInvoicePaid(id: $id, paymentReference: $ref) {{ {INVOICE_FIELDS} }} }}"
            ),
            json!({ "id": id, "ref": "pix-e2e-0001" }),
        )
        .await;

    // Assert
    let paid = r.data()["markInvoicePaid"].clone();
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["number"], "2026-000001", "paying changed the number");
    assert_eq!(money(&paid, "amountPaid"), money(&paid, "amountDue"));
    assert_eq!(money(&paid, "amountPaid"), 22_500);
    assert_eq!(at(&paid["paidAt"]), start() + Duration::days(1));
    assert_eq!(at(&paid["issuedAt"]), start(), "paying moved issuedAt");
    assert_eq!(at(&paid["dueAt"]), start() + Duration::days(7));
    assert_eq!(app.invoice(&id).await, paid);
}

#[tokio::test]
async fn every_illegal_invoice_move_is_a_conflict_that_changes_nothing() {
    // Arrange: one invoice in each state.
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;
    let admin = app.admin_token.clone();
    let draft_inv = id_of(&simple_draft(&app, &t, 1_000).await);
    let open_inv = id_of(&simple_draft(&app, &t, 2_000).await);
    let paid_inv = id_of(&simple_draft(&app, &t, 3_000).await);
    let void_inv = id_of(&simple_draft(&app, &t, 4_000).await);
    let uncollectible_inv = id_of(&simple_draft(&app, &t, 5_000).await);
    for id in [&open_inv, &paid_inv, &void_inv, &uncollectible_inv] {
        admin_move(&app, FINALIZE, id).await;
    }
    admin_move(&app, PAY, &paid_inv).await;
    admin_move(&app, VOID, &void_inv).await;
    admin_move(&app, UNCOLLECTIBLE, &uncollectible_inv).await;
    assert_eq!(app.invoice(&void_inv).await["status"], "VOID");
    assert_eq!(
        app.invoice(&uncollectible_inv).await["status"],
        "UNCOLLECTIBLE"
    );

    // Act / Assert: a draft can only be finalized.
    for m in [PAY, VOID, UNCOLLECTIBLE] {
        refuses_move(&app, &admin, m, &draft_inv, "CONFLICT").await;
    }
    // An open invoice cannot be finalized again, nor take lines.
    refuses_move(&app, &admin, FINALIZE, &open_inv, "CONFLICT").await;
    refuses_line(
        &app,
        &admin,
        &open_inv,
        line("Late addition", 1, 100),
        "CONFLICT",
        "addInvoiceLine on an OPEN invoice",
    )
    .await;
    // A paid invoice is final.
    for m in [FINALIZE, PAY, VOID, UNCOLLECTIBLE] {
        refuses_move(&app, &admin, m, &paid_inv, "CONFLICT").await;
    }
    // So is a void one.
    for m in [FINALIZE, PAY, VOID, UNCOLLECTIBLE] {
        refuses_move(&app, &admin, m, &void_inv, "CONFLICT").await;
    }
    // An uncollectible one cannot be finalized or marked uncollectible again.
    for m in [FINALIZE, UNCOLLECTIBLE] {
        refuses_move(&app, &admin, m, &uncollectible_inv, "CONFLICT").await;
    }
    // Lines go on drafts only.
    for (id, state) in [
        (&paid_inv, "PAID"),
        (&void_inv, "VOID"),
        (&uncollectible_inv, "UNCOLLECTIBLE"),
    ] {
        refuses_line(
            &app,
            &admin,
            id,
            line("Late addition", 1, 100),
            "CONFLICT",
            &format!("addInvoiceLine on a {state} invoice"),
        )
        .await;
    }

    // Assert: no refused move used a number; the next one is 000005.
    let next = admin_move(&app, FINALIZE, &draft_inv).await;
    assert_eq!(next["number"], "2026-000005", "{next}");
}

#[tokio::test]
async fn an_uncollectible_invoice_can_still_be_paid_or_voided() {
    // Arrange
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;
    let to_pay = id_of(&simple_draft(&app, &t, 7_000).await);
    let to_void = id_of(&simple_draft(&app, &t, 8_000).await);
    admin_move(&app, FINALIZE, &to_pay).await;
    admin_move(&app, FINALIZE, &to_void).await;

    // Act
    app.advance_days(30).await;
    let u = admin_move(&app, UNCOLLECTIBLE, &to_pay).await;
    admin_move(&app, UNCOLLECTIBLE, &to_void).await;
    app.advance_days(10).await;
    let paid = admin_move(&app, PAY, &to_pay).await;
    let voided = admin_move(&app, VOID, &to_void).await;

    // Assert
    assert_eq!(u["status"], "UNCOLLECTIBLE");
    assert_eq!(
        at(&u["markedUncollectibleAt"]),
        start() + Duration::days(30)
    );
    assert_eq!(paid["status"], "PAID");
    assert_eq!(money(&paid, "amountPaid"), 7_000);
    assert_eq!(at(&paid["paidAt"]), start() + Duration::days(40));
    assert_eq!(paid["number"], "2026-000001");
    assert_eq!(voided["status"], "VOID");
    assert_eq!(at(&voided["voidedAt"]), start() + Duration::days(40));
    assert_eq!(
        voided["number"], "2026-000002",
        "voiding dropped the number"
    );
    assert_eq!(money(&voided, "amountPaid"), 0);
    assert_eq!(app.invoice(&to_pay).await, paid);
    assert_eq!(app.invoice(&to_void).await, voided);
}

// ---------------------------------------------------------------------------------------------
// 2. Totals
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invoice_totals_are_the_sum_of_quantity_times_unit_amount() {
    // Arrange
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;

    // Act
    let mixed = draft(
        &app,
        &t,
        vec![
            line("Seats", 3, 1_250),
            line("Onboarding", 1, 999),
            line("Goodwill credit", 2, -500),
        ],
    )
    .await;
    let credit = draft(
        &app,
        &t,
        vec![
            line("Service", 1, 1_000),
            line("Refund of overcharge", 1, -5_000),
        ],
    )
    .await;
    let big_amounts = draft(
        &app,
        &t,
        vec![
            line("Many units", 1_000_000_000, 7),
            line("One large item", 1, 1_000_000_000_000),
        ],
    )
    .await;

    // Assert
    let amounts: Vec<i64> = mixed["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| big(&l["amount"]["amountMinor"]))
        .collect();
    assert_eq!(amounts, [3_750, 999, -1_000], "{mixed}");
    assert_eq!(money(&mixed, "subtotal"), 3_749);
    assert_eq!(money(&mixed, "discount"), 0);
    assert_eq!(money(&mixed, "total"), 3_749);
    assert_eq!(money(&mixed, "amountDue"), 3_749);
    assert_arithmetic(&mixed);

    assert_eq!(money(&credit, "subtotal"), -4_000);
    assert_eq!(money(&credit, "total"), -4_000);
    assert_eq!(money(&credit, "amountDue"), 0, "amountDue went below zero");
    assert_arithmetic(&credit);

    assert_eq!(
        money(&big_amounts, "subtotal"),
        7_000_000_000 + 1_000_000_000_000
    );
    assert_arithmetic(&big_amounts);

    // Act: a line added later is part of the totals.
    let r = add_line(
        &app,
        &app.admin_token,
        &id_of(&mixed),
        line("Extra seat", 2, 1_250),
    )
    .await;

    // Assert
    let mixed = r.data()["addInvoiceLine"].clone();
    assert_eq!(money(&mixed, "subtotal"), 6_249);
    assert_eq!(money(&mixed, "amountDue"), 6_249);
    assert_arithmetic(&mixed);

    // Finalizing keeps the figures.
    let open = admin_move(&app, FINALIZE, &id_of(&mixed)).await;
    for field in ["subtotal", "discount", "total", "amountDue"] {
        assert_eq!(open[field], mixed[field], "finalizing changed {field}");
    }
    assert_arithmetic(&open);
}

// ---------------------------------------------------------------------------------------------
// 3. Correction by voiding
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_wrong_invoice_is_corrected_by_voiding_it_and_issuing_a_new_one() {
    // Arrange: an open invoice with the wrong amount, and an unrelated draft made earlier.
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;
    let earlier_draft = id_of(&simple_draft(&app, &t, 100).await);
    let wrong = id_of(&draft(&app, &t, vec![line("Consulting", 10, 15_000)]).await);
    let wrong_open = admin_move(&app, FINALIZE, &wrong).await;
    assert_eq!(wrong_open["number"], "2026-000001");

    // Act: void it and issue the right one.
    app.advance_days(2).await;
    let voided = admin_move(&app, VOID, &wrong).await;
    let replacement = id_of(&draft(&app, &t, vec![line("Consulting", 8, 15_000)]).await);
    let right = admin_move(&app, FINALIZE, &replacement).await;
    let later = admin_move(&app, FINALIZE, &earlier_draft).await;

    // Assert: the voided one keeps its number and its lines; the new one gets the next.
    assert_eq!(voided["status"], "VOID");
    assert_eq!(voided["number"], "2026-000001");
    assert_eq!(voided["lines"], wrong_open["lines"]);
    assert_eq!(money(&voided, "total"), 150_000);
    assert_eq!(at(&voided["voidedAt"]), start() + Duration::days(2));
    assert_eq!(right["status"], "OPEN");
    assert_eq!(right["number"], "2026-000002");
    assert_eq!(money(&right, "amountDue"), 120_000);
    assert_eq!(at(&right["issuedAt"]), start() + Duration::days(2));
    assert_eq!(at(&right["dueAt"]), start() + Duration::days(9));
    // Numbers follow finalization, not creation.
    assert_eq!(later["number"], "2026-000003");

    let all = app.invoices_of(&t).await;
    assert_eq!(all.len(), 3);
    assert_eq!(sorted_numbers(&all), expected_numbers(2026, 3));
}

// ---------------------------------------------------------------------------------------------
// 4. Gapless numbering
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invoice_numbers_are_consecutive_in_the_order_of_finalization() {
    // Arrange: five drafts over two tenants.
    let app = spawn_app_at(START).await;
    let a = app.create_tenant("alpha").await;
    let b = app.create_tenant("bravo").await;
    let mut drafts = Vec::new();
    for (i, t) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let amount = 1_000 * (i64::try_from(i).expect("small") + 1);
        drafts.push(id_of(&simple_draft(&app, t, amount).await));
    }

    // Act: finalize in a shuffled order.
    let order = [2, 0, 4, 1, 3];
    let mut got = Vec::new();
    for i in order {
        got.push(admin_move(&app, FINALIZE, &drafts[i]).await);
    }

    // Assert
    for (n, inv) in got.iter().enumerate() {
        assert_eq!(inv["number"], number(2026, n + 1), "{inv}");
    }
    assert_eq!(
        sorted_numbers(&all_invoices(&app).await),
        expected_numbers(2026, 5)
    );
}

#[tokio::test]
async fn invoice_numbers_start_again_at_one_in_the_year_of_finalization() {
    // Arrange
    let app = spawn_app_at("2026-12-31T12:00:00Z").await;
    let t = app.create_tenant("acme").await;
    let first = id_of(&simple_draft(&app, &t, 1_000).await);
    let second = id_of(&simple_draft(&app, &t, 2_000).await);
    let made_in_2026 = id_of(&simple_draft(&app, &t, 3_000).await);
    admin_move(&app, FINALIZE, &first).await;
    admin_move(&app, FINALIZE, &second).await;

    // Act
    app.advance_to("2027-01-01T00:00:00Z").await;
    let new_year = admin_move(&app, FINALIZE, &made_in_2026).await;
    let another = id_of(&simple_draft(&app, &t, 4_000).await);
    let another = admin_move(&app, FINALIZE, &another).await;

    // Assert
    assert_eq!(app.invoice(&first).await["number"], "2026-000001");
    assert_eq!(app.invoice(&second).await["number"], "2026-000002");
    assert_eq!(new_year["number"], "2027-000001", "{new_year}");
    assert_eq!(another["number"], "2027-000002", "{another}");
}

#[tokio::test]
async fn twenty_five_concurrent_finalizations_get_numbers_one_to_twenty_five() {
    // Arrange: 25 drafts over five tenants.
    let app = spawn_app_at(START).await;
    let mut drafts = Vec::new();
    for i in 0..5 {
        let t = app.create_tenant(&format!("tenant-{i}")).await;
        for j in 0..5 {
            drafts.push(id_of(&simple_draft(&app, &t, 1_000 + j).await));
        }
    }

    // Act: all at once.
    let results = join_all(
        drafts
            .iter()
            .map(|id| move_invoice(&app, &app.admin_token, FINALIZE, id)),
    )
    .await;

    // Assert (backend: the same on SQLite and PostgreSQL)
    let finalized: Vec<Value> = results
        .iter()
        .map(|r| r.data()["finalizeInvoice"].clone())
        .collect();
    assert!(finalized.iter().all(|i| i["status"] == "OPEN"));
    assert_eq!(
        sorted_numbers(&finalized),
        expected_numbers(2026, 25),
        "duplicate or skipped numbers on {}",
        backend()
    );
    // What is stored agrees with what was answered.
    for f in &finalized {
        assert_eq!(app.invoice(&id_of(f)).await["number"], f["number"]);
    }
    assert_eq!(
        sorted_numbers(&all_invoices(&app).await),
        expected_numbers(2026, 25)
    );

    // The series goes on without a gap.
    let t = app.create_tenant("late-comer").await;
    let next = id_of(&simple_draft(&app, &t, 500).await);
    assert_eq!(
        admin_move(&app, FINALIZE, &next).await["number"],
        "2026-000026"
    );
}

#[tokio::test]
async fn concurrent_finalizations_of_the_same_draft_succeed_once_and_use_one_number() {
    // Arrange: ten drafts, each to be finalized twice at the same moment.
    let app = spawn_app_at(START).await;
    let a = app.create_tenant("alpha").await;
    let b = app.create_tenant("bravo").await;
    let mut drafts = Vec::new();
    for i in 0..10 {
        let t = if i % 2 == 0 { &a } else { &b };
        drafts.push(id_of(&simple_draft(&app, t, 2_000 + i).await));
    }

    // Act
    let results = join_all(
        drafts
            .iter()
            .chain(drafts.iter())
            .map(|id| move_invoice(&app, &app.admin_token, FINALIZE, id)),
    )
    .await;

    // Assert: per draft, exactly one success and one CONFLICT.
    let mut finalized = Vec::new();
    for (k, id) in drafts.iter().enumerate() {
        let pair = [&results[k], &results[k + drafts.len()]];
        let ok: Vec<&&Gql> = pair.iter().filter(|r| r.code().is_none()).collect();
        assert_eq!(
            ok.len(),
            1,
            "draft {id}: expected one success on {}, got {:?}",
            backend(),
            pair.iter().map(|r| r.body.to_string()).collect::<Vec<_>>()
        );
        let loser = pair
            .iter()
            .find(|r| r.code().is_some())
            .expect("one refused");
        refused(loser, "CONFLICT", "the second finalizeInvoice");
        finalized.push(ok[0].data()["finalizeInvoice"].clone());
    }
    assert_eq!(sorted_numbers(&finalized), expected_numbers(2026, 10));
    for f in &finalized {
        assert_eq!(
            app.invoice(&id_of(f)).await,
            *f,
            "the stored invoice differs"
        );
    }

    // Only ten numbers were used.
    let next = id_of(&simple_draft(&app, &a, 100).await);
    assert_eq!(
        admin_move(&app, FINALIZE, &next).await["number"],
        "2026-000011"
    );
}

#[tokio::test]
async fn subscription_and_manual_invoices_share_one_gapless_series_under_concurrency() {
    // Arrange: ten tenants about to subscribe and ten drafts about to be finalized.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let mut owners = Vec::new();
    let mut drafts = Vec::new();
    for i in 0..10 {
        let t = app.create_tenant(&format!("tenant-{i}")).await;
        owners.push(app.tenant_token(&t, Role::Owner));
        drafts.push(id_of(&simple_draft(&app, &t, 1_000).await));
    }

    // Act: everything at once.
    let subscribing = join_all(
        owners
            .iter()
            .map(|o| app.subscribe(o, json!({ "planCode": "starter" }))),
    );
    let finalizing = join_all(
        drafts
            .iter()
            .map(|id| move_invoice(&app, &app.admin_token, FINALIZE, id)),
    );
    let (subscribed, finalized) = futures::join!(subscribing, finalizing);

    // Assert
    let mut issued: Vec<Value> = subscribed
        .iter()
        .map(|r| r.data()["createSubscription"]["invoice"].clone())
        .collect();
    issued.extend(
        finalized
            .iter()
            .map(|r| r.data()["finalizeInvoice"].clone()),
    );
    assert_eq!(
        sorted_numbers(&issued),
        expected_numbers(2026, 20),
        "on {}",
        backend()
    );
    assert_eq!(
        sorted_numbers(&all_invoices(&app).await),
        expected_numbers(2026, 20)
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Listing and reading
// ---------------------------------------------------------------------------------------------

const LIST: &str = "query($t: ID, $s: InvoiceStatus, $from: DateTime, $to: DateTime, $first: Int, $after: String) { invoices(tenantId: $t, status: $s, periodFrom: $from, periodTo: $to, first: $first, after: $after) { edges { cursor node { id tenantId number status periodStart lines { description } } } pageInfo { hasNextPage endCursor } } }";

fn ids(nodes: &[Value]) -> Vec<String> {
    nodes.iter().map(id_of).collect()
}

#[tokio::test]
async fn a_tenant_lists_only_its_own_invoices_and_the_admin_lists_all_or_one_tenant() {
    // Arrange
    let app = spawn_app_at(START).await;
    let a = app.create_tenant("alpha").await;
    let b = app.create_tenant("bravo").await;
    let a1 = id_of(&simple_draft(&app, &a, 1_000).await);
    let b1 = id_of(&simple_draft(&app, &b, 2_000).await);
    let a2 = id_of(&simple_draft(&app, &a, 3_000).await);
    admin_move(&app, FINALIZE, &a2).await;
    let b2 = id_of(&simple_draft(&app, &b, 4_000).await);

    for role in [Role::Owner, Role::Billing, Role::Member, Role::Service] {
        // Act
        let token = app.tenant_token(&a, role);
        let own = nodes(&app.as_token(&token, LIST, json!({})).await, "invoices");
        let named = app.as_token(&token, LIST, json!({ "t": a })).await;
        let other = app.as_token(&token, LIST, json!({ "t": b })).await;

        // Assert
        assert_eq!(
            ids(&own),
            [a1.clone(), a2.clone()],
            "{role:?} lists: {own:?}"
        );
        assert_eq!(ids(&nodes(&named, "invoices")), [a1.clone(), a2.clone()]);
        // Naming another tenant never shows its invoices.
        if other.code().is_some() {
            refused(&other, "FORBIDDEN", "listing another tenant's invoices");
        } else {
            let leaked = nodes(&other, "invoices");
            assert!(
                leaked.iter().all(|i| i["tenantId"] == json!(a)),
                "{role:?} saw tenant B's invoices: {leaked:?}"
            );
        }
    }

    // The admin sees all, or one tenant.
    let all = nodes(&app.as_admin(LIST, json!({})).await, "invoices");
    assert_eq!(ids(&all), [a1.clone(), b1.clone(), a2.clone(), b2.clone()]);
    let only_b = nodes(&app.as_admin(LIST, json!({ "t": b })).await, "invoices");
    assert_eq!(ids(&only_b), [b1, b2]);
    assert!(only_b.iter().all(|i| i["tenantId"] == json!(b)));
}

#[tokio::test]
async fn invoices_filter_by_status() {
    // Arrange: two drafts, two open, one paid, one void, one uncollectible.
    let app = spawn_app_at(START).await;
    let a = app.create_tenant("alpha").await;
    let b = app.create_tenant("bravo").await;
    let mut by_status: Vec<(&str, Vec<String>)> = vec![
        ("DRAFT", vec![]),
        ("OPEN", vec![]),
        ("PAID", vec![]),
        ("VOID", vec![]),
        ("UNCOLLECTIBLE", vec![]),
    ];
    let plan: [(&str, &String); 7] = [
        ("DRAFT", &a),
        ("OPEN", &a),
        ("PAID", &b),
        ("DRAFT", &b),
        ("VOID", &a),
        ("OPEN", &b),
        ("UNCOLLECTIBLE", &a),
    ];
    for (status, t) in plan {
        let id = id_of(&simple_draft(&app, t, 1_000).await);
        if status != "DRAFT" {
            admin_move(&app, FINALIZE, &id).await;
        }
        let then = match status {
            "PAID" => Some(PAY),
            "VOID" => Some(VOID),
            "UNCOLLECTIBLE" => Some(UNCOLLECTIBLE),
            _ => None,
        };
        if let Some(m) = then {
            admin_move(&app, m, &id).await;
        }
        if let Some((_, list)) = by_status.iter_mut().find(|(s, _)| *s == status) {
            list.push(id);
        }
    }

    for (status, expected) in &by_status {
        // Act
        let got = nodes(
            &app.as_admin(LIST, json!({ "s": status })).await,
            "invoices",
        );

        // Assert
        assert_eq!(&ids(&got), expected, "status {status}");
        assert!(got.iter().all(|i| i["status"] == *status), "{got:?}");
    }

    // Combined with a tenant, for the tenant itself too.
    let a_open = nodes(
        &app.as_token(
            &app.tenant_token(&a, Role::Owner),
            LIST,
            json!({ "s": "OPEN" }),
        )
        .await,
        "invoices",
    );
    assert_eq!(ids(&a_open), [by_status[1].1[0].clone()]);
    let b_drafts = nodes(
        &app.as_admin(LIST, json!({ "t": b, "s": "DRAFT" })).await,
        "invoices",
    );
    assert_eq!(ids(&b_drafts), [by_status[0].1[1].clone()]);
}

#[tokio::test]
async fn invoices_filter_by_period_start_from_inclusive_to_exclusive() {
    // Arrange: a monthly subscription invoiced on March 1, April 1 and May 1.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let t = app.create_tenant("acme").await;
    let owner = app.tenant_token(&t, Role::Owner);
    app.subscribe(&owner, json!({ "planCode": "starter" }))
        .await
        .data();
    for to in ["2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"] {
        for i in app.invoices_of(&t).await {
            if i["status"] == "OPEN" {
                admin_move(&app, PAY, &id_of(&i)).await;
            }
        }
        app.advance_to(to).await;
    }
    let all = app.invoices_of(&t).await;
    assert_eq!(all.len(), 3, "{all:?}");
    let starts: Vec<DateTime<Utc>> = all.iter().map(|i| at(&i["periodStart"])).collect();
    let (march, april, may) = (id_of(&all[0]), id_of(&all[1]), id_of(&all[2]));
    assert_eq!(
        starts,
        [
            at(&json!("2026-03-01T00:00:00Z")),
            at(&json!("2026-04-01T00:00:00Z")),
            at(&json!("2026-05-01T00:00:00Z")),
        ]
    );
    let list = |vars: Value| {
        let app = &app;
        async move { ids(&nodes(&app.as_admin(LIST, vars).await, "invoices")) }
    };

    // Act / Assert
    assert_eq!(
        list(json!({ "t": t, "from": "2026-04-01T00:00:00Z", "to": "2026-05-01T00:00:00Z" })).await,
        [april.as_str()],
        "from is inclusive, to exclusive"
    );
    assert_eq!(
        list(json!({ "t": t, "from": "2026-04-01T00:00:00Z" })).await,
        [april.clone(), may.clone()]
    );
    assert_eq!(
        list(json!({ "t": t, "to": "2026-04-01T00:00:00Z" })).await,
        [march.as_str()]
    );
    assert_eq!(
        list(json!({ "t": t, "from": "2026-03-01T00:00:01Z", "to": "2026-05-01T00:00:01Z" })).await,
        [april.clone(), may.clone()]
    );
    assert_eq!(
        list(json!({ "t": t, "from": "2026-03-15T00:00:00Z", "to": "2026-03-31T00:00:00Z" })).await,
        Vec::<String>::new()
    );
    // The tenant gets the same filter.
    let owner_view = nodes(
        &app.as_token(
            &owner,
            LIST,
            json!({ "from": "2026-04-01T00:00:00Z", "to": "2026-06-01T00:00:00Z" }),
        )
        .await,
        "invoices",
    );
    assert_eq!(ids(&owner_view), [april, may]);
}

#[tokio::test]
async fn invoices_page_with_first_and_after_in_creation_order() {
    // Arrange: seven invoices.
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(id_of(&simple_draft(&app, &t, 100 + i).await));
    }

    // Act: pages of three.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let r = app
            .as_admin(LIST, json!({ "t": t, "first": 3, "after": after }))
            .await;
        let page = r.data()["invoices"].clone();
        let edges = page["edges"].as_array().expect("edges").clone();
        assert!(edges.len() <= 3, "{page}");
        seen.extend(edges.iter().map(|e| id_of(&e["node"])));
        pages += 1;
        assert!(pages <= 3, "too many pages: {page}");
        if page["pageInfo"]["hasNextPage"] == true {
            assert_eq!(
                page["pageInfo"]["endCursor"],
                edges[edges.len() - 1]["cursor"]
            );
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        } else {
            break;
        }
    }

    // Assert
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "pages out of creation order or with repeats");
}

#[tokio::test]
async fn an_invoice_shows_its_lines_to_its_own_tenant_only() {
    // Arrange
    let app = spawn_app_at(START).await;
    let a = app.create_tenant("alpha").await;
    let b = app.create_tenant("bravo").await;
    let inv = draft(
        &app,
        &a,
        vec![line("Seats", 4, 1_500), line("Onboarding", 1, 20_000)],
    )
    .await;
    let id = id_of(&inv);
    admin_move(&app, FINALIZE, &id).await;
    let owner_a = app.tenant_token(&a, Role::Owner);
    let member_a = app.tenant_token(&a, Role::Member);
    let owner_b = app.tenant_token(&b, Role::Owner);

    // Act
    let seen_by_a = read_invoice(&app, &owner_a, &id).await;
    let seen_by_member = read_invoice(&app, &member_a, &id).await;
    let seen_by_b = read_invoice(&app, &owner_b, &id).await;

    // Assert
    let shown = seen_by_a.data()["invoice"].clone();
    assert_eq!(shown["id"], json!(id));
    let lines = shown["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{shown}");
    assert_eq!(lines[0]["description"], "Seats");
    assert_eq!(big(&lines[0]["quantity"]), 4);
    assert_eq!(big(&lines[0]["unitAmount"]["amountMinor"]), 1_500);
    assert_eq!(big(&lines[0]["amount"]["amountMinor"]), 6_000);
    assert_eq!(lines[1]["description"], "Onboarding");
    assert_eq!(money(&shown, "subtotal"), 26_000);
    assert_eq!(seen_by_member.data()["invoice"], shown);
    refused(&seen_by_b, "NOT_FOUND", "another tenant's invoice");

    // An id that does not exist, and ids that are not invoice ids.
    let unknown = format!("inv_{}", uuid::Uuid::now_v7().simple());
    refused(
        &read_invoice(&app, &owner_a, &unknown).await,
        "NOT_FOUND",
        "unknown invoice",
    );
    refused(
        &read_invoice(&app, &app.admin_token, &unknown).await,
        "NOT_FOUND",
        "unknown invoice (admin)",
    );
    let wrong_prefix = format!("ten_{}", uuid::Uuid::now_v7().simple());
    for bad in ["inv_123", "not-an-id", "", wrong_prefix.as_str()] {
        refused(
            &read_invoice(&app, &owner_a, bad).await,
            "VALIDATION",
            &format!("malformed id {bad:?}"),
        );
        refused(
            &read_invoice(&app, &app.admin_token, bad).await,
            "VALIDATION",
            &format!("malformed id {bad:?} (admin)"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Admin only
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn only_an_admin_can_create_finalize_or_move_invoices() {
    // Arrange: a draft and an open invoice of the tenant itself.
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;
    let draft_inv = id_of(&simple_draft(&app, &t, 1_000).await);
    let open_inv = id_of(&simple_draft(&app, &t, 2_000).await);
    admin_move(&app, FINALIZE, &open_inv).await;
    let before = all_invoices(&app).await;

    for role in [Role::Owner, Role::Billing, Role::Member, Role::Service] {
        let token = app.tenant_token(&t, role);
        let who = format!("{role:?}");

        // Act / Assert
        let r = create_invoice(
            &app,
            &token,
            json!({ "tenantId": t, "lines": [line("Self-service", 1, 100)] }),
        )
        .await;
        refused(&r, "FORBIDDEN", &format!("createInvoice by {who}"));
        refuses_line(
            &app,
            &token,
            &draft_inv,
            line("Sneaky", 1, -1_000),
            "FORBIDDEN",
            &format!("addInvoiceLine by {who}"),
        )
        .await;
        refuses_move(&app, &token, FINALIZE, &draft_inv, "FORBIDDEN").await;
        for m in [PAY, VOID, UNCOLLECTIBLE] {
            refuses_move(&app, &token, m, &open_inv, "FORBIDDEN").await;
        }
    }

    // Assert: nothing was written and no number was used.
    assert_eq!(all_invoices(&app).await, before);
    assert_eq!(
        admin_move(&app, FINALIZE, &draft_inv).await["number"],
        "2026-000002"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Bad input
// ---------------------------------------------------------------------------------------------

fn bad_lines() -> Vec<(&'static str, Value)> {
    vec![
        ("quantity 0", line("Seats", 0, 100)),
        ("negative quantity", line("Seats", -1, 100)),
        ("quantity over 10^9", line("Seats", 1_000_000_001, 100)),
        (
            "unit amount over 10^12",
            line("Seats", 1, 1_000_000_000_001),
        ),
        (
            "unit amount under -10^12",
            line("Seats", 1, -1_000_000_000_001),
        ),
        ("empty description", line("", 1, 100)),
        (
            "an amount beyond 64 bits (10^9 x 10^12)",
            line("Seats", 1_000_000_000, 1_000_000_000_000),
        ),
        (
            "description over 500 characters",
            line(&"d".repeat(501), 1, 100),
        ),
    ]
}

#[tokio::test]
async fn bad_invoice_input_is_a_validation_error_that_writes_nothing() {
    // Arrange
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;
    simple_draft(&app, &t, 1_000).await;
    let before = all_invoices(&app).await;
    let good = line("Seats", 2, 1_000);

    let mut cases: Vec<(String, Value)> = bad_lines()
        .into_iter()
        .map(|(what, l)| {
            (
                what.to_owned(),
                json!({ "tenantId": t, "lines": [good.clone(), l] }),
            )
        })
        .collect();
    cases.extend([
        ("zero lines".to_owned(), json!({ "tenantId": t, "lines": [] })),
        (
            "101 lines".to_owned(),
            json!({ "tenantId": t, "lines": vec![good.clone(); 101] }),
        ),
        (
            "lines whose sum is beyond 64 bits".to_owned(),
            json!({ "tenantId": t, "lines": [line("Big", 9_000_000, 1_000_000_000_000), line("Big", 9_000_000, 1_000_000_000_000)] }),
        ),
        (
            "unknown currency".to_owned(),
            json!({ "tenantId": t, "currency": "XYZ", "lines": [good.clone()] }),
        ),
        (
            "empty currency".to_owned(),
            json!({ "tenantId": t, "currency": "", "lines": [good.clone()] }),
        ),
        (
            "malformed tenantId".to_owned(),
            json!({ "tenantId": "ten_123", "lines": [good.clone()] }),
        ),
        (
            "a user id as tenantId".to_owned(),
            json!({ "tenantId": format!("usr_{}", uuid::Uuid::now_v7().simple()), "lines": [good.clone()] }),
        ),
    ]);

    for (what, input) in cases {
        // Act
        let r = create_invoice(&app, &app.admin_token, input).await;

        // Assert
        refused(&r, "VALIDATION", &format!("createInvoice with {what}"));
        assert_eq!(
            all_invoices(&app).await,
            before,
            "createInvoice with {what} wrote something"
        );
    }

    // A well-formed id of a tenant that does not exist writes nothing either.
    let ghost = format!("ten_{}", uuid::Uuid::now_v7().simple());
    let r = create_invoice(
        &app,
        &app.admin_token,
        json!({ "tenantId": ghost, "lines": [good] }),
    )
    .await;
    assert!(
        matches!(r.code(), Some("NOT_FOUND" | "VALIDATION")),
        "unknown tenant: {}",
        r.body
    );
    assert_eq!(all_invoices(&app).await, before);
}

#[tokio::test]
async fn bad_invoice_line_input_is_a_validation_error_that_leaves_the_draft_unchanged() {
    // Arrange
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;
    let d = id_of(&simple_draft(&app, &t, 1_000).await);
    let before = all_invoices(&app).await;

    for (what, l) in bad_lines() {
        // Act / Assert
        refuses_line(
            &app,
            &app.admin_token,
            &d,
            l,
            "VALIDATION",
            &format!("addInvoiceLine with {what}"),
        )
        .await;
    }
    // A malformed invoice id, and one that does not exist.
    let r = add_line(&app, &app.admin_token, "inv_123", line("Seats", 1, 1)).await;
    refused(&r, "VALIDATION", "addInvoiceLine on a malformed id");
    let ghost = format!("inv_{}", uuid::Uuid::now_v7().simple());
    let r = add_line(&app, &app.admin_token, &ghost, line("Seats", 1, 1)).await;
    refused(&r, "NOT_FOUND", "addInvoiceLine on an unknown invoice");

    // Assert
    assert_eq!(all_invoices(&app).await, before);
}

#[tokio::test]
async fn invoice_input_at_the_limits_is_accepted() {
    // Arrange
    let app = spawn_app_at(START).await;
    let t = app.create_tenant("acme").await;
    let limits = vec![
        line("q", 1_000_000_000, 1),
        line(&"d".repeat(500), 1, 1_000_000_000_000),
        line("Largest credit", 1, -1_000_000_000_000),
    ];

    // Act
    let at_limits = draft(&app, &t, limits).await;
    let hundred = draft(&app, &t, vec![line("Seat", 1, 10); 100]).await;
    let in_usd = create_invoice(
        &app,
        &app.admin_token,
        json!({ "tenantId": t, "currency": "USD", "lines": [line("Seat", 1, 10)] }),
    )
    .await;
    let extra = add_line(
        &app,
        &app.admin_token,
        &id_of(&at_limits),
        line("Upper quantity", 1_000_000_000, 2),
    )
    .await;

    // Assert
    assert_eq!(at_limits["lines"].as_array().map(Vec::len), Some(3));
    assert_eq!(money(&at_limits, "subtotal"), 1_000_000_000);
    assert_arithmetic(&at_limits);
    assert_eq!(hundred["lines"].as_array().map(Vec::len), Some(100));
    assert_eq!(money(&hundred, "subtotal"), 1_000);
    assert_eq!(in_usd.data()["createInvoice"]["currency"], "USD");
    let extra = extra.data()["addInvoiceLine"].clone();
    assert_eq!(money(&extra, "subtotal"), 3_000_000_000);
    assert_arithmetic(&extra);
    assert_eq!(app.invoices_of(&t).await.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// 8. Past due
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_invoice_unpaid_three_days_after_its_due_date_makes_the_subscription_past_due_once() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let Subscribed {
        tenant: t,
        invoice: inv,
        ..
    } = app.subscribed("acme", "starter").await;
    assert_eq!(inv["status"], "OPEN", "{inv}");
    let id = id_of(&inv);
    assert_eq!(at(&inv["dueAt"]), start() + Duration::days(7));

    // Act: just before due + 3 days.
    let early = app.advance_to("2026-03-10T23:00:00Z").await;

    // Assert
    assert_eq!(app.subscription_of(&t).await["status"], "ACTIVE");
    assert_eq!(early["pastDue"], 0, "{early}");
    assert!(
        app.notifications_of_kind(&t, "invoice_overdue")
            .await
            .is_empty()
    );

    // Act: after due + 3 days.
    let report = app.advance_to("2026-03-11T01:00:00Z").await;

    // Assert
    assert_eq!(report["pastDue"], 1, "{report}");
    assert_eq!(report["notifications"], 1, "{report}");
    assert_eq!(app.subscription_of(&t).await["status"], "PAST_DUE");
    let notes = app.notifications_of_kind(&t, "invoice_overdue").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["reference"], json!(id));
    assert_eq!(notes[0]["tenantId"], json!(t));
    assert!(
        notes[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{notes:?}"
    );
    assert_eq!(app.invoice(&id).await["status"], "OPEN");

    // Act: the jobs again, now and later.
    let again = app.run_jobs().await;
    let later = app.advance_days(2).await;

    // Assert: nothing new.
    for r in [&again, &later] {
        assert_eq!(r["pastDue"], 0, "{r}");
        assert_eq!(r["notifications"], 0, "{r}");
    }
    assert_eq!(
        app.notifications_of_kind(&t, "invoice_overdue").await,
        notes
    );
    assert_eq!(app.subscription_of(&t).await["status"], "PAST_DUE");

    // Act: the invoice is paid.
    let paid = admin_move(&app, PAY, &id).await;

    // Assert
    assert_eq!(paid["status"], "PAID");
    assert_eq!(app.subscription_of(&t).await["status"], "ACTIVE");
    let settled = app.run_jobs().await;
    assert_eq!(settled["pastDue"], 0, "{settled}");
    assert_eq!(app.subscription_of(&t).await["status"], "ACTIVE");
    assert_eq!(
        app.notifications_of_kind(&t, "invoice_overdue").await,
        notes
    );
}

#[tokio::test]
async fn voiding_or_writing_off_the_overdue_invoice_also_ends_past_due() {
    // Arrange: two subscriptions past due.
    let app = spawn_app_at(START).await;
    app.create_plan("starter", 2_900, None, 0).await;
    let Subscribed {
        tenant: voided_t,
        invoice: voided_inv,
        ..
    } = app.subscribed("alpha", "starter").await;
    assert_eq!(voided_inv["status"], "OPEN", "{voided_inv}");
    let Subscribed {
        tenant: written_off_t,
        invoice: written_off_inv,
        ..
    } = app.subscribed("bravo", "starter").await;
    assert_eq!(written_off_inv["status"], "OPEN", "{written_off_inv}");
    app.advance_to("2026-03-12T00:00:00Z").await;
    assert_eq!(app.subscription_of(&voided_t).await["status"], "PAST_DUE");
    assert_eq!(
        app.subscription_of(&written_off_t).await["status"],
        "PAST_DUE"
    );

    // Act
    admin_move(&app, VOID, &id_of(&voided_inv)).await;
    admin_move(&app, UNCOLLECTIBLE, &id_of(&written_off_inv)).await;

    // Assert
    assert_eq!(app.subscription_of(&voided_t).await["status"], "ACTIVE");
    assert_eq!(
        app.subscription_of(&written_off_t).await["status"],
        "ACTIVE"
    );
    app.run_jobs().await;
    assert_eq!(app.subscription_of(&voided_t).await["status"], "ACTIVE");
    assert_eq!(
        app.subscription_of(&written_off_t).await["status"],
        "ACTIVE"
    );
    for t in [&voided_t, &written_off_t] {
        assert_eq!(
            app.notifications_of_kind(t, "invoice_overdue").await.len(),
            1
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Zero-amount invoices
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_zero_amount_subscription_invoice_is_finalized_and_paid_at_once() {
    // Arrange
    let app = spawn_app_at(START).await;
    app.create_plan("free", 0, None, 0).await;
    let t = app.create_tenant("acme").await;
    let owner = app.tenant_token(&t, Role::Owner);

    // Act
    let r = app.subscribe(&owner, json!({ "planCode": "free" })).await;

    // Assert
    let inv = r.data()["createSubscription"]["invoice"].clone();
    assert_eq!(inv["status"], "PAID", "{inv}");
    assert_eq!(inv["number"], "2026-000001");
    assert_eq!(inv["billingReason"], "SUBSCRIPTION_CREATE");
    assert_eq!(money(&inv, "subtotal"), 0);
    assert_eq!(money(&inv, "amountDue"), 0);
    assert_eq!(money(&inv, "amountPaid"), 0);
    assert_eq!(at(&inv["issuedAt"]), start());
    assert_eq!(at(&inv["dueAt"]), start() + Duration::days(7));
    assert_eq!(at(&inv["paidAt"]), start());
    assert_arithmetic(&inv);
    assert_eq!(
        r.data()["createSubscription"]["subscription"]["status"],
        "ACTIVE"
    );

    // Act: the renewal, and long after its due date.
    app.advance_to("2026-04-01T00:00:00Z").await;
    let report = app.advance_to("2026-04-20T00:00:00Z").await;

    // Assert
    let all = app.invoices_of(&t).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["status"], "PAID");
    assert_eq!(all[1]["billingReason"], "SUBSCRIPTION_CYCLE");
    assert_eq!(all[1]["number"], "2026-000002");
    assert_eq!(at(&all[1]["paidAt"]), at(&json!("2026-04-01T00:00:00Z")));
    assert_eq!(report["pastDue"], 0, "{report}");
    assert_eq!(app.subscription_of(&t).await["status"], "ACTIVE");
    assert!(
        app.notifications_of_kind(&t, "invoice_overdue")
            .await
            .is_empty()
    );
}
