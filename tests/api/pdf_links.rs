//! Who may read a PDF: the bearer credential of `/graphql` (JWT or API key; a tenant reads only
//! its own, another's is 404, the admin reads any), or a signed `pdfUrl` that a browser opens
//! without the header until it expires. Tampered, expired and malformed requests get a JSON
//! error with a stable code. Credit notes have their own PDF under the same rules.
use billing::documents::{Kind, links};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::pdf_invoices::{START, fetch, invoice, line, pdf, tenant_in};

/// The JSON error code of a refused request, asserting its status.
async fn refused(app: &TestApp, path: &str, bearer: Option<&str>, status: u16) -> String {
    let (got, kind, body) = fetch(app, path, bearer).await;
    assert_eq!(got, status, "{path}: {}", String::from_utf8_lossy(&body));
    assert!(kind.starts_with("application/json"), "{path}: {kind}");
    let body: Value = serde_json::from_slice(&body).expect("JSON error body");
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .expect("a code")
        .to_owned()
}

/// The path and query of a signed link (it is absolute, on `BILLING_PUBLIC_URL`).
fn local(app: &TestApp, url: &str) -> String {
    let base = app.state.config.public_url.trim_end_matches('/');
    url.strip_prefix(base)
        .unwrap_or_else(|| panic!("{url} is not on {base}"))
        .to_owned()
}

async fn pdf_url(app: &TestApp, token: &str, id: &str) -> String {
    let r = app
        .as_token(
            token,
            "query($id: ID!) { invoice(id: $id) { pdfUrl } }",
            json!({ "id": id }),
        )
        .await;
    r.data()["invoice"]["pdfUrl"]
        .as_str()
        .expect("pdfUrl")
        .to_owned()
}

