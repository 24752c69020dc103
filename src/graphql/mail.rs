//! Email notifications: which kinds a tenant gets by email, and how a notification's emails
//! went.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{DeliveryStatus, EmailDelivery, NotificationId, NotificationKind};
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::{CtxExt, GqlResult};
use crate::mail::{self, NotificationPreference};

gql_enum!(NotificationKindGql as "NotificationKind" => NotificationKind {
    TrialEnding, InvoiceOverdue, UsageLimit80, UsageLimit100, LowBalance, PaymentFailed,
    PaymentActionRequired, PaymentMethodRequired, InvoiceFinalized, PaymentSucceeded,
    CreditsDepleted, TopupCompleted, WebhookEndpointDisabled
});
gql_enum!(EmailDeliveryStatusGql as "EmailDeliveryStatus" => DeliveryStatus { Sent, Failed });

#[derive(SimpleObject)]
#[graphql(name = "NotificationPreference")]
pub struct NotificationPreferenceOut {
    kind: NotificationKindGql,
    /// Whether this kind is emailed.
    email: bool,
    /// `false` for payment failures and action required, which are always emailed.
    can_turn_off: bool,
}

impl From<NotificationPreference> for NotificationPreferenceOut {
    fn from(p: NotificationPreference) -> Self {
        Self {
            kind: p.kind.into(),
            email: p.email,
            can_turn_off: p.can_turn_off,
        }
    }
}

/// One address's email of a notification, once it is done with.
#[derive(SimpleObject)]
#[graphql(name = "EmailDelivery")]
pub struct EmailDeliveryOut {
    address: String,
    /// `SENT`: the server accepted it. `FAILED`: refused for good (5xx), not tried again.
    status: EmailDeliveryStatusGql,
    /// The outbox attempt it ended on.
    attempts: i32,
    smtp_code: Option<i32>,
    last_error: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<EmailDelivery> for EmailDeliveryOut {
    fn from(d: EmailDelivery) -> Self {
        Self {
            address: d.address,
            status: d.status.into(),
            attempts: d.attempts,
            smtp_code: d.smtp_code,
            last_error: d.last_error,
            updated_at: d.updated_at,
        }
    }
}

#[derive(InputObject)]
pub struct NotificationPreferenceInput {
    kind: NotificationKindGql,
    email: bool,
}

#[derive(Default)]
pub struct MailQuery;

#[Object]
impl MailQuery {
    /// Every notification kind with whether the tenant gets it by email (owner or billing
    /// role; the admin names the tenant).
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<NotificationPreferenceOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let found = mail::notification_preferences(state, actor, tenant)
            .await
            .gql()?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// The addresses a notification was emailed to, or refused by for good. An address
    /// missing is still being tried.
    async fn notification_emails(
        &self,
        ctx: &Context<'_>,
        notification_id: ID,
    ) -> async_graphql::Result<Vec<EmailDeliveryOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = NotificationId::parse("notificationId", &notification_id)
            .map_err(crate::error::Error::from)
            .gql()?;
        let found = mail::notification_emails(state, actor, id).await.gql()?;
        Ok(found.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct MailMutation;

#[Object]
impl MailMutation {
    /// Turns notification kinds on or off for email. `PAYMENT_FAILED` and
    /// `PAYMENT_ACTION_REQUIRED` cannot be turned off (`VALIDATION`, nothing changes).
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        preferences: Vec<NotificationPreferenceInput>,
    ) -> async_graphql::Result<Vec<NotificationPreferenceOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let changes = preferences
            .into_iter()
            .map(|p| (p.kind.into(), p.email))
            .collect();
        let found = mail::update_preferences(state, actor, tenant, changes)
            .await
            .gql()?;
        Ok(found.into_iter().map(Into::into).collect())
    }
}
