//! Saved cards. At most one is the tenant's default.
use chrono::{DateTime, Utc};
use entity::payment_methods::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::domain::{CardDetails, PaymentMethod, PaymentMethodId, TenantId};
use crate::error::{Error, Result};

fn to_domain(m: Model) -> PaymentMethod {
    PaymentMethod {
        id: m.id.into(),
        tenant_id: TenantId(m.tenant_id),
        provider_ref: m.provider_ref,
        brand: m.brand,
        last4: m.last4,
        exp_month: m.exp_month,
        exp_year: m.exp_year,
        is_default: m.is_default,
        created_at: m.created_at,
    }
}

/// Stores the card as the tenant's default, once: a card seen before (a webhook delivered
/// twice) is left as it is. The card stored.
pub async fn save_default(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    card: &CardDetails,
    now: DateTime<Utc>,
) -> Result<PaymentMethod> {
    if let Some(known) = by_ref(db, &card.provider_ref).await? {
        if known.tenant_id != tenant {
            return Err(Error::internal(format!(
                "payment method {} belongs to another tenant",
                card.provider_ref
            )));
        }
        return Ok(known);
    }
    let id = PaymentMethodId::new();
    Entity::insert(ActiveModel {
        id: Set(id.0),
        tenant_id: Set(tenant.0),
        provider_ref: Set(card.provider_ref.clone()),
        brand: Set(card.brand.clone()),
        last4: Set(card.last4.clone()),
        exp_month: Set(card.exp_month),
        exp_year: Set(card.exp_year),
        is_default: Set(false),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([Column::ProviderRef])
    .exec(db)
    .await?;
    let stored = by_ref(db, &card.provider_ref)
        .await?
        .ok_or_else(|| Error::internal("a payment method vanished"))?;
    set_default(db, tenant, stored.id).await?;
    Ok(PaymentMethod {
        is_default: true,
        ..stored
    })
}

pub async fn by_ref(db: &impl ConnectionTrait, reference: &str) -> Result<Option<PaymentMethod>> {
    Ok(Entity::find()
        .filter(Column::ProviderRef.eq(reference))
        .one(db)
        .await?
        .map(to_domain))
}

pub async fn find(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: PaymentMethodId,
) -> Result<Option<PaymentMethod>> {
    Ok(Entity::find_by_id(id.0)
        .filter(Column::TenantId.eq(tenant.0))
        .one(db)
        .await?
        .map(to_domain))
}

/// The tenant's cards, oldest first.
pub async fn list(db: &impl ConnectionTrait, tenant: TenantId) -> Result<Vec<PaymentMethod>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.0))
        .order_by_asc(Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect())
}

pub async fn default_of(
    db: &impl ConnectionTrait,
    tenant: TenantId,
) -> Result<Option<PaymentMethod>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::IsDefault.eq(true))
        .one(db)
        .await?
        .map(to_domain))
}

/// Makes `id` the tenant's only default card.
pub async fn set_default(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: PaymentMethodId,
) -> Result<()> {
    Entity::update_many()
        .col_expr(Column::IsDefault, Expr::value(false))
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::Id.ne(id.0))
        .exec(db)
        .await?;
    Entity::update_many()
        .col_expr(Column::IsDefault, Expr::value(true))
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::Id.eq(id.0))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the card; when it was the default, the newest other card becomes the default.
pub async fn remove(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: PaymentMethodId,
) -> Result<()> {
    let was_default = find(db, tenant, id).await?.is_some_and(|m| m.is_default);
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::Id.eq(id.0))
        .exec(db)
        .await?;
    if was_default
        && let Some(next) = Entity::find()
            .filter(Column::TenantId.eq(tenant.0))
            .order_by_desc(Column::Id)
            .one(db)
            .await?
    {
        set_default(db, tenant, next.id.into()).await?;
    }
    Ok(())
}

/// Whose card `id` is.
pub async fn tenant_of(db: &impl ConnectionTrait, id: PaymentMethodId) -> Result<Option<TenantId>> {
    Ok(Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(|m| TenantId(m.tenant_id)))
}
