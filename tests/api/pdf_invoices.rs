//! Invoice PDFs read back with `pdftotext -layout`: every line, total, date and the number
//! where they belong, in pt-BR and English; the status marks; long invoices flowing onto
//! further pages with the totals on the last page only; the same invoice giving the same
//! bytes. Invoices are real ones made through the API; the 200-line case renders a real
//! invoice's domain values with its lines doubled (an invoice holds at most 100 lines).
use billing::documents;
use billing::domain::{InvoiceId, TenantId};
use serde_json::{Value, json};

use crate::helpers::*;

pub const START: &str = "2026-03-01T12:00:00Z";

/// A tenant in `locale` and its owner's token.
pub async fn tenant_in(app: &TestApp, slug: &str, locale: &str) -> (String, String) {
    let r = app
        .as_admin(
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
            json!({ "i": { "name": format!("Tenant {slug}"), "slug": slug,
                "billingEmail": format!("billing@{slug}.example.com"), "locale": locale } }),
        )
        .await;
    let tenant = r.data()["createTenant"]["tenant"]["id"]
        .as_str()
        .expect("tenant id")
        .to_owned();
    let owner = app.tenant_token(&tenant, billing::domain::Role::Owner);
    (tenant, owner)
}

pub fn line(description: &str, quantity: i64, unit_minor: i64) -> Value {
    json!({ "description": description, "quantity": quantity.to_string(),
        "unitAmountMinor": unit_minor.to_string() })
}

/// A finalized invoice of `lines` for `tenant`, moved on by `then` (say `markInvoicePaid`).
pub async fn invoice(
    app: &TestApp,
    tenant: &str,
    currency: Option<&str>,
    lines: Vec<Value>,
    then: &[&str],
) -> String {
    let r = app
        .as_admin(
            "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { id } }",
            json!({ "i": { "tenantId": tenant, "currency": currency, "lines": lines } }),
        )
        .await;
    let id = r.data()["createInvoice"]["id"]
        .as_str()
        .expect("invoice id")
        .to_owned();
    for mutation in ["finalizeInvoice"].iter().chain(then) {
        let q = format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id }} }}");
        app.as_admin(&q, json!({ "id": id })).await.data();
    }
    id
}

/// `GET path` with an optional bearer: status, content type and body.
pub async fn fetch(app: &TestApp, path: &str, bearer: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await.expect("GET");
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, resp.bytes().await.expect("body").to_vec())
}

/// The PDF at `path`, asserting a 200 with `application/pdf`.
pub async fn pdf(app: &TestApp, path: &str, bearer: Option<&str>) -> Vec<u8> {
    let (status, kind, body) = fetch(app, path, bearer).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(kind, "application/pdf");
    assert!(body.starts_with(b"%PDF-"), "not a PDF");
    body
}

