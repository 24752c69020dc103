//! Notification rows: one per event, deduplicated by key. A later sender delivers them.
use chrono::{DateTime, Utc};
use entity::notifications::{ActiveModel, Column, Entity, Model};
use sea_orm::{ConnectionTrait, EntityTrait, Set, TryInsertResult};

use super::{TenantScope, fetch_page};
use crate::domain::{Notification, NotificationId, Page, PageRequest, TenantId};
use crate::error::Result;

fn to_domain(m: Model) -> Notification {
    Notification {
        id: m.id.into(),
        tenant_id: m.tenant_id.into(),
        kind: m.kind,
        reference: m.reference,
        message: m.message,
        created_at: m.created_at,
    }
}

pub struct NewNotification {
    pub tenant: TenantId,
    pub kind: &'static str,
    pub reference: Option<String>,
    pub message: String,
    /// The same key is recorded once, however often the event is seen.
    pub dedupe_key: String,
    pub now: DateTime<Utc>,
}

/// Records the notification unless its key was recorded before; `true` if it is new.
pub async fn record_once(db: &impl ConnectionTrait, new: NewNotification) -> Result<bool> {
    let row = ActiveModel {
        id: Set(NotificationId::new().0),
        tenant_id: Set(new.tenant.0),
        kind: Set(new.kind.to_owned()),
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
    Ok(!matches!(result, TryInsertResult::Conflicted))
}

pub async fn list(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    page: PageRequest,
) -> Result<Page<Notification>> {
    let select = scope.filter(Entity::find(), Column::TenantId);
    Ok(fetch_page(db, select, Column::Id, page)
        .await?
        .map(to_domain))
}
