//! Credit top-ups: purchases and grants, pending until paid.
use chrono::{DateTime, Utc};
use entity::credit_topups::{ActiveModel, Column, Entity, Model};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::domain::{
    CreditTopup, Credits, Currency, InvoiceId, Money, Page, PageRequest, TopupSource, TopupStatus,
};
use crate::error::{Error, Result};
use crate::store::{TenantScope, fetch_page};

fn to_domain(m: Model) -> Result<CreditTopup> {
    let corrupt = |what: &str| Error::internal(format!("top-up {}: bad {what}", m.id));
    let amount = match (m.amount_minor, m.currency.as_deref()) {
        (Some(a), Some(c)) => Some(Money::new(a, Currency::parse("currency", c)?)),
        _ => None,
    };
    Ok(CreditTopup {
        id: m.id.into(),
        tenant_id: m.tenant_id.into(),
        pack_id: m.pack_id.map(Into::into),
        credits: Credits(m.credits_micro),
        amount,
        source: TopupSource::from_db(&m.source).ok_or_else(|| corrupt("source"))?,
        payment_id: m.payment_id,
        invoice_id: m.invoice_id.map(Into::into),
        status: TopupStatus::from_db(&m.status).ok_or_else(|| corrupt("status"))?,
        reason: m.reason,
        created_at: m.created_at,
        completed_at: m.completed_at,
    })
}

pub async fn insert(db: &impl ConnectionTrait, t: &CreditTopup) -> Result<()> {
    ActiveModel {
        id: Set(t.id.0),
        tenant_id: Set(t.tenant_id.0),
        pack_id: Set(t.pack_id.map(|p| p.0)),
        credits_micro: Set(t.credits.micro()),
        amount_minor: Set(t.amount.map(|a| a.amount_minor)),
        currency: Set(t.amount.map(|a| a.currency.code().to_owned())),
        source: Set(t.source.as_str().to_owned()),
        payment_id: Set(t.payment_id.clone()),
        invoice_id: Set(t.invoice_id.map(|i| i.0)),
        status: Set(t.status.as_str().to_owned()),
        reason: Set(t.reason.clone()),
        created_at: Set(t.created_at),
        completed_at: Set(t.completed_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find_by_invoice(
    db: &impl ConnectionTrait,
    invoice: InvoiceId,
) -> Result<Option<CreditTopup>> {
    Entity::find()
        .filter(Column::InvoiceId.eq(invoice.0))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Pending → `to`. `false` if it was no longer pending, so a second confirmation does nothing.
pub async fn finish(
    db: &impl ConnectionTrait,
    topup: &CreditTopup,
    to: TopupStatus,
    payment_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = Entity::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .col_expr(Column::PaymentId, Expr::value(payment_id))
        .col_expr(Column::CompletedAt, Expr::value(Some(now)))
        .filter(Column::Id.eq(topup.id.0))
        .filter(Column::Status.eq(TopupStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

pub async fn list(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    page: PageRequest,
) -> Result<Page<CreditTopup>> {
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

pub async fn find(
    db: &impl ConnectionTrait,
    id: crate::domain::TopupId,
) -> Result<Option<CreditTopup>> {
    Entity::find_by_id(id.0)
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}