#[tokio::test]
async fn pdf_invoices_a_paid_invoice_in_portuguese_shows_every_line_and_total() {
    let app = spawn_app_at(START).await;
    let (tenant, owner) = tenant_in(&app, "acme", "pt-BR").await;
    let lines = vec![
        line("Plano Pro — mensal", 1, 123_456),
        line("Descrição: chamadas de API", 1_500, 2),
        line("Suporte prioritário", 3, 10_000),
    ];
    let id = invoice(&app, &tenant, None, lines, &["markInvoicePaid"]).await;
    let text = pdf_text(&pdf(&app, &format!("/invoices/{id}/pdf"), Some(&owner)).await);

    assert!(text.contains("FATURA"), "{text}");
    in_order(
        line_with(&text, "Número 2026-000001"),
        &["FATURA", "Número 2026-000001"],
    );
    assert_eq!(
        text.matches("PAGO").count(),
        2,
        "the mark and the status:\n{text}"
    );
    // The operator's details from configuration, and the tenant's.
    in_order(
        line_with(&text, "Billing Platform Ltda."),
        &["Billing Platform Ltda.", "Tenant acme"],
    );
    in_order(
        line_with(&text, "CNPJ/CPF: 00.000.000/0001-00"),
        &["CNPJ", "billing@acme.example.com"],
    );
    line_with(&text, "Av. Paulista, 1000 - São Paulo - SP");
    in_order(line_with(&text, "Emissão"), &["Emissão", "01/03/2026"]);
    in_order(
        line_with(&text, "Vencimento"),
        &["Vencimento", "08/03/2026"],
    );
    in_order(line_with(&text, "Período"), &["Período", "01/03/2026"]);
    in_order(line_with(&text, "Situação"), &["Situação", "PAGO"]);
    in_order(
        line_with(&text, "Descrição  "),
        &["Descrição", "Qtd.", "Preço unit.", "Valor"],
    );
    // Each line: description, quantity, unit price and amount, left to right on one row.
    in_order(
        line_with(&text, "Plano Pro — mensal"),
        &["Plano Pro — mensal", "1", "R$ 1.234,56", "R$ 1.234,56"],
    );
    in_order(
        line_with(&text, "Descrição: chamadas"),
        &["Descrição: chamadas de API", "1.500", "R$ 0,02", "R$ 30,00"],
    );
    in_order(
        line_with(&text, "Suporte prioritário"),
        &["Suporte prioritário", "3", "R$ 100,00", "R$ 300,00"],
    );
    in_order(line_with(&text, "Subtotal"), &["Subtotal", "R$ 1.564,56"]);
    in_order(line_with(&text, "Total "), &["Total", "R$ 1.564,56"]);
    in_order(
        line_with(&text, "Valor pago"),
        &["Valor pago", "R$ 1.564,56"],
    );
    in_order(
        line_with(&text, "Valor devido"),
        &["Valor devido", "R$ 0,00"],
    );
    assert!(
        !text.contains("Desconto"),
        "no discount, no discount line:\n{text}"
    );
    in_order(
        line_with(&text, "Página"),
        &["2026-000001", "Página 1 de 1"],
    );
}

#[tokio::test]
async fn pdf_invoices_a_void_invoice_in_english_uses_english_words_numbers_and_dates() {
    let app = spawn_app_at(START).await;
    let (tenant, owner) = tenant_in(&app, "globex", "en").await;
    let lines = vec![
        line("API calls", 1_000_000, 1),
        line("Onboarding", 1, 250_000),
    ];
    let id = invoice(&app, &tenant, Some("USD"), lines, &["voidInvoice"]).await;
    let text = pdf_text(&pdf(&app, &format!("/invoices/{id}/pdf"), Some(&owner)).await);

    in_order(
        line_with(&text, "Number 2026-000001"),
        &["INVOICE", "Number 2026-000001"],
    );
    in_order(line_with(&text, "Status"), &["Status", "VOID"]);
    assert!(!text.contains("PAID"), "{text}");
    in_order(line_with(&text, "From"), &["From", "Bill to"]);
    in_order(
        line_with(&text, "Tax ID"),
        &["Tax ID: 00.000.000/0001-00", "billing@globex.example.com"],
    );
    in_order(
        line_with(&text, "Issue date"),
        &["Issue date", "Mar 1, 2026"],
    );
    in_order(line_with(&text, "Due date"), &["Due date", "Mar 8, 2026"]);
    in_order(
        line_with(&text, "Description"),
        &["Description", "Qty", "Unit price", "Amount"],
    );
    in_order(
        line_with(&text, "API calls"),
        &["API calls", "1,000,000", "US$0.01", "US$10,000.00"],
    );
    in_order(
        line_with(&text, "Onboarding"),
        &["Onboarding", "1", "US$2,500.00", "US$2,500.00"],
    );
    in_order(line_with(&text, "Subtotal"), &["Subtotal", "US$12,500.00"]);
    in_order(line_with(&text, "Total "), &["Total", "US$12,500.00"]);
    in_order(line_with(&text, "Amount paid"), &["Amount paid", "US$0.00"]);
    in_order(line_with(&text, "Amount due"), &["Amount due", "US$0.00"]);
    line_with(&text, "Page 1 of 1");
}

