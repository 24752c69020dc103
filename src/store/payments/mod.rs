//! Payment-provider rows: the tenant's customer, saved cards, collection attempts and the
//! provider's events.
pub mod credit_notes;
pub mod events;
pub mod methods;

use chrono::{DateTime, Utc};
use entity::payments::{ActiveModel, Column, Entity, Model};
use entity::provider_customers;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TryInsertResult,
};

use crate::domain::{Currency, InvoiceId, Payment, PaymentStatus, TenantId};
use crate::error::{Error, Result};

/// The tenant's provider customer, if one was made.
pub async fn customer_of(db: &impl ConnectionTrait, tenant: TenantId) -> Result<Option<String>> {
    Ok(provider_customers::Entity::find_by_id(tenant.0)
        .one(db)
        .await?
        .map(|m| m.customer_ref))
}

/// Keeps `customer` as the tenant's unless one was kept first; the one kept.
pub async fn save_customer(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    customer: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    provider_customers::Entity::insert(provider_customers::ActiveModel {
        tenant_id: Set(tenant.0),
        customer_ref: Set(customer.to_owned()),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([provider_customers::Column::TenantId])
    .exec(db)
    .await?;
    customer_of(db, tenant)
        .await?
        .ok_or_else(|| Error::internal("a provider customer vanished"))
}

/// The tenant whose customer `customer` is.
pub async fn tenant_of_customer(
    db: &impl ConnectionTrait,
    customer: &str,
) -> Result<Option<TenantId>> {
    Ok(provider_customers::Entity::find()
        .filter(provider_customers::Column::CustomerRef.eq(customer))
        .one(db)
        .await?
        .map(|m| TenantId(m.tenant_id)))
}

fn to_domain(m: Model) -> Result<Payment> {
    Ok(Payment {
        id: m.id.into(),
        tenant_id: TenantId(m.tenant_id),
        invoice_id: m.invoice_id.into(),
        attempt: m.attempt,
        amount_minor: m.amount_minor,
        currency: Currency::parse("currency", &m.currency)?,
        status: PaymentStatus::from_db(&m.status)
            .ok_or_else(|| Error::internal(format!("payment {} has a bad status", m.id)))?,
        provider_ref: m.provider_ref,
        payment_method_ref: m.payment_method_ref,
        failure_code: m.failure_code,
        failure_message: m.failure_message,
        next_retry_at: m.next_retry_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// Writes a new attempt; `false` when that attempt of the invoice exists already.
pub async fn insert(db: &impl ConnectionTrait, p: &Payment) -> Result<bool> {
    let row = ActiveModel {
        id: Set(p.id.0),
        tenant_id: Set(p.tenant_id.0),
        invoice_id: Set(p.invoice_id.0),
        attempt: Set(p.attempt),
        amount_minor: Set(p.amount_minor),
        currency: Set(p.currency.to_string()),
        status: Set(p.status.as_str().to_owned()),
        provider_ref: Set(p.provider_ref.clone()),
        payment_method_ref: Set(p.payment_method_ref.clone()),
        failure_code: Set(p.failure_code.clone()),
        failure_message: Set(p.failure_message.clone()),
        next_retry_at: Set(p.next_retry_at),
        created_at: Set(p.created_at),
        updated_at: Set(p.updated_at),
    };
    let result = Entity::insert(row)
        .on_conflict_do_nothing_on([Column::InvoiceId, Column::Attempt])
        .exec(db)
        .await?;
    Ok(!matches!(result, TryInsertResult::Conflicted))
}

/// Records what became of an attempt, unless it already succeeded: a success is final, so a
/// late failure (a webhook out of order) never undoes it. `true` if the row changed.
pub async fn record(db: &impl ConnectionTrait, p: &Payment) -> Result<bool> {
    let result = Entity::update_many()
        .col_expr(Column::Status, Expr::value(p.status.as_str()))
        .col_expr(Column::ProviderRef, Expr::value(p.provider_ref.clone()))
        .col_expr(
            Column::PaymentMethodRef,
            Expr::value(p.payment_method_ref.clone()),
        )
        .col_expr(Column::FailureCode, Expr::value(p.failure_code.clone()))
        .col_expr(
            Column::FailureMessage,
            Expr::value(p.failure_message.clone()),
        )
        .col_expr(Column::NextRetryAt, Expr::value(p.next_retry_at))
        .col_expr(Column::UpdatedAt, Expr::value(p.updated_at))
        .filter(Column::Id.eq(p.id.0))
        .filter(Column::Status.ne(PaymentStatus::Succeeded.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The invoice's latest attempt.
pub async fn latest(db: &impl ConnectionTrait, invoice: InvoiceId) -> Result<Option<Payment>> {
    Entity::find()
        .filter(Column::InvoiceId.eq(invoice.0))
        .order_by_desc(Column::Attempt)
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Every attempt of the invoice, first first.
pub async fn of_invoice(db: &impl ConnectionTrait, invoice: InvoiceId) -> Result<Vec<Payment>> {
    Entity::find()
        .filter(Column::InvoiceId.eq(invoice.0))
        .order_by_asc(Column::Attempt)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// The attempt that made the provider's PaymentIntent `reference`.
pub async fn by_provider_ref(
    db: &impl ConnectionTrait,
    reference: &str,
) -> Result<Option<Payment>> {
    Entity::find()
        .filter(Column::ProviderRef.eq(reference))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Failed attempts whose retry is due at `now` (at most `limit`), oldest first.
pub async fn retries_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Payment>> {
    Entity::find()
        .filter(Column::Status.eq(PaymentStatus::Failed.as_str()))
        .filter(Column::NextRetryAt.lte(now))
        .order_by_asc(Column::NextRetryAt)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}
