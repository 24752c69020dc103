//! Inputs and outputs of prepaid credits.
use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use crate::credits::{self, HoldOutcome, Purchase, SpendRequest, Spent};
use crate::domain::{
    Code, CreditHold, CreditTopup, HoldStatus, LedgerEntry, LedgerKind, Name, TenantId,
    TopupSource, TopupStatus, Wallet, parse_operation, parse_usage_key,
};
use crate::error::{Error, Result};
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::invoicing::types::InvoiceOut;
use crate::graphql::scalars::MoneyOut;
use crate::graphql::scalars::{BigInt, connection, opt_idempotency_key, page_request};
use crate::graphql::{CtxExt, GqlResult};

gql_enum!(LedgerKindGql as "LedgerKind" => LedgerKind {
    Topup, Grant, Revoke, Consume, Hold, Settle, Release, Refund, Expire
});
gql_enum!(HoldStatusGql as "HoldStatus" => HoldStatus { Held, Settled, Released, Expired });
gql_enum!(TopupSourceGql as "TopupSource" => TopupSource { Stripe, Admin, Manual });
gql_enum!(TopupStatusGql as "TopupStatus" => TopupStatus { Pending, Completed, Failed });

#[derive(InputObject)]
pub struct PurchaseCreditPackInput {
    /// The admin names the tenant; owners and billing users buy for their own.
    pub tenant_id: Option<ID>,
    pub pack_code: String,
    /// A replay returns the first top-up and invoice; the same key for another pack is a
    /// `CONFLICT` (`IDEMPOTENCY_KEY_REUSED`).
    pub idempotency_key: Option<String>,
}

impl PurchaseCreditPackInput {
    pub fn parse(&self) -> Result<(Option<TenantId>, Code, Option<String>)> {
        Ok((
            opt_tenant_id("tenantId", self.tenant_id.as_ref())?,
            Code::parse("packCode", &self.pack_code)?,
            opt_idempotency_key(self.idempotency_key.as_deref())?,
        ))
    }
}

