use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::catalog_inputs::{
    AggregationGql, ChargeModelGql, ChargeTimingGql, CouponDurationGql, CreateBillableMetricInput,
    CreateCouponInput, CreditPackInput, CreditRoundingGql, EnforcementGql, PlanInput,
};
use super::scalars::{BigInt, MoneyOut, connection, page_request};
use super::{CtxExt, GqlResult};
use crate::catalog;
use crate::domain::{
    BillableMetric, ChargeModel, Coupon, CouponCode, CouponDuration, CreditPack, Discount, Money,
    NewBillableMetric, NewCoupon, NewCreditPack, NewPlan, Plan, PlanCharge, PlanLimit,
};

#[derive(SimpleObject)]
#[graphql(name = "BillableMetric")]
pub struct MetricOut {
    id: ID,
    code: String,
    name: String,
    unit: String,
    aggregation: AggregationGql,
    created_at: DateTime<Utc>,
}

impl From<BillableMetric> for MetricOut {
    fn from(m: BillableMetric) -> Self {
        Self {
            id: ID(m.id.to_string()),
            code: m.code,
            name: m.name,
            unit: m.unit,
            aggregation: m.aggregation.into(),
            created_at: m.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "PlanLimit")]
pub struct LimitOut {
    metric_code: String,
    value: BigInt,
    enforcement: EnforcementGql,
}

impl From<PlanLimit> for LimitOut {
    fn from(l: PlanLimit) -> Self {
        Self {
            metric_code: l.metric_code,
            value: BigInt(l.value),
            enforcement: l.enforcement.into(),
        }
    }
}

/// One usage charge of a plan; the fields used depend on `model`.
#[derive(SimpleObject)]
#[graphql(name = "PlanCharge")]
pub struct ChargeOut {
    metric_code: String,
    timing: ChargeTimingGql,
    model: ChargeModelGql,
    included_units: BigInt,
    block_size: Option<BigInt>,
    block_price: Option<MoneyOut>,
    unit_price_minor: Option<String>,
    credits: Option<String>,
    per_units: Option<BigInt>,
    credit_rounding: Option<CreditRoundingGql>,
}

fn charge_out(c: PlanCharge, currency: crate::domain::Currency) -> ChargeOut {
    let mut out = ChargeOut {
        metric_code: c.metric_code,
        timing: c.timing.into(),
        model: ChargeModelGql::Block,
        included_units: BigInt(0),
        block_size: None,
        block_price: None,
        unit_price_minor: None,
        credits: None,
        per_units: None,
        credit_rounding: None,
    };
    match c.model {
        ChargeModel::Block {
            included_units,
            block_size,
            block_price_minor,
        } => {
            out.included_units = BigInt(included_units);
            out.block_size = Some(BigInt(block_size));
            out.block_price = Some(MoneyOut(Money::new(block_price_minor, currency)));
        }
        ChargeModel::Unit {
            included_units,
            unit_price_minor,
        } => {
            out.model = ChargeModelGql::Unit;
            out.included_units = BigInt(included_units);
            out.unit_price_minor = Some(unit_price_minor.normalize().to_string());
        }
        ChargeModel::Credits {
            credits,
            per_units,
            rounding,
        } => {
            out.model = ChargeModelGql::Credits;
            out.credits = Some(credits.to_string());
            out.per_units = Some(BigInt(per_units));
            out.credit_rounding = Some(rounding.into());
        }
    }
    out
}

#[derive(SimpleObject)]
#[graphql(name = "Plan")]
pub struct PlanOut {
    id: ID,
    code: String,
    /// Versions count up from 1; a price change publishes a new version.
    version: i32,
    /// Whether this is the version new subscriptions get.
    is_current: bool,
    name: String,
    description: String,
    currency: String,
    monthly_price: MoneyOut,
    yearly_price: Option<MoneyOut>,
    trial_days: i32,
    features: Vec<String>,
    limits: Vec<LimitOut>,
    charges: Vec<ChargeOut>,
    created_at: DateTime<Utc>,
}

impl From<Plan> for PlanOut {
    fn from(p: Plan) -> Self {
        let currency = p.monthly_price.currency;
        Self {
            id: ID(p.id.to_string()),
            code: p.code,
            version: p.version,
            is_current: p.is_current,
            name: p.name,
            description: p.description,
            currency: currency.code().to_owned(),
            monthly_price: MoneyOut(p.monthly_price),
            yearly_price: p.yearly_price.map(MoneyOut),
            trial_days: p.trial_days,
            features: p.features,
            limits: p.limits.into_iter().map(Into::into).collect(),
            charges: p
                .charges
                .into_iter()
                .map(|c| charge_out(c, currency))
                .collect(),
            created_at: p.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "CreditPack")]
pub struct PackOut {
    id: ID,
    code: String,
    version: i32,
    is_current: bool,
    name: String,
    /// Credits granted, as an exact decimal.
    credits: String,
    price: MoneyOut,
    created_at: DateTime<Utc>,
}

impl From<CreditPack> for PackOut {
    fn from(p: CreditPack) -> Self {
        Self {
            id: ID(p.id.to_string()),
            code: p.code,
            version: p.version,
            is_current: p.is_current,
            name: p.name,
            credits: p.credits.to_string(),
            price: MoneyOut(p.price),
            created_at: p.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Coupon")]
pub struct CouponOut {
    id: ID,
    code: String,
    name: String,
    percent_off: Option<i32>,
    amount_off: Option<MoneyOut>,
    duration: CouponDurationGql,
    duration_periods: Option<i32>,
    max_redemptions: Option<i32>,
    times_redeemed: i32,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    plan_codes: Option<Vec<String>>,
    created_at: DateTime<Utc>,
}

impl From<Coupon> for CouponOut {
    fn from(c: Coupon) -> Self {
        let (percent_off, amount_off) = match c.discount {
            Discount::Percent(p) => (Some(i32::from(p)), None),
            Discount::Amount(m) => (None, Some(MoneyOut(m))),
        };
        let (duration, duration_periods) = match c.duration {
            CouponDuration::Once => (CouponDurationGql::Once, None),
            CouponDuration::Repeating(n) => (CouponDurationGql::Repeating, Some(i32::from(n))),
            CouponDuration::Forever => (CouponDurationGql::Forever, None),
        };
        Self {
            id: ID(c.id.to_string()),
            code: c.code,
            name: c.name,
            percent_off,
            amount_off,
            duration,
            duration_periods,
            max_redemptions: c.max_redemptions,
            times_redeemed: c.times_redeemed,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            plan_codes: c.plan_codes,
            created_at: c.created_at,
        }
    }
}

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    async fn billable_metrics(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, MetricOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = catalog::list_metrics(state, actor, page).await.gql()?;
        Ok(connection(found, |m| m.id.to_string(), MetricOut::from))
    }

    /// Current plan versions; `allVersions` includes superseded ones.
    async fn plans(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default)] all_versions: bool,
    ) -> async_graphql::Result<Connection<String, PlanOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = catalog::list_plans(state, actor, all_versions, page)
            .await
            .gql()?;
        Ok(connection(found, |p| p.id.to_string(), PlanOut::from))
    }