#[tokio::test]
async fn pdf_links_a_tenant_reads_only_its_own_invoice_pdf_with_its_credential() {
    let app = spawn_app_at(START).await;
    let (acme, owner) = tenant_in(&app, "acme", "pt-BR").await;
    let (_, other) = tenant_in(&app, "globex", "en").await;
    let id = invoice(&app, &acme, None, vec![line("Plano", 1, 1_000)], &[]).await;
    let path = format!("/invoices/{id}/pdf");

    let own = pdf(&app, &path, Some(&owner)).await;
    let (_, key) = app.create_api_key(&owner, None, "pdf").await;
    assert!(
        pdf(&app, &path, Some(&key)).await == own,
        "an API key reads the same PDF"
    );
    assert!(
        pdf(&app, &path, Some(&app.admin_token)).await == own,
        "the admin reads any"
    );

    assert_eq!(refused(&app, &path, Some(&other), 404).await, "NOT_FOUND");
    assert_eq!(refused(&app, &path, None, 401).await, "UNAUTHENTICATED");
    assert_eq!(
        refused(&app, &path, Some("not-a-token"), 401).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        refused(&app, "/invoices/inv_nope/pdf", Some(&owner), 400).await,
        "VALIDATION"
    );
    let wrong_kind = format!("/invoices/{}/pdf", id.replace("inv_", "crn_"));
    assert_eq!(
        refused(&app, &wrong_kind, Some(&owner), 400).await,
        "VALIDATION"
    );
    let unknown = format!("/invoices/inv_{}/pdf", uuid::Uuid::new_v4().simple());
    let code = refused(&app, &unknown, Some(&app.admin_token), 404).await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn pdf_links_a_signed_pdf_url_opens_without_the_header_until_it_expires() {
    let app = spawn_app_at(START).await;
    let (acme, owner) = tenant_in(&app, "acme", "pt-BR").await;
    let id = invoice(&app, &acme, None, vec![line("Plano", 1, 1_000)], &[]).await;
    let other = invoice(&app, &acme, None, vec![line("Outro", 1, 2_000)], &[]).await;
    let url = pdf_url(&app, &owner, &id).await;
    let link = local(&app, &url);
    assert!(
        link.starts_with(&format!("/invoices/{id}/pdf?expires=")),
        "{link}"
    );
    let expires: i64 = link
        .split("expires=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .and_then(|e| e.parse().ok())
        .expect("expires");
    let now = chrono::Utc::now().timestamp();
    assert!(
        expires > now && expires <= now + 900,
        "expires {expires}, now {now}"
    );

    let by_link = pdf(&app, &link, None).await;
    let by_header = pdf(&app, &format!("/invoices/{id}/pdf"), Some(&owner)).await;
    assert!(by_link == by_header, "the link opens the same document");

    // Tampered: another signature, another invoice, another expiry, parts missing.
    let last = link.chars().last().expect("test value");
    let flipped = format!(
        "{}{}",
        &link[..link.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let moved = link.replace(&id, &other);
    let later = link.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires + 1),
    );
    let unsigned = link
        .split("&signature")
        .next()
        .expect("test value")
        .to_owned();
    let garbled = link.replace(&format!("expires={expires}"), "expires=soon");
    for bad in [flipped, moved, later, unsigned, garbled] {
        assert_eq!(
            refused(&app, &bad, None, 403).await,
            "LINK_INVALID",
            "{bad}"
        );
        // A valid credential does not rescue a bad link.
        assert_eq!(
            refused(&app, &bad, Some(&owner), 403).await,
            "LINK_INVALID",
            "{bad}"
        );
    }
    // Signed by the server's own key, but an hour past its expiry.
    let config = &app.state.config;
    let expired = links::signed_url(config, Kind::Invoice, &id, now - 3_600 - 900);
    let code = refused(&app, &local(&app, &expired), None, 403).await;
    assert_eq!(code, "LINK_EXPIRED");
    // An invoice link does not open the credit note of the same id.
    let as_note = link.replacen("/invoices/", "/credit-notes/", 1);
    assert_eq!(refused(&app, &as_note, None, 400).await, "VALIDATION");
}

#[tokio::test]
async fn pdf_links_a_credit_note_has_its_own_pdf_for_its_tenant_only() {
    let app = spawn_app_at(START).await;
    let (acme, owner) = tenant_in(&app, "acme", "pt-BR").await;
    let (_, other) = tenant_in(&app, "globex", "en").await;
    let lines = vec![line("Plano Pro", 1, 20_000)];
    let inv = invoice(&app, &acme, None, lines, &["markInvoicePaid"]).await;
    let r = app
        .as_admin(
            "mutation($i: RefundInvoiceInput!) { refundInvoice(input: $i) { creditNote { id number pdfUrl } } }",
            json!({ "i": { "invoiceId": inv, "amountMinor": "5000", "reason": "Cobrança em duplicidade" } }),
        )
        .await;
    let note = r.data()["refundInvoice"]["creditNote"].clone();
    let id = note["id"].as_str().expect("credit note id").to_owned();
    assert_eq!(note["number"], "CN-2026-000001");
    let path = format!("/credit-notes/{id}/pdf");

    let bytes = pdf(&app, &path, Some(&owner)).await;
    let text = pdf_text(&bytes);
    in_order(
        line_with(&text, "Número CN-2026-000001"),
        &["NOTA DE CRÉDITO", "Número CN-2026-000001"],
    );
    in_order(
        line_with(&text, "Fatura de origem "),
        &["Fatura de origem", "2026-000001"],
    );
    in_order(
        line_with(&text, "Motivo"),
        &["Motivo", "Cobrança em duplicidade"],
    );
    in_order(
        line_with(&text, "Valor creditado"),
        &["Valor creditado", "R$ 50,00"],
    );
    in_order(
        line_with(&text, "Billing Platform Ltda."),
        &["Billing Platform Ltda.", "Tenant acme"],
    );

    assert_eq!(refused(&app, &path, Some(&other), 404).await, "NOT_FOUND");
    assert!(pdf(&app, &path, Some(&app.admin_token)).await == bytes);
    let link = local(&app, note["pdfUrl"].as_str().expect("pdfUrl"));
    assert!(
        pdf(&app, &link, None).await == bytes,
        "the signed link opens the same PDF"
    );
    // The tenant sees the link where it lists its credit notes, too.
    let r = app
        .as_token(
            &owner,
            "query($id: ID!) { creditNotes(invoiceId: $id) { pdfUrl } }",
            json!({ "id": inv }),
        )
        .await;
    let listed = local(
        &app,
        r.data()["creditNotes"][0]["pdfUrl"]
            .as_str()
            .expect("pdfUrl"),
    );
    assert!(pdf(&app, &listed, None).await == bytes);
    assert_eq!(
        refused(&app, "/credit-notes/crn_x/pdf", Some(&owner), 400).await,
        "VALIDATION"
    );
}
