//! Invoices and their lines. Status moves are conditional updates on the status read, so a
//! move made concurrently by someone else fails instead of being overwritten.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{invoice_lines, invoice_sequences, invoices};
use invoices::{Column, Entity, Model};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::{TenantScope, fetch_page};
use crate::domain::{
    BillingReason, Currency, Invoice, InvoiceFilter, InvoiceId, InvoiceLine, InvoiceLineId,
    InvoiceStatus, LineKind, Money, NewLine, Page, PageRequest, SubscriptionId, TenantId,
};
use crate::domain::{InvoiceTotals, NewInvoice};
use crate::error::{Error, Result};

fn line_to_domain(m: invoice_lines::Model, currency: Currency) -> Result<InvoiceLine> {
    Ok(InvoiceLine {
        id: m.id.into(),
        description: m.description,
        quantity: m.quantity,
        unit_amount: Money::new(m.unit_amount_minor, currency),
        amount: Money::new(m.amount_minor, currency),
        period_start: m.period_start,
        period_end: m.period_end,
        kind: LineKind::from_db(&m.kind)
            .ok_or_else(|| Error::internal(format!("invoice line {}: bad kind", m.id)))?,
    })
}

fn to_domain(m: Model, lines: Vec<invoice_lines::Model>) -> Result<Invoice> {
    let corrupt = |what: &str| Error::internal(format!("invoice {}: bad {what}", m.id));
    let currency = Currency::parse("currency", &m.currency)?;
    Ok(Invoice {
        id: m.id.into(),
        tenant_id: m.tenant_id.into(),
        subscription_id: m.subscription_id.map(Into::into),
        number: m.number,
        status: InvoiceStatus::from_db(&m.status).ok_or_else(|| corrupt("status"))?,
        billing_reason: BillingReason::from_db(&m.billing_reason)
            .ok_or_else(|| corrupt("billing reason"))?,
        cycle: m.cycle,
        currency,
        subtotal: m.subtotal_minor,
        discount: m.discount_minor,
        total: m.total_minor,
        amount_due: m.amount_due_minor,
        amount_paid: m.amount_paid_minor,
        coupon_code: m.coupon_code,
        period_start: m.period_start,
        period_end: m.period_end,
        issued_at: m.issued_at,
        due_at: m.due_at,
        paid_at: m.paid_at,
        voided_at: m.voided_at,
        marked_uncollectible_at: m.marked_uncollectible_at,
        payment_reference: m.payment_reference,
        created_at: m.created_at,
        lines: lines
            .into_iter()
            .map(|l| line_to_domain(l, currency))
            .collect::<Result<_>>()?,
    })
}

async fn with_lines(db: &impl ConnectionTrait, rows: Vec<Model>) -> Result<Vec<Invoice>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines: HashMap<Uuid, Vec<invoice_lines::Model>> = HashMap::new();
    if !ids.is_empty() {
        for l in invoice_lines::Entity::find()
            .filter(invoice_lines::Column::InvoiceId.is_in(ids))
            .order_by_asc(invoice_lines::Column::Position)
            .all(db)
            .await?
        {
            lines.entry(l.invoice_id).or_default().push(l);
        }
    }
    rows.into_iter()
        .map(|r| {
            let l = lines.remove(&r.id).unwrap_or_default();
            to_domain(r, l)
        })
        .collect()
}

