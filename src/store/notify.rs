//! Notification rows: one per event, deduplicated by key. A later sender delivers them.
use entity::notifications::{ActiveModel, Column, Entity, Model};
use sea_orm::{ConnectionTrait, EntityTrait, Set, TryInsertResult};

use super::{TenantScope, fetch_page};
use crate::domain::{
    NewNotification, NewOutboxMessage, Notification, NotificationId, NotificationKind, Page,
    PageRequest,
};
use crate::error::{Error, Result};

fn to_domain(m: Model) -> Result<Notification> {
    Ok(Notification {
        kind: NotificationKind::from_db(&m.kind)
            .ok_or_else(|| Error::internal(format!("notification {} has an unknown kind", m.id)))?,
        id: m.id.into(),
        tenant_id: m.tenant_id.into(),
        reference: m.reference,
        message: m.message,
        created_at: m.created_at,
    })
}

/// Records the notification unless its key was recorded before; `true` if it is new. A new
/// one gets its `send_email` outbox message on the same connection (the event's transaction),
/// so it is emailed once after commit.
pub async fn record_once(db: &impl ConnectionTrait, new: NewNotification) -> Result<bool> {
    let id = NotificationId::new();
    let (tenant, now) = (new.tenant, new.now);
    let row = ActiveModel {
        id: Set(id.0),
        tenant_id: Set(new.tenant.0),
        kind: Set(new.kind.as_str().to_owned()),
        reference: Set(new.reference),
        message: Set(new.message),
        dedupe_key: Set(new.dedupe_key),
        created_at: Set(new.now),
        sent_at: Set(None),
    };
    let result = Entity::insert(row)
        .on_conflict_do_nothing_on([Column::DedupeKey])
        .exec(db)
        .await?;
    if matches!(result, TryInsertResult::Conflicted) {
        return Ok(false);
    }
    super::outbox::enqueue(db, NewOutboxMessage::send_email(tenant, id), now).await?;
    Ok(true)
}

pub async fn find(db: &impl ConnectionTrait, id: NotificationId) -> Result<Option<Notification>> {
    Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

pub async fn list(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    page: PageRequest,
) -> Result<Page<Notification>> {
    let select = scope.filter(Entity::find(), Column::TenantId);
    let page = fetch_page(db, select, Column::Id, page).await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(to_domain)
            .collect::<Result<_>>()?,
        has_next: page.has_next,
    })
}
