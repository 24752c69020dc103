//! Idempotency keys (`idempotency_keys`, unique on tenant, operation and key). A key is
//! written in the transaction of the action it records, so it exists exactly when the action
//! committed.
use chrono::{DateTime, Utc};
use entity::idempotency_keys::{ActiveModel, Column, Entity, Model};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryInsertResult};
use uuid::Uuid;

use crate::domain::{IdempotencyRecord, IdempotentOperation, InvoiceId, Keyed, TenantId};
use crate::error::{Error, Result};

fn to_domain(m: Model) -> Result<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        tenant_id: TenantId(m.tenant_id),
        operation: IdempotentOperation::from_db(&m.operation).ok_or_else(|| {
            Error::internal(format!("idempotency key {} has a bad operation", m.id))
        })?,
        key: m.key,
        fingerprint: m.fingerprint,
        result_id: m.result_id,
        invoice_id: m.invoice_id.map(InvoiceId),
        created_at: m.created_at,
    })
}

pub async fn find(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    operation: IdempotentOperation,
    key: &str,
) -> Result<Option<IdempotencyRecord>> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant.0))
        .filter(Column::Operation.eq(operation.as_str()))
        .filter(Column::Key.eq(key))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Records `keyed` for `tenant` with the ids of its result; `false` if the key was taken.
pub async fn insert(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    keyed: &Keyed,
    result_id: Uuid,
    invoice: Option<InvoiceId>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let row = ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.0),
        operation: Set(keyed.operation.as_str().to_owned()),
        key: Set(keyed.key.clone()),
        fingerprint: Set(keyed.fingerprint.clone()),
        result_id: Set(result_id),
        invoice_id: Set(invoice.map(|i| i.0)),
        created_at: Set(now),
    };
    let result = Entity::insert(row)
        .on_conflict_do_nothing_on([Column::TenantId, Column::Operation, Column::Key])
        .exec(db)
        .await?;
    Ok(!matches!(result, TryInsertResult::Conflicted))
}
