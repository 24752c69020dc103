//! The catalog: plans and credit packs here, coupons and billable metrics beside. Plans and
//! packs are versioned by code: publishing a change inserts version
//! n+1 and marks it current; rows already bought keep pointing at their own version.
pub mod coupons;
pub mod metrics;

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use entity::{credit_packs, plan_charges, plan_limits, plans};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::domain::{
    ChargeModel, ChargeTiming, CreditPack, CreditPackId, CreditRounding, Credits, Currency,
    Enforcement, Money, NewCreditPack, NewPlan, Page, PageRequest, Plan, PlanCharge, PlanId,
    PlanLimit,
};
use crate::error::{ConflictReason, Error, Result, conflict_on_unique};
use crate::store::fetch_page;

const CONCURRENT: &str = "another version of this code was published at the same time; retry";

/// The highest version published for a plan code, if any.
pub async fn latest_plan_version(db: &impl ConnectionTrait, code: &str) -> Result<Option<i32>> {
    let row = plans::Entity::find()
        .filter(plans::Column::Code.eq(code))
        .order_by_desc(plans::Column::Version)
        .one(db)
        .await?;
    Ok(row.map(|r| r.version))
}

/// Inserts `new` as `version` and makes it the current version of its code.
pub async fn insert_plan_version(
    db: &impl ConnectionTrait,
    new: NewPlan,
    version: i32,
    metric_ids: &HashMap<String, Uuid>,
    now: DateTime<Utc>,
) -> Result<Plan> {
    let code = new.code.as_str().to_owned();
    plans::Entity::update_many()
        .col_expr(plans::Column::IsCurrent, Expr::value(false))
        .filter(plans::Column::Code.eq(code.as_str()))
        .exec(db)
        .await?;
    let id = PlanId::new().0;
    let row = plans::ActiveModel {
        id: Set(id),
        code: Set(code),
        version: Set(version),
        is_current: Set(true),
        name: Set(new.name.into_inner()),
        description: Set(new.description),
        currency: Set(new.monthly_price.currency.code().to_owned()),
        monthly_price_minor: Set(new.monthly_price.amount_minor),
        yearly_price_minor: Set(new.yearly_price.map(|m| m.amount_minor)),
        trial_days: Set(new.trial_days),
        features: Set(serde_json::json!(
            new.features
                .into_iter()
                .map(|f| f.into_inner())
                .collect::<Vec<_>>()
        )),
        created_at: Set(now),
    };
    let model = row
        .insert(db)
        .await
        .map_err(|e| conflict_on_unique(e, ConflictReason::ConcurrentUpdate, CONCURRENT))?;
    for (position, charge) in new.charges.iter().enumerate() {
        let metric_id = *metric_ids
            .get(&charge.metric_code)
            .ok_or(Error::NotFound("metric"))?;
        charge_row(id, position, metric_id, charge)
            .insert(db)
            .await?;
    }
    for limit in &new.limits {
        let metric_id = *metric_ids
            .get(&limit.metric_code)
            .ok_or(Error::NotFound("metric"))?;
        plan_limits::ActiveModel {
            id: Set(Uuid::now_v7()),
            plan_id: Set(id),
            metric_id: Set(metric_id),
            value: Set(limit.value),
            enforcement: Set(limit.enforcement.as_str().to_owned()),
        }
        .insert(db)
        .await?;
    }
    let mut loaded = load_plans(db, vec![model]).await?;
    loaded.pop().ok_or(Error::NotFound("plan"))
}

fn charge_row(
    plan_id: Uuid,
    position: usize,
    metric_id: Uuid,
    charge: &PlanCharge,
) -> plan_charges::ActiveModel {
    let mut row = plan_charges::ActiveModel {
        id: Set(Uuid::now_v7()),
        plan_id: Set(plan_id),
        position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
        metric_id: Set(metric_id),
        model: Set(charge.model.kind().to_owned()),
        timing: Set(charge.timing.as_str().to_owned()),
        included_units: Set(0),
        block_size: Set(None),
        block_price_minor: Set(None),
        unit_price_minor: Set(None),
        credits_micro: Set(None),
        per_units: Set(None),
        credit_rounding: Set(None),
    };
    match &charge.model {
        ChargeModel::Block {
            included_units,
            block_size,
            block_price_minor,
        } => {
            row.included_units = Set(*included_units);
            row.block_size = Set(Some(*block_size));
            row.block_price_minor = Set(Some(*block_price_minor));
        }
        ChargeModel::Unit {
            included_units,
            unit_price_minor,
        } => {
            row.included_units = Set(*included_units);
            row.unit_price_minor = Set(Some(unit_price_minor.to_string()));
        }
        ChargeModel::Credits {
            credits,
            per_units,
            rounding,
        } => {
            row.credits_micro = Set(Some(credits.micro()));
            row.per_units = Set(Some(*per_units));
            row.credit_rounding = Set(Some(rounding.as_str().to_owned()));
        }
    }
    row
}