    /// A plan by code: its current version, or the version given.
    async fn plan(
        &self,
        ctx: &Context<'_>,
        code: String,
        version: Option<i32>,
    ) -> async_graphql::Result<PlanOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        catalog::find_plan(state, actor, &code, version)
            .await
            .map(PlanOut::from)
            .gql()
    }

    async fn credit_packs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default)] all_versions: bool,
    ) -> async_graphql::Result<Connection<String, PackOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = catalog::list_packs(state, actor, all_versions, page)
            .await
            .gql()?;
        Ok(connection(found, |p| p.id.to_string(), PackOut::from))
    }

    async fn credit_pack(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<PackOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        catalog::find_pack(state, actor, &code)
            .await
            .map(PackOut::from)
            .gql()
    }

    /// Every coupon, for the operator only (the list would give codes away).
    async fn coupons(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, CouponOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = catalog::list_coupons(state, actor, page).await.gql()?;
        Ok(connection(found, |c| c.id.to_string(), CouponOut::from))
    }

    /// A coupon by its code (case-insensitive), for anyone signed in who has the code.
    async fn coupon(&self, ctx: &Context<'_>, code: String) -> async_graphql::Result<CouponOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let code = CouponCode::parse("code", &code).gql()?;
        catalog::find_coupon(state, actor, code.as_str())
            .await
            .map(CouponOut::from)
            .gql()
    }
}

#[derive(SimpleObject)]
pub struct BillableMetricPayload {
    billable_metric: MetricOut,
}

#[derive(SimpleObject)]
pub struct PlanPayload {
    plan: PlanOut,
}

#[derive(SimpleObject)]
pub struct CreditPackPayload {
    credit_pack: PackOut,
}

#[derive(SimpleObject)]
pub struct CouponPayload {
    coupon: CouponOut,
}

#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    async fn create_billable_metric(
        &self,
        ctx: &Context<'_>,
        input: CreateBillableMetricInput,
    ) -> async_graphql::Result<BillableMetricPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewBillableMetric::try_from(input).gql()?;
        let m = catalog::create_metric(state, actor, new).await.gql()?;
        Ok(BillableMetricPayload {
            billable_metric: m.into(),
        })
    }

    /// Creates version 1 of a new plan code.
    async fn create_plan(
        &self,
        ctx: &Context<'_>,
        input: PlanInput,
    ) -> async_graphql::Result<PlanPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewPlan::try_from(input).gql()?;
        let plan = catalog::create_plan(state, actor, new).await.gql()?;
        Ok(PlanPayload { plan: plan.into() })
    }

    /// Publishes the next version of an existing plan and makes it current. Earlier versions,
    /// and everything bought on them, stay as they were.
    async fn publish_plan_version(
        &self,
        ctx: &Context<'_>,
        input: PlanInput,
    ) -> async_graphql::Result<PlanPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewPlan::try_from(input).gql()?;
        let plan = catalog::publish_plan_version(state, actor, new)
            .await
            .gql()?;
        Ok(PlanPayload { plan: plan.into() })
    }

    async fn create_credit_pack(
        &self,
        ctx: &Context<'_>,
        input: CreditPackInput,
    ) -> async_graphql::Result<CreditPackPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewCreditPack::try_from(input).gql()?;
        let pack = catalog::create_pack(state, actor, new).await.gql()?;
        Ok(CreditPackPayload {
            credit_pack: pack.into(),
        })
    }

    /// Publishes the next version of a credit pack (a new price or amount).
    async fn publish_credit_pack_version(
        &self,
        ctx: &Context<'_>,
        input: CreditPackInput,
    ) -> async_graphql::Result<CreditPackPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewCreditPack::try_from(input).gql()?;
        let pack = catalog::publish_pack_version(state, actor, new)
            .await
            .gql()?;
        Ok(CreditPackPayload {
            credit_pack: pack.into(),
        })
    }

    /// Creates a coupon. Coupons are immutable once created.
    async fn create_coupon(
        &self,
        ctx: &Context<'_>,
        input: CreateCouponInput,
    ) -> async_graphql::Result<CouponPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = NewCoupon::try_from(input).gql()?;
        let coupon = catalog::create_coupon(state, actor, new).await.gql()?;
        Ok(CouponPayload {
            coupon: coupon.into(),
        })
    }
}
