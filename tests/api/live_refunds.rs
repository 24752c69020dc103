//! Refunds move the wallet, and a subscribed client sees it: the balance falls when a refund of
//! a credit pack takes its credits back, and comes back when the refund fails and they are
//! given back. Through the npm `graphql-ws` client, with the Stripe test server.
use std::str::FromStr;

use billing::domain::Role;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::stripe_refunds::bought_pack;

const WALLET: &str = "subscription { walletChanged { balance held } }";

fn credits(v: &str) -> Decimal {
    Decimal::from_str(v).unwrap_or_else(|_| panic!("credits: {v}"))
}

/// The next balance the client is shown that differs from `from`.
async fn next_balance(client: &mut NodeClient, from: Decimal) -> Decimal {
    loop {
        let seen = client.next_data().await;
        let balance = credits(str_of(&seen["walletChanged"]["balance"]));
        if balance != from {
            return balance;
        }
    }
}

#[tokio::test]
async fn live_refunds_a_refund_that_takes_pack_credits_back_shows_the_lower_balance() {
    let server = StripeServer::start().await;
    let app = stripe_app_with(&server, |c| {
        c.public_url = "https://billing.example.com".into()
    })
    .await;
    let (tenant, invoice) = bought_pack(&app, &server).await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let start = credits(&app.balance(&tenant).await.0);
    let mut client = NodeClient::start(&app, &owner, &[(WALLET, json!({}))]);
    let first = client.next_data().await;
    assert_eq!(
        credits(str_of(&first["walletChanged"]["balance"])),
        start,
        "{first}"
    );

    // Half the money back: half the pack's 300 credits go.
    let r = app
        .as_admin(
            "mutation($i: RefundInvoiceInput!) { refundInvoice(input: $i) { creditNote { creditsRevoked } } }",
            json!({ "i": { "invoiceId": invoice, "amountMinor": "4985", "reason": "half" } }),
        )
        .await;
    let note = r.data()["refundInvoice"]["creditNote"].clone();
    assert_eq!(note["creditsRevoked"], "150", "{note}");
    let fell = next_balance(&mut client, start).await;
    assert_eq!(fell, start - Decimal::from(150));
    assert_eq!(credits(&app.balance(&tenant).await.0), fell);

    // Stripe fails the refund: the credits come back, and the client sees them.
    deliver(&app).await;
    let notes = app
        .as_admin(
            "query($id: ID!) { creditNotes(invoiceId: $id) { refundId } }",
            json!({ "id": invoice }),
        )
        .await;
    let refund_id = str_of(&notes.data()["creditNotes"][0]["refundId"]).to_owned();
    let mut failed: Value = server.object(&refund_id).expect("the refund");
    failed["status"] = json!("failed");
    failed["failure_reason"] = json!("expired_or_canceled_card");
    let (status, body) = send_event(&app, "refund.failed", &failed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(next_balance(&mut client, fell).await, start);
}