fn charge_from_row(r: plan_charges::Model, metric_code: String) -> Result<PlanCharge> {
    let corrupt = || Error::internal(format!("plan charge {} is malformed", r.id));
    let model = match r.model.as_str() {
        "block" => ChargeModel::Block {
            included_units: r.included_units,
            block_size: r.block_size.ok_or_else(corrupt)?,
            block_price_minor: r.block_price_minor.ok_or_else(corrupt)?,
        },
        "unit" => ChargeModel::Unit {
            included_units: r.included_units,
            unit_price_minor: r
                .unit_price_minor
                .as_deref()
                .and_then(|s| Decimal::from_str(s).ok())
                .ok_or_else(corrupt)?,
        },
        "credits" => ChargeModel::Credits {
            credits: Credits(r.credits_micro.ok_or_else(corrupt)?),
            per_units: r.per_units.ok_or_else(corrupt)?,
            rounding: r
                .credit_rounding
                .as_deref()
                .and_then(CreditRounding::from_db)
                .ok_or_else(corrupt)?,
        },
        _ => return Err(corrupt()),
    };
    Ok(PlanCharge {
        metric_code,
        timing: ChargeTiming::from_db(&r.timing).ok_or_else(corrupt)?,
        model,
    })
}

/// Turns plan rows into plans with their charges and limits, in three queries.
async fn load_plans(db: &impl ConnectionTrait, rows: Vec<plans::Model>) -> Result<Vec<Plan>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let charges = plan_charges::Entity::find()
        .filter(plan_charges::Column::PlanId.is_in(ids.clone()))
        .order_by_asc(plan_charges::Column::Position)
        .all(db)
        .await?;
    let limits = plan_limits::Entity::find()
        .filter(plan_limits::Column::PlanId.is_in(ids))
        .order_by_asc(plan_limits::Column::Id)
        .all(db)
        .await?;
    let metric_ids = charges
        .iter()
        .map(|c| c.metric_id)
        .chain(limits.iter().map(|l| l.metric_id))
        .collect();
    let codes = metrics::codes_by_id(db, metric_ids).await?;
    let code_of = |id: &Uuid| codes.get(id).cloned().unwrap_or_default();

    let mut plans = Vec::with_capacity(rows.len());
    for r in rows {
        let currency = Currency::parse("currency", &r.currency)?;
        let features =
            serde_json::from_value(r.features.clone()).map_err(|e| Error::internal(e))?;
        let plan_charges = charges
            .iter()
            .filter(|c| c.plan_id == r.id)
            .map(|c| charge_from_row(c.clone(), code_of(&c.metric_id)))
            .collect::<Result<Vec<_>>>()?;
        let plan_limits = limits
            .iter()
            .filter(|l| l.plan_id == r.id)
            .map(|l| PlanLimit {
                metric_code: code_of(&l.metric_id),
                value: l.value,
                enforcement: Enforcement::from_db(&l.enforcement).unwrap_or(Enforcement::Hard),
            })
            .collect();
        plans.push(Plan {
            id: r.id.into(),
            code: r.code,
            version: r.version,
            is_current: r.is_current,
            name: r.name,
            description: r.description,
            monthly_price: Money::new(r.monthly_price_minor, currency),
            yearly_price: r.yearly_price_minor.map(|a| Money::new(a, currency)),
            trial_days: r.trial_days,
            features,
            limits: plan_limits,
            charges: plan_charges,
            created_at: r.created_at,
        });
    }
    Ok(plans)
}

