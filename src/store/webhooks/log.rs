//! The delivery log: finding deliveries and their events, the queue of an endpoint, and the
//! record of each attempt.
use chrono::{DateTime, Utc};
use entity::{webhook_deliveries as deliveries, webhook_events as events};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{delivery, event};
use crate::domain::{
    Page, PageRequest, WebhookDelivery, WebhookDeliveryId, WebhookDeliveryStatus,
    WebhookEndpointId, WebhookEvent, WebhookEventId,
};
use crate::error::Result;
use crate::store::{TenantScope, fetch_page};

pub async fn give_up_pending(db: &impl ConnectionTrait, id: WebhookEndpointId) -> Result<()> {
    deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::Status,
            Expr::value(WebhookDeliveryStatus::Failed.as_str()),
        )
        .filter(deliveries::Column::EndpointId.eq(id.0))
        .filter(deliveries::Column::Status.eq(WebhookDeliveryStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn find_delivery(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: WebhookDeliveryId,
) -> Result<Option<WebhookDelivery>> {
    let select = deliveries::Entity::find_by_id(id.0);
    scope
        .filter(select, deliveries::Column::TenantId)
        .one(db)
        .await?
        .map(delivery)
        .transpose()
}

pub async fn find_event(
    db: &impl ConnectionTrait,
    id: WebhookEventId,
) -> Result<Option<WebhookEvent>> {
    events::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(event)
        .transpose()
}

/// The endpoint's pending deliveries up to and including `upto`, oldest first: what must be
/// sent, in this order, before `upto` may be.
pub async fn pending_through(
    db: &impl ConnectionTrait,
    endpoint_id: WebhookEndpointId,
    upto: WebhookDeliveryId,
) -> Result<Vec<WebhookDelivery>> {
    deliveries::Entity::find()
        .filter(deliveries::Column::EndpointId.eq(endpoint_id.0))
        .filter(deliveries::Column::Status.eq(WebhookDeliveryStatus::Pending.as_str()))
        .filter(deliveries::Column::Id.lte(upto.0))
        .order_by_asc(deliveries::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(delivery)
        .collect()
}

/// Records one attempt: its status code (if a response came) and error, and `succeeded`.
pub async fn record_attempt(
    db: &impl ConnectionTrait,
    id: WebhookDeliveryId,
    succeeded: bool,
    status_code: Option<i32>,
    error: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut update = deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::Attempts,
            Expr::col(deliveries::Column::Attempts).add(1),
        )
        .col_expr(deliveries::Column::LastStatusCode, Expr::value(status_code))
        .col_expr(deliveries::Column::LastError, Expr::value(error))
        .col_expr(deliveries::Column::LastAttemptAt, Expr::value(now));
    if succeeded {
        update = update
            .col_expr(
                deliveries::Column::Status,
                Expr::value(WebhookDeliveryStatus::Succeeded.as_str()),
            )
            .col_expr(deliveries::Column::DeliveredAt, Expr::value(now));
    }
    update
        .filter(deliveries::Column::Id.eq(id.0))
        .exec(db)
        .await?;
    Ok(())
}

/// A page of the delivery log of one endpoint, oldest first.
pub async fn page_deliveries(
    db: &impl ConnectionTrait,
    endpoint_id: WebhookEndpointId,
    req: PageRequest,
) -> Result<Page<WebhookDelivery>> {
    let select =
        deliveries::Entity::find().filter(deliveries::Column::EndpointId.eq(endpoint_id.0));
    let page = fetch_page(db, select, deliveries::Column::Id, req).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(delivery)
            .collect::<Result<_>>()?,
        has_next: page.has_next,
    })
}
