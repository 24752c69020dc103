//! Email state: one delivery row per (notification, address) once the address is done with
//! (sent, or refused for good), and each tenant's choice of which kinds are emailed.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{email_deliveries as deliveries, notification_preferences as prefs};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::domain::{
    DeliveryStatus, EmailDelivery, NotificationId, NotificationKind, Role, TenantId,
};
use crate::error::Result;

/// The deliveries of a notification, in address order.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    notification: NotificationId,
) -> Result<Vec<EmailDelivery>> {
    let rows = deliveries::Entity::find()
        .filter(deliveries::Column::NotificationId.eq(notification.0))
        .order_by_asc(deliveries::Column::Address)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|m| {
            Some(EmailDelivery {
                notification_id: m.notification_id.into(),
                status: DeliveryStatus::from_db(&m.status)?,
                address: m.address,
                attempts: m.attempts,
                smtp_code: m.smtp_code,
                last_error: m.last_error,
                updated_at: m.updated_at,
            })
        })
        .collect())
}

/// Records how an address ended for a notification; a row already there is kept (the first
/// outcome stands: a second worker that sent the same message again changes nothing).
pub async fn record_delivery(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    d: &EmailDelivery,
) -> Result<()> {
    let row = deliveries::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.0),
        notification_id: Set(d.notification_id.0),
        address: Set(d.address.clone()),
        status: Set(d.status.as_str().to_owned()),
        attempts: Set(d.attempts),
        smtp_code: Set(d.smtp_code),
        last_error: Set(d.last_error.clone()),
        created_at: Set(d.updated_at),
        updated_at: Set(d.updated_at),
    };
    deliveries::Entity::insert(row)
        .on_conflict_do_nothing_on([
            deliveries::Column::NotificationId,
            deliveries::Column::Address,
        ])
        .exec(db)
        .await?;
    Ok(())
}

/// The tenant's billing email and its users with the owner or billing role, lower-cased,
/// each once, in a stable order.
pub async fn recipients(db: &impl ConnectionTrait, tenant: TenantId) -> Result<Vec<String>> {
    use entity::{tenants, users};
    let mut out: Vec<String> = Vec::new();
    if let Some(t) = tenants::Entity::find_by_id(tenant.0).one(db).await? {
        out.push(t.billing_email.trim().to_lowercase());
    }
    let people = users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant.0))
        .filter(users::Column::Role.is_in([Role::Owner.as_str(), Role::Billing.as_str()]))
        .order_by_asc(users::Column::Email)
        .all(db)
        .await?;
    for u in people {
        let email = u.email.trim().to_lowercase();
        if !out.contains(&email) {
            out.push(email);
        }
    }
    out.retain(|e| !e.is_empty());
    Ok(out)
}

/// The kinds the tenant turned on or off; a kind missing is on.
pub async fn preferences(
    db: &impl ConnectionTrait,
    tenant: TenantId,
) -> Result<HashMap<NotificationKind, bool>> {
    let rows = prefs::Entity::find()
        .filter(prefs::Column::TenantId.eq(tenant.0))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|m| Some((NotificationKind::from_db(&m.kind)?, m.email)))
        .collect())
}

/// Sets whether `kind` is emailed to the tenant.
pub async fn set_preference(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    kind: NotificationKind,
    email: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let row = prefs::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.0),
        kind: Set(kind.as_str().to_owned()),
        email: Set(email),
        updated_at: Set(now),
    };
    prefs::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([prefs::Column::TenantId, prefs::Column::Kind])
                .update_columns([prefs::Column::Email, prefs::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