/// The current version of `code`, or the given version.
pub async fn find_plan(
    db: &impl ConnectionTrait,
    code: &str,
    version: Option<i32>,
) -> Result<Option<Plan>> {
    let mut select = plans::Entity::find().filter(plans::Column::Code.eq(code));
    select = match version {
        Some(v) => select.filter(plans::Column::Version.eq(v)),
        None => select.filter(plans::Column::IsCurrent.eq(true)),
    };
    let rows = select.limit(1).all(db).await?;
    Ok(load_plans(db, rows).await?.pop())
}

/// Current plan versions, or every version when `all_versions`.
pub async fn list_plans(
    db: &impl ConnectionTrait,
    all_versions: bool,
    page: PageRequest,
) -> Result<Page<Plan>> {
    let mut select = plans::Entity::find();
    if !all_versions {
        select = select.filter(plans::Column::IsCurrent.eq(true));
    }
    let rows = fetch_page(db, select, plans::Column::Id, page).await?;
    let items = load_plans(db, rows.items).await?;
    Ok(Page {
        items,
        has_next: rows.has_next,
    })
}

fn pack_to_domain(m: credit_packs::Model) -> Result<CreditPack> {
    Ok(CreditPack {
        id: CreditPackId(m.id),
        code: m.code,
        version: m.version,
        is_current: m.is_current,
        name: m.name,
        credits: Credits(m.credits_micro),
        price: Money::new(m.price_minor, Currency::parse("currency", &m.currency)?),
        created_at: m.created_at,
    })
}

pub async fn latest_pack_version(db: &impl ConnectionTrait, code: &str) -> Result<Option<i32>> {
    let row = credit_packs::Entity::find()
        .filter(credit_packs::Column::Code.eq(code))
        .order_by_desc(credit_packs::Column::Version)
        .one(db)
        .await?;
    Ok(row.map(|r| r.version))
}

pub async fn insert_pack_version(
    db: &impl ConnectionTrait,
    new: NewCreditPack,
    version: i32,
    now: DateTime<Utc>,
) -> Result<CreditPack> {
    credit_packs::Entity::update_many()
        .col_expr(credit_packs::Column::IsCurrent, Expr::value(false))
        .filter(credit_packs::Column::Code.eq(new.code.as_str()))
        .exec(db)
        .await?;
    let row = credit_packs::ActiveModel {
        id: Set(CreditPackId::new().0),
        code: Set(new.code.into_inner()),
        version: Set(version),
        is_current: Set(true),
        name: Set(new.name.into_inner()),
        credits_micro: Set(new.credits.micro()),
        price_minor: Set(new.price.amount_minor),
        currency: Set(new.price.currency.code().to_owned()),
        created_at: Set(now),
    };
    pack_to_domain(
        row.insert(db)
            .await
            .map_err(|e| conflict_on_unique(e, ConflictReason::ConcurrentUpdate, CONCURRENT))?,
    )
}

pub async fn find_pack(db: &impl ConnectionTrait, code: &str) -> Result<Option<CreditPack>> {
    credit_packs::Entity::find()
        .filter(credit_packs::Column::Code.eq(code))
        .filter(credit_packs::Column::IsCurrent.eq(true))
        .one(db)
        .await?
        .map(pack_to_domain)
        .transpose()
}

pub async fn list_packs(
    db: &impl ConnectionTrait,
    all_versions: bool,
    page: PageRequest,
) -> Result<Page<CreditPack>> {
    let mut select = credit_packs::Entity::find();
    if !all_versions {
        select = select.filter(credit_packs::Column::IsCurrent.eq(true));
    }
    let rows = fetch_page(db, select, credit_packs::Column::Id, page).await?;
    let items = rows
        .items
        .into_iter()
        .map(pack_to_domain)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        has_next: rows.has_next,
    })
}

/// Plan versions by id, whatever their version.
pub async fn plans_by_ids(
    db: &impl ConnectionTrait,
    ids: &[PlanId],
) -> Result<HashMap<PlanId, Plan>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = plans::Entity::find()
        .filter(plans::Column::Id.is_in(ids.iter().map(|p| p.0)))
        .all(db)
        .await?;
    Ok(load_plans(db, rows)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect())
}

/// The ids of every version of a plan code.
pub async fn plan_version_ids(db: &impl ConnectionTrait, code: &str) -> Result<Vec<Uuid>> {
    Ok(plans::Entity::find()
        .filter(plans::Column::Code.eq(code))
        .select_only()
        .column(plans::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}
