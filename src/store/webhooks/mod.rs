//! Webhook endpoints, events and deliveries. `emit` writes an event once (its dedupe key), a
//! delivery per matching enabled endpoint and an outbox message per delivery, all in the
//! caller's transaction, so an event is sent if and only if its change commits.
use chrono::{DateTime, Utc};
use entity::{
    webhook_deliveries as deliveries, webhook_endpoints as endpoints, webhook_events as events,
};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, TryInsertResult,
};

mod log;

pub use log::*;

use super::TenantScope;
use crate::domain::{
    NewOutboxMessage, NewWebhookEvent, TenantId, WebhookDelivery, WebhookDeliveryId,
    WebhookDeliveryStatus, WebhookEndpoint, WebhookEndpointId, WebhookEvent, WebhookEventId,
    WebhookEventType,
};
use crate::error::{Error, Result};

fn endpoint(m: endpoints::Model) -> Result<WebhookEndpoint> {
    let event_types = split_types(&m.event_types).ok_or_else(|| {
        Error::internal(format!("webhook endpoint {} has a bad event filter", m.id))
    })?;
    Ok(WebhookEndpoint {
        id: m.id.into(),
        tenant_id: m.tenant_id.map(TenantId),
        url: m.url,
        event_types,
        enabled: m.enabled,
        secret: m.secret,
        previous_secret: m.previous_secret,
        previous_secret_until: m.previous_secret_until,
        failing_since: m.failing_since,
        disabled_at: m.disabled_at,
        created_at: m.created_at,
    })
}

fn split_types(raw: &str) -> Option<Vec<WebhookEventType>> {
    raw.split(',')
        .filter(|s| !s.is_empty())
        .map(WebhookEventType::from_db)
        .collect()
}

fn join_types(types: &[WebhookEventType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn event(m: events::Model) -> Result<WebhookEvent> {
    Ok(WebhookEvent {
        kind: WebhookEventType::from_db(&m.event_type)
            .ok_or_else(|| Error::internal(format!("webhook event {} has a bad type", m.id)))?,
        id: m.id.into(),
        tenant_id: m.tenant_id.map(TenantId),
        payload: m.payload,
        created_at: m.created_at,
    })
}

pub(super) fn delivery(m: deliveries::Model) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        status: WebhookDeliveryStatus::from_db(&m.status).ok_or_else(|| {
            Error::internal(format!("webhook delivery {} has a bad status", m.id))
        })?,
        id: m.id.into(),
        endpoint_id: m.endpoint_id.into(),
        event_id: m.event_id.into(),
        tenant_id: m.tenant_id.map(TenantId),
        attempts: m.attempts,
        last_status_code: m.last_status_code,
        last_error: m.last_error,
        last_attempt_at: m.last_attempt_at,
        delivered_at: m.delivered_at,
        replay_of: m.replay_of.map(Into::into),
        created_at: m.created_at,
    })
}

/// Writes the event unless its key was written before, with one pending delivery (and its
/// outbox message) per enabled endpoint that wants it: the tenant's own and the operator's.
/// `true` if the event is new.
pub async fn emit(db: &impl ConnectionTrait, new: NewWebhookEvent) -> Result<bool> {
    let id = WebhookEventId::new();
    let row = events::ActiveModel {
        id: Set(id.0),
        tenant_id: Set(Some(new.tenant.0)),
        event_type: Set(new.kind.as_str().to_owned()),
        payload: Set(new.payload),
        dedupe_key: Set(new.dedupe_key),
        created_at: Set(new.now),
    };
    let inserted = events::Entity::insert(row)
        .on_conflict_do_nothing_on([events::Column::DedupeKey])
        .exec(db)
        .await?;
    if matches!(inserted, TryInsertResult::Conflicted) {
        return Ok(false);
    }
    let candidates = endpoints::Entity::find()
        .filter(endpoints::Column::Enabled.eq(true))
        .filter(
            Condition::any()
                .add(endpoints::Column::TenantId.is_null())
                .add(endpoints::Column::TenantId.eq(new.tenant.0)),
        )
        .order_by_asc(endpoints::Column::Id)
        .all(db)
        .await?;
    for m in candidates {
        let ep = endpoint(m)?;
        if ep.wants(new.kind) {
            add_delivery(db, &ep, id, None, new.now).await?;
        }
    }
    Ok(true)
}

