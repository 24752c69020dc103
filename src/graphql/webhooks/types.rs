//! GraphQL types of webhooks to the SaaS.
use async_graphql::{ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEvent};

gql_enum!(WebhookDeliveryStatusGql as "WebhookDeliveryStatus" => WebhookDeliveryStatus {
    Pending, Succeeded, Failed
});

#[derive(SimpleObject)]
#[graphql(name = "WebhookEndpoint")]
pub struct WebhookEndpointOut {
    id: ID,
    /// Null for the operator's endpoint, which receives every tenant's events.
    tenant_id: Option<ID>,
    url: String,
    /// Event type names (`invoice.paid`, ...); empty means every type.
    event_types: Vec<String>,
    /// False once disabled (by hand, or after failing for 5 days).
    enabled: bool,
    /// The `whsec_` signing secret (verify with any Standard Webhooks library).
    secret: String,
    /// After a rotation, until when the previous secret also signs.
    previous_secret_until: Option<DateTime<Utc>>,
    /// Since when every attempt has failed; null when healthy.
    failing_since: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<WebhookEndpoint> for WebhookEndpointOut {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            id: ID(e.id.to_string()),
            tenant_id: e.tenant_id.map(|t| ID(t.to_string())),
            url: e.url,
            event_types: e
                .event_types
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            enabled: e.enabled,
            secret: e.secret,
            previous_secret_until: e.previous_secret_until,
            failing_since: e.failing_since,
            disabled_at: e.disabled_at,
            created_at: e.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "WebhookDelivery")]
pub struct WebhookDeliveryOut {
    id: ID,
    endpoint_id: ID,
    /// The `webhook-id` header: the same for every attempt and replay of one event.
    event_id: ID,
    event_type: String,
    /// The exact JSON body sent.
    payload: String,
    status: WebhookDeliveryStatusGql,
    attempts: i32,
    /// The HTTP status of the last attempt; null when no response came.
    last_status_code: Option<i32>,
    last_error: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    /// The delivery this one replays.
    replay_of: Option<ID>,
    created_at: DateTime<Utc>,
}

impl WebhookDeliveryOut {
    pub fn new(d: WebhookDelivery, event: WebhookEvent) -> Self {
        Self {
            id: ID(d.id.to_string()),
            endpoint_id: ID(d.endpoint_id.to_string()),
            event_id: ID(d.event_id.to_string()),
            event_type: event.kind.as_str().to_owned(),
            payload: event.payload,
            status: d.status.into(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_attempt_at: d.last_attempt_at,
            delivered_at: d.delivered_at,
            replay_of: d.replay_of.map(|r| ID(r.to_string())),
            created_at: d.created_at,
        }
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// Admins only: the tenant whose endpoint this is; omitted, the operator's own endpoint.
    pub tenant_id: Option<ID>,
    /// http(s), at most 2048 characters, not a private address.
    pub url: String,
    /// Event type names to receive; empty or omitted: every type.
    pub event_types: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub id: ID,
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

#[derive(InputObject)]
pub struct WebhookEndpointIdInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct ReplayWebhookDeliveryInput {
    /// The delivery whose event is sent again.
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    pub endpoint: WebhookEndpointOut,
}

#[derive(SimpleObject)]
pub struct DeleteWebhookEndpointPayload {
    pub deleted_id: ID,
}

#[derive(SimpleObject)]
pub struct ReplayWebhookDeliveryPayload {
    /// The new delivery, pending; the outbox worker sends it.
    pub delivery: WebhookDeliveryOut,
}
