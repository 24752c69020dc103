//! Billing helpers of the harness: tenants with their owner, plans, coupons, subscriptions,
//! invoices, notifications and the clock.
use billing::domain::Role;
use serde_json::{Value, json};

use super::{Gql, TestApp, nodes};

/// A new tenant whose owner subscribed to a plan: what `TestApp::subscribed` returns.
pub struct Subscribed {
    pub tenant: String,
    /// The owner's token.
    pub owner: String,
    /// The new subscription (`SUBSCRIPTION_FIELDS`).
    pub subscription: Value,
    /// The invoice that came with it (`INVOICE_FIELDS`; null when none was issued).
    pub invoice: Value,
}

impl TestApp {
    /// Creates a tenant as admin; returns its id and a token of its owner.
    pub async fn tenant_with_owner(&self, slug: &str) -> (String, String) {
        let tenant = self.create_tenant(slug).await;
        let owner = self.tenant_token(&tenant, Role::Owner);
        (tenant, owner)
    }

    /// A new tenant whose owner subscribed to `plan`, asserting success.
    pub async fn subscribed(&self, slug: &str, plan: &str) -> Subscribed {
        let (tenant, owner) = self.tenant_with_owner(slug).await;
        let r = self.subscribe(&owner, json!({ "planCode": plan })).await;
        let created = &r.data()["createSubscription"];
        Subscribed {
            tenant,
            owner,
            subscription: created["subscription"].clone(),
            invoice: created["invoice"].clone(),
        }
    }

    /// The invoice `id`, read as admin.
    pub async fn invoice(&self, id: &str) -> Value {
        let r = self
            .as_admin(
                &format!("query($id: ID!) {{ invoice(id: $id) {{ {INVOICE_FIELDS} }} }}"),
                json!({ "id": id }),
            )
            .await;
        r.data()["invoice"].clone()
    }

    /// The tenant's notifications (up to 100), read as admin.
    pub async fn notifications_of(&self, tenant: &str) -> Vec<Value> {
        let r = self
            .as_admin(
                "query($t: ID) { notifications(tenantId: $t, first: 100) { edges { node { \
                 id tenantId kind reference message createdAt } } } }",
                json!({ "t": tenant }),
            )
            .await;
        nodes(&r, "notifications")
    }

    /// The tenant's notifications of `kind`, read as admin.
    pub async fn notifications_of_kind(&self, tenant: &str, kind: &str) -> Vec<Value> {
        self.notifications_of(tenant)
            .await
            .into_iter()
            .filter(|n| n["kind"] == kind)
            .collect()
    }

    /// Creates a plan as admin: monthly fee, optional yearly fee, trial days; returns the plan id.
    pub async fn create_plan(
        &self,
        code: &str,
        monthly_minor: i64,
        yearly_minor: Option<i64>,
        trial_days: i32,
    ) -> String {
        let r = self
            .as_admin(
                "mutation($i: PlanInput!) { createPlan(input: $i) { plan { id } } }",
                json!({ "i": { "code": code, "name": format!("Plan {code}"),
                    "monthlyPriceMinor": monthly_minor, "yearlyPriceMinor": yearly_minor,
                    "trialDays": trial_days } }),
            )
            .await;
        r.data()["createPlan"]["plan"]["id"]
            .as_str()
            .expect("plan id")
            .to_owned()
    }

    /// Creates a coupon as admin from a `CreateCouponInput` JSON object.
    pub async fn create_coupon(&self, input: Value) {
        self.as_admin(
            "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { id } } }",
            json!({ "i": input }),
        )
        .await
        .data();
    }

    /// Sends `createSubscription` with `token` and the given input.
    pub async fn subscribe(&self, token: &str, input: Value) -> Gql {
        self.as_token(
            token,
            &format!(
                "mutation($i: CreateSubscriptionInput!) {{ createSubscription(input: $i) {{ \
                 subscription {{ {SUBSCRIPTION_FIELDS} }} invoice {{ {INVOICE_FIELDS} }} }} }}"
            ),
            json!({ "i": input }),
        )
        .await
    }

    /// Moves the clock forward by `days` and runs the jobs; returns the job report.
    pub async fn advance_days(&self, days: i32) -> Value {
        let r = self
            .as_admin(
                "mutation($i: AdvanceClockInput!) { advanceClock(input: $i) { now jobs { now trialsEnded renewals planChanges cancellations invoicesIssued pastDue notifications } } }",
                json!({ "i": { "days": days } }),
            )
            .await;
        r.data()["advanceClock"]["jobs"].clone()
    }

    /// Moves the clock to `to` (RFC 3339) and runs the jobs; returns the job report.
    pub async fn advance_to(&self, to: &str) -> Value {
        let r = self
            .as_admin(
                "mutation($i: AdvanceClockInput!) { advanceClock(input: $i) { now jobs { now trialsEnded renewals planChanges cancellations invoicesIssued pastDue notifications } } }",
                json!({ "i": { "to": to } }),
            )
            .await;
        r.data()["advanceClock"]["jobs"].clone()
    }

    /// Runs the billing jobs at the current clock time; returns the job report.
    pub async fn run_jobs(&self) -> Value {
        let r = self
            .as_admin(
                "mutation { runBillingJobs { now trialsEnded renewals planChanges cancellations invoicesIssued pastDue notifications } }",
                json!({}),
            )
            .await;
        r.data()["runBillingJobs"].clone()
    }

    /// All invoices of `tenant` (up to 100), oldest first, read as admin.
    pub async fn invoices_of(&self, tenant: &str) -> Vec<Value> {
        let r = self
            .as_admin(
                &format!(
                    "query($t: ID) {{ invoices(tenantId: $t, first: 100) {{ edges {{ node {{ {INVOICE_FIELDS} }} }} }} }}"
                ),
                json!({ "t": tenant }),
            )
            .await;
        nodes(&r, "invoices")
    }

    /// The tenant's subscription, read as admin (null when it has none).
    pub async fn subscription_of(&self, tenant: &str) -> Value {
        let r = self
            .as_admin(
                &format!(
                    "query($t: ID) {{ subscription(tenantId: $t) {{ {SUBSCRIPTION_FIELDS} }} }}"
                ),
                json!({ "t": tenant }),
            )
            .await;
        r.data()["subscription"].clone()
    }
}

pub const SUBSCRIPTION_FIELDS: &str = "id tenantId status interval cycle currentPeriodStart \
    currentPeriodEnd trialStart trialEnd cancelAtPeriodEnd canceledAt endedAt createdAt \
    plan { code version monthlyPrice { amountMinor } } scheduledPlan { code } \
    discount { couponCode percentOff amountOff { amountMinor } firstCycle lastCycle }";

pub const INVOICE_FIELDS: &str = "id tenantId subscriptionId number status billingReason cycle \
    currency subtotal { amountMinor } discount { amountMinor } total { amountMinor } \
    amountDue { amountMinor } amountPaid { amountMinor } couponCode periodStart periodEnd \
    issuedAt dueAt paidAt voidedAt markedUncollectibleAt createdAt \
    lines { description quantity unitAmount { amountMinor } amount { amountMinor } periodStart periodEnd kind }";