async fn add_delivery(
    db: &impl ConnectionTrait,
    ep: &WebhookEndpoint,
    event: WebhookEventId,
    replay_of: Option<WebhookDeliveryId>,
    now: DateTime<Utc>,
) -> Result<WebhookDeliveryId> {
    let id = WebhookDeliveryId::new();
    deliveries::Entity::insert(deliveries::ActiveModel {
        id: Set(id.0),
        endpoint_id: Set(ep.id.0),
        event_id: Set(event.0),
        tenant_id: Set(ep.tenant_id.map(|t| t.0)),
        status: Set(WebhookDeliveryStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        last_status_code: Set(None),
        last_error: Set(None),
        last_attempt_at: Set(None),
        delivered_at: Set(None),
        replay_of: Set(replay_of.map(|r| r.0)),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    super::outbox::enqueue(db, NewOutboxMessage::deliver_webhook(ep.tenant_id, id), now).await?;
    Ok(id)
}

/// A new pending delivery of `original`'s event to its endpoint, sent after whatever is queued.
pub async fn replay(
    db: &impl ConnectionTrait,
    ep: &WebhookEndpoint,
    original: &WebhookDelivery,
    now: DateTime<Utc>,
) -> Result<WebhookDeliveryId> {
    add_delivery(db, ep, original.event_id, Some(original.id), now).await
}

pub struct NewEndpoint {
    pub tenant: Option<TenantId>,
    pub url: String,
    pub event_types: Vec<WebhookEventType>,
    pub secret: String,
    pub now: DateTime<Utc>,
}

pub async fn insert_endpoint(
    db: &impl ConnectionTrait,
    new: NewEndpoint,
) -> Result<WebhookEndpointId> {
    let id = WebhookEndpointId::new();
    endpoints::Entity::insert(endpoints::ActiveModel {
        id: Set(id.0),
        tenant_id: Set(new.tenant.map(|t| t.0)),
        url: Set(new.url),
        event_types: Set(join_types(&new.event_types)),
        enabled: Set(true),
        secret: Set(new.secret),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        failing_since: Set(None),
        disabled_at: Set(None),
        created_at: Set(new.now),
        updated_at: Set(new.now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
}

/// An endpoint in `scope`: a tenant sees its own, operators every one.
pub async fn find_endpoint(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: WebhookEndpointId,
) -> Result<Option<WebhookEndpoint>> {
    let select = endpoints::Entity::find_by_id(id.0);
    scope
        .filter(select, endpoints::Column::TenantId)
        .one(db)
        .await?
        .map(endpoint)
        .transpose()
}

pub async fn list_endpoints(
    db: &impl ConnectionTrait,
    scope: TenantScope,
) -> Result<Vec<WebhookEndpoint>> {
    scope
        .filter(endpoints::Entity::find(), endpoints::Column::TenantId)
        .order_by_asc(endpoints::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(endpoint)
        .collect()
}

#[derive(Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<WebhookEventType>>,
    pub enabled: Option<bool>,
    /// A rotation: the new secret, and until when the current one keeps signing.
    pub rotate: Option<(String, DateTime<Utc>)>,
}

pub async fn update_endpoint(
    db: &impl ConnectionTrait,
    ep: &WebhookEndpoint,
    patch: EndpointPatch,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut update =
        endpoints::Entity::update_many().col_expr(endpoints::Column::UpdatedAt, Expr::value(now));
    if let Some(url) = patch.url {
        update = update.col_expr(endpoints::Column::Url, Expr::value(url));
    }
    if let Some(types) = patch.event_types {
        update = update.col_expr(
            endpoints::Column::EventTypes,
            Expr::value(join_types(&types)),
        );
    }
    if let Some(enabled) = patch.enabled {
        update = update.col_expr(endpoints::Column::Enabled, Expr::value(enabled));
        if enabled && !ep.enabled {
            // Enabled again: its failures start over.
            update = update
                .col_expr(
                    endpoints::Column::FailingSince,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .col_expr(
                    endpoints::Column::DisabledAt,
                    Expr::value(None::<DateTime<Utc>>),
                );
        }
    }
    if let Some((secret, until)) = patch.rotate {
        update = update
            .col_expr(endpoints::Column::Secret, Expr::value(secret))
            .col_expr(
                endpoints::Column::PreviousSecret,
                Expr::value(ep.secret.clone()),
            )
            .col_expr(endpoints::Column::PreviousSecretUntil, Expr::value(until));
    }
    update
        .filter(endpoints::Column::Id.eq(ep.id.0))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the endpoint and its delivery log.
pub async fn delete_endpoint(db: &impl ConnectionTrait, id: WebhookEndpointId) -> Result<()> {
    deliveries::Entity::delete_many()
        .filter(deliveries::Column::EndpointId.eq(id.0))
        .exec(db)
        .await?;
    endpoints::Entity::delete_by_id(id.0).exec(db).await?;
    Ok(())
}

/// Marks the endpoint as failing since `now` unless it already was; returns since when.
pub async fn mark_failing(
    db: &impl ConnectionTrait,
    ep: &WebhookEndpoint,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    if let Some(since) = ep.failing_since {
        return Ok(since);
    }
    endpoints::Entity::update_many()
        .col_expr(endpoints::Column::FailingSince, Expr::value(now))
        .filter(endpoints::Column::Id.eq(ep.id.0))
        .filter(endpoints::Column::FailingSince.is_null())
        .exec(db)
        .await?;
    Ok(now)
}

pub async fn mark_healthy(db: &impl ConnectionTrait, id: WebhookEndpointId) -> Result<()> {
    endpoints::Entity::update_many()
        .col_expr(
            endpoints::Column::FailingSince,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(endpoints::Column::Id.eq(id.0))
        .exec(db)
        .await?;
    Ok(())
}

/// Disables the endpoint and gives up its pending deliveries; `false` if it was not enabled.
pub async fn disable(
    db: &impl ConnectionTrait,
    id: WebhookEndpointId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let result = endpoints::Entity::update_many()
        .col_expr(endpoints::Column::Enabled, Expr::value(false))
        .col_expr(endpoints::Column::DisabledAt, Expr::value(now))
        .col_expr(endpoints::Column::UpdatedAt, Expr::value(now))
        .filter(endpoints::Column::Id.eq(id.0))
        .filter(endpoints::Column::Enabled.eq(true))
        .exec(db)
        .await?;
    give_up_pending(db, id).await?;
    Ok(result.rows_affected == 1)
}
