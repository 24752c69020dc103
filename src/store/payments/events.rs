//! The provider's events, each stored once under its own id.
use chrono::{DateTime, Utc};
use entity::provider_events::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryInsertResult};

use crate::domain::{Page, PageRequest, ProviderEvent, ProviderEventId, ProviderEventStatus};
use crate::error::{Error, Result};
use crate::store::fetch_page;

fn to_domain(m: Model) -> Result<ProviderEvent> {
    Ok(ProviderEvent {
        id: m.id.into(),
        status: ProviderEventStatus::from_db(&m.status)
            .ok_or_else(|| Error::internal(format!("provider event {} has a bad status", m.id)))?,
        event_ref: m.event_ref,
        kind: m.kind,
        object_ref: m.object_ref,
        error: m.error,
        received_at: m.received_at,
        processed_at: m.processed_at,
    })
}

/// Stores the event unless its id was received before. The stored event, and whether this
/// call stored it.
pub async fn receive(
    db: &impl ConnectionTrait,
    event_ref: &str,
    kind: &str,
    object_ref: Option<&str>,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<(ProviderEvent, bool)> {
    let result = Entity::insert(ActiveModel {
        id: Set(ProviderEventId::new().0),
        event_ref: Set(event_ref.to_owned()),
        kind: Set(kind.to_owned()),
        status: Set(ProviderEventStatus::Failed.as_str().to_owned()),
        object_ref: Set(object_ref.map(str::to_owned)),
        payload: Set(payload.to_owned()),
        error: Set(Some("not processed yet".into())),
        received_at: Set(now),
        processed_at: Set(None),
    })
    .on_conflict_do_nothing_on([Column::EventRef])
    .exec(db)
    .await?;
    let fresh = !matches!(result, TryInsertResult::Conflicted);
    let stored = Entity::find()
        .filter(Column::EventRef.eq(event_ref))
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("a provider event vanished"))?;
    Ok((to_domain(stored)?, fresh))
}

/// Records what became of the event.
pub async fn finish(
    db: &impl ConnectionTrait,
    id: ProviderEventId,
    status: ProviderEventStatus,
    error: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::Error, Expr::value(error))
        .col_expr(Column::ProcessedAt, Expr::value(Some(now)))
        .filter(Column::Id.eq(id.0))
        .exec(db)
        .await?;
    Ok(())
}

/// Events in the order received, optionally of one type.
pub async fn page(
    db: &impl ConnectionTrait,
    kind: Option<&str>,
    req: PageRequest,
) -> Result<Page<ProviderEvent>> {
    let mut select = Entity::find();
    if let Some(kind) = kind {
        select = select.filter(Column::Kind.eq(kind));
    }
    let page = fetch_page(db, select, Column::Id, req).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(to_domain)
            .collect::<Result<_>>()?,
        has_next: page.has_next,
    })
}
