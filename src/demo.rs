//! `billing demo`: the demo catalog of PRODUCT.md and one demo tenant. Safe to run again:
//! what exists is kept, and the demo owner gets a fresh password that is printed.
use rand::Rng;
use rand::distributions::Alphanumeric;

use crate::accounts;
use crate::auth::Actor;
use crate::catalog;
use crate::domain::{
    Aggregation, ChargeModel, ChargeTiming, Code, CouponCode, CouponDuration, Credits, Currency,
    Discount, Email, Enforcement, Locale, Money, Name, NewBillableMetric, NewCoupon, NewCreditPack,
    NewPlan, NewTenant, NewUser, Password, PlanCharge, PlanLimit, Role, Slug, TenantId,
};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store;

pub struct DemoOutcome {
    pub tenant_id: TenantId,
    pub owner_email: String,
    pub owner_password: String,
}

fn operator() -> Actor {
    Actor {
        subject: "billing-demo".into(),
        role: Role::Admin,
        tenant: None,
        user: None,
        api_key: None,
        cache_epoch: None,
    }
}

/// Runs a create; an existing row (`CONFLICT`) counts as done.
fn existing_is_fine<T>(r: Result<T>) -> Result<()> {
    match r {
        Ok(_) | Err(Error::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn brl(minor: i64) -> Money {
    Money::new(minor, Currency::BRL)
}

fn limit(metric: &str, value: i64) -> PlanLimit {
    PlanLimit {
        metric_code: metric.into(),
        value,
        enforcement: Enforcement::Hard,
    }
}

fn plan(
    code: &str,
    name: &str,
    monthly: i64,
    yearly: i64,
    features: &[&str],
    limits: Vec<PlanLimit>,
) -> Result<NewPlan> {
    Ok(NewPlan {
        code: Code::parse("code", code)?,
        name: Name::parse("name", name, 200)?,
        description: String::new(),
        monthly_price: brl(monthly),
        yearly_price: Some(brl(yearly)),
        trial_days: 0,
        features: features
            .iter()
            .map(|f| Name::parse("feature", f, 200))
            .collect::<std::result::Result<_, _>>()?,
        limits,
        charges: vec![],
    })
}

pub async fn load(state: &AppState) -> Result<DemoOutcome> {
    let admin = operator();
    for (code, name, unit, aggregation) in [
        ("tokens", "LLM tokens", "token", Aggregation::Sum),
        ("api_calls", "API calls", "call", Aggregation::Sum),
        ("storage_gb", "Storage", "GB", Aggregation::Max),
    ] {
        let new = NewBillableMetric {
            code: Code::parse("code", code)?,
            name: Name::parse("name", name, 200)?,
            unit: Name::parse("unit", unit, 32)?,
            aggregation,
        };
        existing_is_fine(catalog::create_metric(state, &admin, new).await)?;
    }

    let plans = [
        plan(
            "free",
            "Free",
            0,
            0,
            &["Community support"],
            vec![limit("api_calls", 1_000), limit("storage_gb", 1)],
        )?,
        plan(
            "starter",
            "Starter",
            2_900,
            29_000,
            &["Email support"],
            vec![limit("api_calls", 10_000), limit("storage_gb", 10)],
        )?,
        plan(
            "professional",
            "Professional",
            9_900,
            99_000,
            &["Priority support", "Webhooks"],
            vec![limit("api_calls", 100_000), limit("storage_gb", 100)],
        )?,
        plan(
            "enterprise",
            "Enterprise",
            29_900,
            299_000,
            &["Dedicated support", "SSO", "SLA"],
            vec![limit("api_calls", 1_000_000), limit("storage_gb", 1_000)],
        )?,
    ];
    for p in plans {
        existing_is_fine(catalog::create_plan(state, &admin, p).await)?;
    }
    // PRODUCT.md §1: R$ 400 a month including 8M tokens; each started 8M block above costs
    // R$ 100, charged the moment usage enters it.
    let token_plan = NewPlan {
        code: Code::parse("code", "tokens-400")?,
        name: Name::parse("name", "AI Tokens 8M", 200)?,
        description: "R$ 400/month with 8M tokens included; R$ 100 per started 8M block above"
            .into(),
        monthly_price: brl(40_000),
        yearly_price: None,
        trial_days: 0,
        features: vec![Name::parse("feature", "8M tokens included", 200)?],
        limits: vec![],
        charges: vec![PlanCharge {
            metric_code: "tokens".into(),
            timing: ChargeTiming::Immediately,
            model: ChargeModel::Block {
                included_units: 8_000_000,
                block_size: 8_000_000,
                block_price_minor: 10_000,
            },
        }],
    };
    existing_is_fine(catalog::create_plan(state, &admin, token_plan).await)?;

    for (code, name, credits, price) in [
        ("start", "Start", 100, 3_970),
        ("growth", "Growth", 300, 9_970),
        ("pro", "Pro", 800, 19_970),
        ("master", "Master", 2_000, 39_700),
    ] {
        let pack = NewCreditPack {
            code: Code::parse("code", code)?,
            name: Name::parse("name", name, 200)?,
            credits: Credits(credits * Credits::MICRO_PER_CREDIT),
            price: brl(price),
        };
        existing_is_fine(catalog::create_pack(state, &admin, pack).await)?;
    }

    let coupon = NewCoupon {
        code: CouponCode::parse("code", "WELCOME20")?,
        name: Name::parse("name", "Welcome: 20% off for 3 months", 200)?,
        discount: Discount::Percent(20),
        duration: CouponDuration::Repeating(3),
        max_redemptions: None,
        valid_from: None,
        valid_until: None,
        plan_codes: None,
    };
    existing_is_fine(catalog::create_coupon(state, &admin, coupon).await)?;

    let tenant = NewTenant {
        name: Name::parse("name", "Demo Ltda", 200)?,
        slug: Slug::parse("slug", "demo")?,
        billing_email: Email::parse("billingEmail", "billing@demo.example.com")?,
        currency: Currency::BRL,
        locale: Locale::parse("locale", "pt-BR")?,
    };
    existing_is_fine(accounts::tenants::create(state, &admin, tenant).await)?;
    let tenant_id = store::accounts::tenants::find_by_slug(&state.db, "demo")
        .await?
        .map(|t| t.id)
        .ok_or(Error::NotFound("tenant"))?;

    let owner_email = "owner@demo.example.com";
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    let password = Password::parse("password", &random)?;
    match store::accounts::users::find_by_email(&state.db, owner_email).await? {
        Some(user) => accounts::users::reset_password(state, user.id, password).await?,
        None => {
            let new = NewUser {
                tenant_id: Some(tenant_id),
                email: Email::parse("email", owner_email)?,
                name: Name::parse("name", "Demo Owner", 200)?,
                role: Role::Owner,
                password,
            };
            accounts::users::create(state, &admin, new).await?;
        }
    }
    Ok(DemoOutcome {
        tenant_id,
        owner_email: owner_email.into(),
        owner_password: random,
    })
}