#[tokio::test]
async fn pdf_invoices_an_open_invoice_renders_to_the_same_bytes_every_time() {
    let app = spawn_app_at(START).await;
    let (tenant, owner) = tenant_in(&app, "initech", "pt-BR").await;
    let id = invoice(
        &app,
        &tenant,
        None,
        vec![line("Plano Básico", 2, 4_990)],
        &[],
    )
    .await;
    let path = format!("/invoices/{id}/pdf");
    let first = pdf(&app, &path, Some(&owner)).await;
    let second = pdf(&app, &path, Some(&owner)).await;
    assert!(first == second, "two renders of one invoice differ");
    let by_admin = pdf(&app, &path, Some(&app.admin_token)).await;
    assert!(
        first == by_admin,
        "the admin's copy differs from the tenant's"
    );
    // The system path (the email engineer's attachment) gives the same document.
    let invoice_id = InvoiceId::parse("id", &id).expect("test value");
    let system = documents::invoice_pdf(&app.state, None, invoice_id)
        .await
        .expect("test value");
    assert!(
        system.bytes == first,
        "the system render differs from the HTTP one"
    );
    assert_eq!(system.filename, "invoice-2026-000001.pdf");

    let text = pdf_text(&first);
    assert!(
        !text.contains("PAGO") && !text.contains("CANCELADA"),
        "{text}"
    );
    in_order(line_with(&text, "Situação"), &["Situação", "Em aberto"]);
    in_order(
        line_with(&text, "Valor devido"),
        &["Valor devido", "R$ 99,80"],
    );
    in_order(line_with(&text, "Valor pago"), &["Valor pago", "R$ 0,00"]);
}

/// Asserts that `bytes` lists every `Item nnn` of `1..=count` once, that its totals are on
/// its last page only, and that each page says which page it is.
fn check_long(bytes: &[u8], count: usize, subtotal: &str) -> usize {
    let pages = pdf_pages(bytes);
    let text = pdf_text(bytes);
    for i in 1..=count {
        let d = format!("Item {i:03}");
        in_order(
            line_with(&text, &format!("{d} ")),
            &[&d, &i.to_string(), "R$ 1,00"],
        );
    }
    for page in 1..=pages {
        let t = pdf_page_text(bytes, page);
        line_with(&t, &format!("Página {page} de {pages}"));
        line_with(&t, "Preço unit.");
        let totals = ["Subtotal", "Valor pago", "Valor devido"];
        if page < pages {
            for label in totals {
                assert!(
                    !t.contains(label),
                    "{label} on page {page} of {pages}:\n{t}"
                );
            }
        } else {
            in_order(line_with(&t, "Subtotal"), &["Subtotal", subtotal]);
            in_order(line_with(&t, "Valor devido"), &["Valor devido", subtotal]);
            line_with(&t, "Valor pago");
        }
    }
    pages
}

#[tokio::test]
async fn pdf_invoices_long_invoices_flow_onto_more_pages_with_totals_on_the_last() {
    let app = spawn_app_at(START).await;
    let (tenant, owner) = tenant_in(&app, "hooli", "pt-BR").await;
    let lines = (1..=100)
        .map(|i| line(&format!("Item {i:03}"), i, 100))
        .collect();
    let id = invoice(&app, &tenant, None, lines, &[]).await;
    // 1 + 2 + ... + 100 = 5050 units at R$ 1,00.
    let bytes = pdf(&app, &format!("/invoices/{id}/pdf"), Some(&owner)).await;
    let pages = check_long(&bytes, 100, "R$ 5.050,00");
    assert!(pages >= 2, "100 lines fit on {pages} page");

    // 200 lines: the same real invoice's domain values with its lines doubled.
    let mut long =
        billing::invoicing::get_any(&app.state, InvoiceId::parse("id", &id).expect("test value"))
            .await
            .expect("test value");
    let tenant = billing::accounts::tenants::find(
        &app.state,
        TenantId::parse("t", &tenant).expect("test value"),
    )
    .await
    .expect("test value")
    .expect("test value");
    let more: Vec<_> = long
        .lines
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, mut l)| {
            l.description = format!("Item {:03}", i + 101);
            l.quantity = i as i64 + 101;
            l.amount.amount_minor = l.quantity * 100;
            l
        })
        .collect();
    long.lines.extend(more);
    // 1 + ... + 200 = 20100 units.
    long.subtotal = 2_010_000;
    long.total = long.subtotal;
    long.amount_due = long.subtotal;
    let doc = documents::invoice_document(&long, &tenant, &app.state.config);
    let bytes = documents::render_pdf(&doc).expect("test value");
    let long_pages = check_long(&bytes, 200, "R$ 20.100,00");
    assert!(
        long_pages > pages,
        "200 lines on {long_pages} pages, 100 on {pages}"
    );
    assert!(
        bytes == documents::render_pdf(&doc).expect("test value"),
        "two renders differ"
    );
}
