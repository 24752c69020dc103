//! Webhook events of card payments, through the Stripe test server: a declined payment and one
//! that needs the payer to authenticate.
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_declined_payment_and_one_needing_authentication_are_told() {
    let server = StripeServer::start().await;
    let app = stripe_app_with(&server, |c| c.webhooks_allow_private = true).await;
    let receiver = WebhookReceiver::start().await;
    app.endpoint_for(
        &app.admin_token.clone(),
        json!({ "url": receiver.url, "eventTypes": ["payment.failed", "payment.action_required"] }),
    )
    .await;
    let (declined_tenant, owner) = app.tenant_with_owner("hooks-declined").await;
    save_card(&app, &server, &owner, "visa", "4242").await;
    server.next(
        StripeEndpoint::PaymentIntents,
        StripeAnswer::decline("insufficient_funds"),
    );
    let (declined, _) = finalized(&app, &declined_tenant, 5_000).await;
    deliver(&app).await;
    let (action_tenant, owner) = app.tenant_with_owner("hooks-3ds").await;
    save_card(&app, &server, &owner, "visa", "4242").await;
    server.next(StripeEndpoint::PaymentIntents, StripeAnswer::RequiresAction);
    let (needs_action, _) = finalized(&app, &action_tenant, 7_000).await;
    deliver(&app).await;

    let got = receiver.accepted();
    let kinds: Vec<String> = got.iter().map(ReceivedWebhook::event_type).collect();
    assert_eq!(kinds, ["payment.failed", "payment.action_required"]);
    let failed = &got[0].json()["data"];
    assert_eq!(failed["tenant_id"], declined_tenant.as_str());
    assert_eq!(failed["invoice_id"], declined.to_string());
    assert_eq!(failed["attempt"], 1);
    assert!(!str_of(&failed["reason"]).is_empty(), "{failed}");
    assert!(
        str_of(&failed["next_retry_at"]).starts_with("20"),
        "a soft decline is retried: {failed}"
    );
    let action = &got[1].json()["data"];
    assert_eq!(
        *action,
        json!({ "tenant_id": action_tenant, "invoice_id": needs_action.to_string(), "attempt": 1 })
    );
}