#[derive(SimpleObject)]
#[graphql(name = "CreditTopup")]
pub struct CreditTopupOut {
    id: ID,
    tenant_id: ID,
    pack_id: Option<ID>,
    credits: String,
    amount: Option<MoneyOut>,
    source: TopupSourceGql,
    payment_id: Option<String>,
    invoice_id: Option<ID>,
    status: TopupStatusGql,
    reason: Option<String>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl From<CreditTopup> for CreditTopupOut {
    fn from(t: CreditTopup) -> Self {
        Self {
            id: ID(t.id.to_string()),
            tenant_id: ID(t.tenant_id.to_string()),
            pack_id: t.pack_id.map(|p| ID(p.to_string())),
            credits: t.credits.to_string(),
            amount: t.amount.map(MoneyOut),
            source: t.source.into(),
            payment_id: t.payment_id,
            invoice_id: t.invoice_id.map(|i| ID(i.to_string())),
            status: t.status.into(),
            reason: t.reason,
            created_at: t.created_at,
            completed_at: t.completed_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct PurchaseCreditPackPayload {
    topup: CreditTopupOut,
    /// The invoice for the pack; paying it completes the top-up.
    invoice: InvoiceOut,
    /// With Stripe, the Checkout page where the buyer pays (null with the manual provider, or
    /// once paid).
    checkout_url: Option<String>,
}

impl From<Purchase> for PurchaseCreditPackPayload {
    fn from(p: Purchase) -> Self {
        Self {
            topup: p.topup.into(),
            invoice: p.invoice.into(),
            checkout_url: p.checkout_url,
        }
    }
}

#[derive(InputObject)]
pub struct ConsumeCreditsInput {
    /// Service keys and the admin name the tenant; tenant credentials spend their own.
    pub tenant_id: Option<ID>,
    pub metric_code: String,
    /// Units used (e.g. tokens); the plan's rule turns them into credits.
    pub quantity: BigInt,
    pub operation_type: Option<String>,
    /// Required: a replay returns the first result and is charged once.
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct ReserveCreditsInput {
    pub tenant_id: Option<ID>,
    pub metric_code: String,
    /// The units the request is expected to use.
    pub quantity: BigInt,
    pub operation_type: Option<String>,
    pub idempotency_key: String,
    /// How long the hold lasts before the jobs give its credits back: 1 to 86400.
    #[graphql(default = 300)]
    pub ttl_seconds: i32,
}

fn spend(
    tenant: Option<&ID>,
    metric: &str,
    quantity: i64,
    operation: Option<&str>,
    key: &str,
) -> Result<SpendRequest> {
    Ok(SpendRequest {
        tenant: crate::graphql::accounts::inputs::opt_tenant_id("tenantId", tenant)?,
        metric_code: Code::parse("metricCode", metric)?,
        quantity,
        operation_type: parse_operation(operation)
            .map_err(|r| Error::validation("operationType", r.message))?,
        idempotency_key: parse_usage_key(key)
            .map_err(|r| Error::validation("idempotencyKey", r.message))?,
    })
}

impl ConsumeCreditsInput {
    pub fn parse(&self) -> Result<SpendRequest> {
        spend(
            self.tenant_id.as_ref(),
            &self.metric_code,
            self.quantity.0,
            self.operation_type.as_deref(),
            &self.idempotency_key,
        )
    }
}

impl ReserveCreditsInput {
    pub fn parse(&self) -> Result<SpendRequest> {
        spend(
            self.tenant_id.as_ref(),
            &self.metric_code,
            self.quantity.0,
            self.operation_type.as_deref(),
            &self.idempotency_key,
        )
    }
}

#[derive(InputObject)]
pub struct SettleCreditsInput {
    pub hold_id: ID,
    /// The units the request really used.
    pub actual_quantity: BigInt,
}

#[derive(InputObject)]
pub struct AdjustCreditsInput {
    pub tenant_id: ID,
    /// A positive decimal such as "100" or "0.5".
    pub credits: String,
    pub reason: String,
    /// Optional: a replay returns the first result.
    pub idempotency_key: Option<String>,
}

impl AdjustCreditsInput {
    pub fn parse(&self) -> Result<(TenantId, crate::domain::Credits, String, Option<String>)> {
        Ok((
            crate::graphql::accounts::inputs::tenant_id("tenantId", &self.tenant_id)?,
            crate::domain::Credits::parse("credits", &self.credits)?,
            Name::parse("reason", &self.reason, 200)?.into_inner(),
            self.idempotency_key
                .as_deref()
                .map(|k| {
                    parse_usage_key(k).map_err(|r| Error::validation("idempotencyKey", r.message))
                })
                .transpose()?,
        ))
    }
}

#[derive(SimpleObject)]
#[graphql(name = "LedgerEntry")]
pub struct LedgerEntryOut {
    id: ID,
    kind: LedgerKindGql,
    /// Signed credits: positive in, negative out.
    amount: String,
    balance_after: String,
    reference: Option<String>,
    metric_code: Option<String>,
    operation_type: Option<String>,
    quantity: Option<BigInt>,
    created_at: DateTime<Utc>,
}

impl From<LedgerEntry> for LedgerEntryOut {
    fn from(e: LedgerEntry) -> Self {
        Self {
            id: ID(e.id.to_string()),
            kind: e.kind.into(),
            amount: e.amount.to_string(),
            balance_after: e.balance_after.to_string(),
            reference: e.reference,
            metric_code: e.metric_code,
            operation_type: e.operation_type,
            quantity: e.quantity.map(BigInt),
            created_at: e.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Wallet", complex)]
pub struct WalletOut {
    tenant_id: ID,
    /// Spendable credits, exact decimal; the sum of the ledger. Open holds are deducted.
    balance: String,
    /// Credits set aside by open holds.
    held: String,
    #[graphql(skip)]
    tenant: TenantId,
}

impl From<Wallet> for WalletOut {
    fn from(w: Wallet) -> Self {
        Self {
            tenant_id: ID(w.tenant_id.to_string()),
            balance: w.balance.to_string(),
            held: w.held.to_string(),
            tenant: w.tenant_id,
        }
    }
}

#[ComplexObject]
impl WalletOut {
    /// Every change of the balance, oldest first.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, LedgerEntryOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        let found = credits::ledger(state, actor, self.tenant, page)
            .await
            .gql()?;
        Ok(connection(
            found,
            |e| e.id.to_string(),
            LedgerEntryOut::from,
        ))
    }
}

#[derive(SimpleObject)]
pub struct CreditsPayload {
    entry: LedgerEntryOut,
    balance: String,
    held: String,
    /// The idempotency key was used before: this is the first result; nothing changed now.
    replayed: bool,
}

impl From<Spent> for CreditsPayload {
    fn from(s: Spent) -> Self {
        Self {
            entry: s.entry.into(),
            balance: s.wallet.balance.to_string(),
            held: s.wallet.held.to_string(),
            replayed: s.replayed,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "CreditHold")]
pub struct CreditHoldOut {
    id: ID,
    tenant_id: ID,
    amount: String,
    status: HoldStatusGql,
    metric_code: String,
    operation_type: String,
    idempotency_key: String,
    /// What settling charged.
    settled: Option<String>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl From<CreditHold> for CreditHoldOut {
    fn from(h: CreditHold) -> Self {
        Self {
            id: ID(h.id.to_string()),
            tenant_id: ID(h.tenant_id.to_string()),
            amount: h.amount.to_string(),
            status: h.status.into(),
            metric_code: h.metric_code,
            operation_type: h.operation_type,
            idempotency_key: h.idempotency_key,
            settled: h.settled.map(|c| c.to_string()),
            expires_at: h.expires_at,
            created_at: h.created_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct HoldPayload {
    hold: CreditHoldOut,
    /// The ledger entry this call wrote (or, replayed, the first one).
    entry: Option<LedgerEntryOut>,
    balance: String,
    held: String,
    replayed: bool,
}

impl From<HoldOutcome> for HoldPayload {
    fn from(o: HoldOutcome) -> Self {
        Self {
            hold: o.hold.into(),
            entry: o.entry.map(Into::into),
            balance: o.wallet.balance.to_string(),
            held: o.wallet.held.to_string(),
            replayed: o.replayed,
        }
    }
}
