//! Sending deliveries. The outbox carries one message per delivery; sending one first sends
//! the endpoint's earlier pending deliveries, oldest first, and stops at the first failure, so
//! an endpoint never receives an event before the ones before it succeeded. A failure is
//! returned to the outbox, which tries again with its back-off; an endpoint that has failed
//! for `WEBHOOK_DISABLE_AFTER_DAYS` is disabled, its pending deliveries are given up, and its
//! tenant gets a `webhook_endpoint_disabled` notification.
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::TransactionTrait;

use super::{guard, signing};
use crate::clock::{Clock, SystemClock};
use crate::domain::{
    NewNotification, WEBHOOK_DISABLE_AFTER_DAYS, WebhookDelivery, WebhookDeliveryId,
    WebhookDeliveryStatus, WebhookEndpoint,
};
use crate::error::{Error, OptionExt, Result};
use crate::state::AppState;
use crate::store::{self, TenantScope};

/// How much of a response body is read (and kept in the log) at most.
const BODY_CAP: usize = 1024;

/// Sends delivery `id` (and, first, whatever is pending before it for its endpoint).
pub async fn deliver(state: &AppState, id: WebhookDeliveryId) -> Result<()> {
    let Some(target) = store::webhooks::find_delivery(&state.db, TenantScope::Any, id).await?
    else {
        return Ok(()); // its endpoint was deleted
    };
    if target.status != WebhookDeliveryStatus::Pending {
        return Ok(()); // sent (or given up) while an earlier message sent the queue
    }
    let Some(ep) =
        store::webhooks::find_endpoint(&state.db, TenantScope::Any, target.endpoint_id).await?
    else {
        return Ok(());
    };
    if !ep.enabled {
        store::webhooks::give_up_pending(&state.db, ep.id).await?;
        return Ok(());
    }
    for d in store::webhooks::pending_through(&state.db, ep.id, id).await? {
        let now = state.clock.now();
        match send(state, &ep, &d, now).await {
            Ok(code) => {
                store::webhooks::record_attempt(&state.db, d.id, true, Some(code), None, now)
                    .await?;
                store::webhooks::mark_healthy(&state.db, ep.id).await?;
            }
            Err((code, error)) => {
                tracing::warn!(endpoint = %ep.id, delivery = %d.id, status = ?code, %error, "webhook delivery failed");
                store::webhooks::record_attempt(
                    &state.db,
                    d.id,
                    false,
                    code,
                    Some(error.clone()),
                    now,
                )
                .await?;
                let since = store::webhooks::mark_failing(&state.db, &ep, now).await?;
                if now - since >= TimeDelta::days(WEBHOOK_DISABLE_AFTER_DAYS) {
                    disable(state, &ep, now).await?;
                    return Ok(());
                }
                return Err(Error::internal(format!(
                    "webhook {} not delivered: {error}",
                    d.id
                )));
            }
        }
    }
    Ok(())
}

/// Disables a failing endpoint and tells its tenant, in one transaction.
async fn disable(state: &AppState, ep: &WebhookEndpoint, now: DateTime<Utc>) -> Result<()> {
    let txn = state.db.begin().await?;
    if store::webhooks::disable(&txn, ep.id, now).await?
        && let Some(tenant) = ep.tenant_id
    {
        store::notify::record_once(
            &txn,
            NewNotification::webhook_endpoint_disabled(tenant, ep.id, &ep.url, now),
        )
        .await?;
    }
    txn.commit().await?;
    tracing::warn!(endpoint = %ep.id, url = %ep.url, "webhook endpoint disabled after failing for days");
    Ok(())
}

/// One request. `Ok(status)` for a 2xx; otherwise the status (if any) and why.
async fn send(
    state: &AppState,
    ep: &WebhookEndpoint,
    d: &WebhookDelivery,
    now: DateTime<Utc>,
) -> std::result::Result<i32, (Option<i32>, String)> {
    let event = store::webhooks::find_event(&state.db, d.event_id)
        .await
        .map_err(|e| (None, e.cause_chain()))?
        .or_not_found("webhook event")
        .map_err(|e| (None, e.to_string()))?;
    let url = guard::parse_url(&ep.url).map_err(|e| (None, e.to_string()))?;
    let addr = guard::address_for(&url, state.config.webhooks_allow_private)
        .await
        .map_err(|e| (None, e))?;
    let msg_id = event.id.to_string();
    // The wire timestamp is the wall time, not the billing clock: receivers check it against
    // their own clock (5 minutes' tolerance in the reference libraries).
    let timestamp = SystemClock.now().timestamp();
    let signature =
        signing::signature_header(&ep.signing_secrets(now), &msg_id, timestamp, &event.payload)
            .map_err(|e| (None, e.cause_chain()))?;
    let timeout = Duration::from_millis(state.config.webhooks_timeout_ms);
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .resolve(&host, addr)
        .build()
        .map_err(|e| (None, format!("could not build the HTTP client: {e}")))?;
    let mut response = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "billing-webhooks/1")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(event.payload)
        .send()
        .await
        .map_err(|e| (None, format!("request failed: {e}")))?;
    let status = i32::from(response.status().as_u16());
    if response.status().is_success() {
        return Ok(status);
    }
    let mut body = Vec::new();
    while body.len() < BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(BODY_CAP);
    let text = String::from_utf8_lossy(&body);
    Err((Some(status), format!("HTTP {status}: {}", text.trim())))
}