async fn insert_line(
    db: &impl ConnectionTrait,
    invoice: Uuid,
    position: i32,
    line: NewLine,
) -> Result<()> {
    invoice_lines::ActiveModel {
        id: Set(InvoiceLineId::new().0),
        invoice_id: Set(invoice),
        position: Set(position),
        description: Set(line.description),
        quantity: Set(line.quantity),
        unit_amount_minor: Set(line.unit_amount_minor),
        amount_minor: Set(line.amount_minor),
        period_start: Set(line.period_start),
        period_end: Set(line.period_end),
        kind: Set(line.kind.as_str().to_owned()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Inserts a draft invoice with its lines. A `source_key` already used gives `Ok(None)`:
/// the invoice it stands for exists.
pub async fn insert(db: &impl ConnectionTrait, new: NewInvoice) -> Result<Option<InvoiceId>> {
    let id = InvoiceId::new();
    let row = invoices::ActiveModel {
        id: Set(id.0),
        tenant_id: Set(new.tenant.0),
        subscription_id: Set(new.subscription.map(|s| s.0)),
        number: Set(None),
        status: Set(InvoiceStatus::Draft.as_str().to_owned()),
        billing_reason: Set(new.billing_reason.as_str().to_owned()),
        cycle: Set(new.cycle),
        currency: Set(new.currency.code().to_owned()),
        subtotal_minor: Set(new.totals.subtotal),
        discount_minor: Set(new.totals.discount),
        total_minor: Set(new.totals.total),
        amount_due_minor: Set(new.totals.amount_due),
        amount_paid_minor: Set(0),
        coupon_code: Set(new.coupon_code),
        period_start: Set(new.period_start),
        period_end: Set(new.period_end),
        issued_at: Set(None),
        due_at: Set(None),
        paid_at: Set(None),
        voided_at: Set(None),
        marked_uncollectible_at: Set(None),
        payment_reference: Set(None),
        source_key: Set(new.source_key),
        created_at: Set(new.now),
        updated_at: Set(new.now),
    };
    let inserted = Entity::insert(row)
        .on_conflict_do_nothing_on([Column::SourceKey])
        .exec(db)
        .await?;
    if matches!(inserted, sea_orm::TryInsertResult::Conflicted) {
        return Ok(None);
    }
    for (i, line) in new.lines.into_iter().enumerate() {
        insert_line(
            db,
            id.0,
            i32::try_from(i).map_err(|e| Error::internal(e))?,
            line,
        )
        .await?;
    }
    Ok(Some(id))
}

pub async fn find(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    id: InvoiceId,
) -> Result<Option<Invoice>> {
    let rows = scope
        .filter(Entity::find_by_id(id.0), Column::TenantId)
        .all(db)
        .await?;
    Ok(with_lines(db, rows).await?.pop())
}

pub async fn list(
    db: &impl ConnectionTrait,
    scope: TenantScope,
    filter: &InvoiceFilter,
    page: PageRequest,
) -> Result<Page<Invoice>> {
    let mut select = scope.filter(Entity::find(), Column::TenantId);
    if let Some(status) = filter.status {
        select = select.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(from) = filter.period_from {
        select = select.filter(Column::PeriodStart.gte(from));
    }
    if let Some(to) = filter.period_to {
        select = select.filter(Column::PeriodStart.lt(to));
    }
    let page = fetch_page(db, select, Column::Id, page).await?;
    Ok(Page {
        items: with_lines(db, page.items).await?,
        has_next: page.has_next,
    })
}

/// Adds a line to a draft and stores its new totals. `false` when the invoice is no longer a
/// draft: the conditional update both checks that and locks the row.
pub async fn append_line(
    db: &impl ConnectionTrait,
    invoice: &Invoice,
    line: NewLine,
    totals: InvoiceTotals,
    now: DateTime<Utc>,
) -> Result<bool> {
    let updated = Entity::update_many()
        .col_expr(Column::SubtotalMinor, Expr::value(totals.subtotal))
        .col_expr(Column::DiscountMinor, Expr::value(totals.discount))
        .col_expr(Column::TotalMinor, Expr::value(totals.total))
        .col_expr(Column::AmountDueMinor, Expr::value(totals.amount_due))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(invoice.id.0))
        .filter(Column::Status.eq(InvoiceStatus::Draft.as_str()))
        .filter(Column::SubtotalMinor.eq(invoice.subtotal))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Ok(false);
    }
    let position = i32::try_from(invoice.lines.len()).map_err(|e| Error::internal(e))?;
    insert_line(db, invoice.id.0, position, line).await?;
    Ok(true)
}

/// The next invoice number of `year`. The increment holds the year's row until the transaction
/// ends, so concurrent finalizations take turns and a rolled-back one gives its number back.
pub async fn next_number(db: &impl ConnectionTrait, year: i32) -> Result<i64> {
    next_in_sequence(db, year).await
}

/// The credit notes' own gapless sequence for `year`. It lives in `invoice_sequences` under
/// the key `-year`, which no invoice year can take, so both numberings share one mechanism.
pub async fn next_credit_note_number(db: &impl ConnectionTrait, year: i32) -> Result<i64> {
    next_in_sequence(db, -year).await
}

async fn next_in_sequence(db: &impl ConnectionTrait, year: i32) -> Result<i64> {
    let backend = db.get_database_backend();
    let seed = Query::insert()
        .into_table(invoice_sequences::Entity)
        .columns([
            invoice_sequences::Column::Year,
            invoice_sequences::Column::LastNumber,
        ])
        .values_panic([year.into(), 0i64.into()])
        .on_conflict(
            OnConflict::column(invoice_sequences::Column::Year)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    db.execute(&seed).await?;
    let bump = Query::update()
        .table(invoice_sequences::Entity)
        .value(
            invoice_sequences::Column::LastNumber,
            Expr::col(invoice_sequences::Column::LastNumber).add(1),
        )
        .and_where(Expr::col(invoice_sequences::Column::Year).eq(year))
        .returning_col(invoice_sequences::Column::LastNumber)
        .to_owned();
    let row = db
        .query_one(&bump)
        .await?
        .ok_or_else(|| Error::internal(format!("no invoice sequence for {year} ({backend:?})")))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Draft → open with its number and dates. `false` if it was not a draft any more.
pub async fn finalize(
    db: &impl ConnectionTrait,
    id: InvoiceId,
    number: &str,
    issued_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let updated = Entity::update_many()
        .col_expr(Column::Status, Expr::value(InvoiceStatus::Open.as_str()))
        .col_expr(Column::Number, Expr::value(number))
        .col_expr(Column::IssuedAt, Expr::value(issued_at))
        .col_expr(Column::DueAt, Expr::value(due_at))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id.0))
        .filter(Column::Status.eq(InvoiceStatus::Draft.as_str()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Moves `id` from `from` to `to`, stamping the matching date. `false` if its status was no
/// longer `from`.
pub async fn move_status(
    db: &impl ConnectionTrait,
    id: InvoiceId,
    from: InvoiceStatus,
    to: InvoiceStatus,
    payment_reference: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    update = match to {
        InvoiceStatus::Paid => update
            .col_expr(Column::PaidAt, Expr::value(now))
            .col_expr(Column::AmountPaidMinor, Expr::col(Column::AmountDueMinor))
            .col_expr(Column::PaymentReference, Expr::value(payment_reference)),
        InvoiceStatus::Void => update.col_expr(Column::VoidedAt, Expr::value(now)),
        InvoiceStatus::Uncollectible => {
            update.col_expr(Column::MarkedUncollectibleAt, Expr::value(now))
        }
        InvoiceStatus::Draft | InvoiceStatus::Open => update,
    };
    let updated = update
        .filter(Column::Id.eq(id.0))
        .filter(Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Open subscription invoices due on or before `cutoff`: (invoice, tenant, subscription).
pub async fn overdue(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<Vec<(InvoiceId, TenantId, SubscriptionId, Option<String>)>> {
    let rows = Entity::find()
        .filter(Column::Status.eq(InvoiceStatus::Open.as_str()))
        .filter(Column::SubscriptionId.is_not_null())
        .filter(Column::DueAt.lte(cutoff))
        .order_by_asc(Column::DueAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            r.subscription_id
                .map(|s| (r.id.into(), r.tenant_id.into(), s.into(), r.number))
        })
        .collect())
}

/// Whether the subscription still has an open invoice due on or before `cutoff`.
pub async fn has_overdue(
    db: &impl ConnectionTrait,
    subscription: SubscriptionId,
    cutoff: DateTime<Utc>,
) -> Result<bool> {
    let found = Entity::find()
        .filter(Column::SubscriptionId.eq(subscription.0))
        .filter(Column::Status.eq(InvoiceStatus::Open.as_str()))
        .filter(Column::DueAt.lte(cutoff))
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// The system-made invoice stored under `key` (e.g. `cycle:<sub>:<n>`), if any.
pub async fn find_by_source(db: &impl ConnectionTrait, key: &str) -> Result<Option<Invoice>> {
    let rows = Entity::find()
        .filter(Column::SourceKey.eq(key))
        .all(db)
        .await?;
    Ok(with_lines(db, rows).await?.pop())
}

/// The tenant's open invoices with an amount due, oldest first.
pub async fn open_with_amount_due(
    db: &impl ConnectionTrait,
    tenant: TenantId,
) -> Result<Vec<InvoiceId>> {
    let rows = Entity::find()
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::Status.eq(InvoiceStatus::Open.as_str()))
        .filter(Column::AmountDueMinor.gt(0))
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| r.id.into()).collect())
}
