use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::billable_metrics::{ActiveModel, Column, Entity, Model};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::domain::{Aggregation, BillableMetric, MetricId, NewBillableMetric, Page, PageRequest};
use crate::error::{ConflictReason, Result, conflict_on_unique};
use crate::store::fetch_page;

fn to_domain(m: Model) -> BillableMetric {
    BillableMetric {
        id: m.id.into(),
        code: m.code,
        name: m.name,
        unit: m.unit,
        aggregation: Aggregation::from_db(&m.aggregation).unwrap_or(Aggregation::Sum),
        created_at: m.created_at,
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewBillableMetric,
    now: DateTime<Utc>,
) -> Result<BillableMetric> {
    let row = ActiveModel {
        id: Set(MetricId::new().0),
        code: Set(new.code.into_inner()),
        name: Set(new.name.into_inner()),
        unit: Set(new.unit.into_inner()),
        aggregation: Set(new.aggregation.as_str().to_owned()),
        created_at: Set(now),
    };
    let model = row.insert(db).await.map_err(|e| {
        conflict_on_unique(
            e,
            ConflictReason::CodeTaken,
            "a metric with this code already exists",
        )
    })?;
    Ok(to_domain(model))
}

pub async fn find_by_code(db: &impl ConnectionTrait, code: &str) -> Result<Option<BillableMetric>> {
    Ok(Entity::find()
        .filter(Column::Code.eq(code))
        .one(db)
        .await?
        .map(to_domain))
}

pub async fn list(db: &impl ConnectionTrait, page: PageRequest) -> Result<Page<BillableMetric>> {
    Ok(fetch_page(db, Entity::find(), Column::Id, page)
        .await?
        .map(to_domain))
}

/// Metric ids by code, for the codes that exist.
pub async fn ids_by_code(
    db: &impl ConnectionTrait,
    codes: &[&str],
) -> Result<HashMap<String, Uuid>> {
    if codes.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = Entity::find()
        .filter(Column::Code.is_in(codes.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|m| (m.code, m.id)).collect())
}

/// Metric codes by id.
pub async fn codes_by_id(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = Entity::find().filter(Column::Id.is_in(ids)).all(db).await?;
    Ok(rows.into_iter().map(|m| (m.id, m.code)).collect())
}

/// Metrics by code, for the codes that exist.
pub async fn by_codes(
    db: &impl ConnectionTrait,
    codes: &[String],
) -> Result<HashMap<String, BillableMetric>> {
    if codes.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = Entity::find()
        .filter(Column::Code.is_in(codes.iter().cloned()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let d = to_domain(m);
            (d.code.clone(), d)
        })
        .collect())
}
