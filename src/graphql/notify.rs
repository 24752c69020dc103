//! Notifications.
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::Notification;
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::{CtxExt, GqlResult};
use crate::notify;

#[derive(Default)]
pub struct NotifyQuery;

#[Object]
impl NotifyQuery {
    /// Notifications recorded for the caller's tenant, or for every tenant for the admin.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, NotificationOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let page = page_request(first, after).gql()?;
        let found = notify::list(state, actor, tenant, page).await.gql()?;
        Ok(connection(
            found,
            |n| n.id.to_string(),
            NotificationOut::from,
        ))
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Notification")]
pub struct NotificationOut {
    id: ID,
    tenant_id: ID,
    /// `invoice_overdue`, `trial_ending`, ...
    kind: String,
    /// The id of what it is about (an invoice, a subscription).
    reference: Option<String>,
    message: String,
    created_at: DateTime<Utc>,
}

impl From<Notification> for NotificationOut {
    fn from(n: Notification) -> Self {
        Self {
            id: ID(n.id.to_string()),
            tenant_id: ID(n.tenant_id.to_string()),
            kind: n.kind.as_str().to_owned(),
            reference: n.reference,
            message: n.message,
            created_at: n.created_at,
        }
    }
}
