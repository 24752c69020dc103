//! Credit notes: the refunds of paid invoices.
use chrono::{DateTime, Utc};
use entity::credit_notes::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::domain::{
    CreditNote, CreditNoteId, CreditNoteStatus, Credits, Currency, InvoiceId, TenantId,
};
use crate::error::{Error, Result};

fn to_domain(m: Model) -> Result<CreditNote> {
    Ok(CreditNote {
        id: m.id.into(),
        tenant_id: TenantId(m.tenant_id),
        invoice_id: m.invoice_id.into(),
        number: m.number,
        amount_minor: m.amount_minor,
        currency: Currency::parse("currency", &m.currency)?,
        reason: m.reason,
        status: CreditNoteStatus::from_db(&m.status)
            .ok_or_else(|| Error::internal(format!("credit note {} has a bad status", m.id)))?,
        provider_ref: m.provider_ref,
        payment_ref: m.payment_ref,
        credits_revoked: Credits(m.credits_revoked),
        idempotency_key: m.idempotency_key,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub async fn insert(db: &impl ConnectionTrait, n: &CreditNote) -> Result<()> {
    ActiveModel {
        id: Set(n.id.0),
        tenant_id: Set(n.tenant_id.0),
        invoice_id: Set(n.invoice_id.0),
        number: Set(n.number.clone()),
        amount_minor: Set(n.amount_minor),
        currency: Set(n.currency.to_string()),
        reason: Set(n.reason.clone()),
        status: Set(n.status.as_str().to_owned()),
        provider_ref: Set(n.provider_ref.clone()),
        payment_ref: Set(n.payment_ref.clone()),
        credits_revoked: Set(n.credits_revoked.micro()),
        idempotency_key: Set(n.idempotency_key.clone()),
        created_at: Set(n.created_at),
        updated_at: Set(n.updated_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: CreditNoteId) -> Result<Option<CreditNote>> {
    Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// The credit note the tenant's `key` made, if any.
pub async fn by_key(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    key: &str,
) -> Result<Option<CreditNote>> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::IdempotencyKey.eq(key))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// The credit note of the provider's refund `reference`.
pub async fn by_provider_ref(
    db: &impl ConnectionTrait,
    reference: &str,
) -> Result<Option<CreditNote>> {
    Entity::find()
        .filter(Column::ProviderRef.eq(reference))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Every credit note of the invoice, first first.
pub async fn of_invoice(db: &impl ConnectionTrait, invoice: InvoiceId) -> Result<Vec<CreditNote>> {
    Entity::find()
        .filter(Column::InvoiceId.eq(invoice.0))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Number)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Records the provider's refund and its status where the move is allowed: pending may
/// become succeeded or failed, and succeeded may still become failed (Stripe fails a refund
/// after it succeeded when the card's bank returns it); failed is final, and a late `pending`
/// undoes nothing. `true` if the row changed.
pub async fn record(
    db: &impl ConnectionTrait,
    id: CreditNoteId,
    provider_ref: Option<&str>,
    status: CreditNoteStatus,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id.0))
        .filter(Column::Status.is_in(moves_into(status)));
    if let Some(r) = provider_ref {
        update = update.col_expr(Column::ProviderRef, Expr::value(r.to_owned()));
    }
    if status == CreditNoteStatus::Pending {
        // Only the reference is new: keep the row pending, but say whether it changed.
        update = update.filter(
            Condition::any()
                .add(Column::ProviderRef.is_null())
                .add(Column::ProviderRef.ne(provider_ref.unwrap_or_default())),
        );
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// The statuses a credit note may move into `status` from.
fn moves_into(status: CreditNoteStatus) -> Vec<&'static str> {
    match status {
        CreditNoteStatus::Pending | CreditNoteStatus::Succeeded => {
            vec![CreditNoteStatus::Pending.as_str()]
        }
        CreditNoteStatus::Failed => vec![
            CreditNoteStatus::Pending.as_str(),
            CreditNoteStatus::Succeeded.as_str(),
        ],
    }
}
