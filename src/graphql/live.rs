//! Live updates: the `Subscription` root. Each field checks the caller against the tenant it
//! asks for (another tenant's stream is `FORBIDDEN`), then joins that tenant's hub for the
//! stream (`crate::live`): on each change the hub reads the current value once, through the
//! same service as the matching query, and every subscription of the tenant to the stream on
//! this replica gets it. The hub reads as the caller that started it; every caller passed the
//! same tenant check. `walletChanged` and `usageChanged` answer the current value first.
use std::sync::{Arc, Mutex};

use async_graphql::{Context, ID, Subscription};
use futures_util::stream::{Stream, StreamExt};

use crate::auth::Actor;
use crate::domain::{Code, InvoiceId, NotificationId, PageRequest, TenantId};
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::credits::types::WalletOut;
use crate::graphql::invoicing::types::InvoiceOut;
use crate::graphql::metering::types::UsageSummaryOut;
use crate::graphql::notify::NotificationOut;
use crate::graphql::{CtxExt, GqlResult, to_gql};
use crate::live::Change;
use crate::state::AppState;
use crate::{credits, invoicing, metering, notify};

type Item<T> = async_graphql::Result<T>;

#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// The wallet's balance and held credits: now, then after every ledger entry.
    async fn wallet_changed(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<WalletOut>> + use<>> {
        let (state, actor, tenant) = scope(ctx, tenant_id)?;
        // The caller may read the wallet (an unknown tenant is NOT_FOUND here, not later).
        credits::wallet(&state, &actor, Some(tenant)).await.gql()?;
        let live = state.live.clone();
        let read = move || {
            let (state, actor) = (state.clone(), actor.clone());
            async move { credits::wallet(&state, &actor, Some(tenant)).await.gql() }
        };
        let values = live.latest(tenant, "wallet", |c| matches!(c, Change::Wallet), read);
        Ok(values.map(|v| v.map(WalletOut::from)))
    }

    /// One metric's usage in the current period (total, blocks charged): now, then after every
    /// usage batch recorded for it.
    async fn usage_changed(
        &self,
        ctx: &Context<'_>,
        metric_code: String,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<UsageSummaryOut>> + use<>>
    {
        let (state, actor, tenant) = scope(ctx, tenant_id)?;
        let code = Code::parse("metricCode", &metric_code).gql()?;
        let summary = {
            let code = code.clone();
            move |state: AppState, actor: Actor| {
                let code = code.clone();
                async move {
                    metering::usage_summary(&state, &actor, Some(tenant), code, None, None)
                        .await
                        .gql()
                }
            }
        };
        // The caller may read the summary (no subscription or no such metric is an error here).
        summary.clone()(state.clone(), actor.clone()).await?;
        let live = state.live.clone();
        let read = move || summary.clone()(state.clone(), actor.clone());
        let wanted = code.as_str().to_owned();
        let values = live.latest(
            tenant,
            &format!("usage:{wanted}"),
            move |c| matches!(c, Change::Usage { metric } if *metric == wanted),
            read,
        );
        Ok(values.map(|v| v.map(UsageSummaryOut::from)))
    }

    /// Each invoice of the tenant as it is created or changes status.
    async fn invoice_changed(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<InvoiceOut>> + use<>> {
        let (state, actor, tenant) = scope(ctx, tenant_id)?;
        // The same check as listing the tenant's invoices.
        invoicing::list(
            &state,
            &actor,
            Some(tenant),
            Default::default(),
            PageRequest {
                first: 1,
                after: None,
            },
        )
        .await
        .gql()?;
        let live = state.live.clone();
        let read = move |burst: Vec<Change>| {
            let (state, actor) = (state.clone(), actor.clone());
            async move {
                let mut found = Vec::with_capacity(burst.len());
                for change in burst {
                    let Change::Invoice { id } = change else {
                        continue;
                    };
                    let Ok(id) = InvoiceId::parse("id", &id) else {
                        continue;
                    };
                    found.push(invoicing::get(&state, &actor, id).await.gql());
                }
                found
            }
        };
        let invoices = live.each(
            tenant,
            "invoices",
            |c| matches!(c, Change::Invoice { .. }),
            read,
        );
        Ok(invoices.map(|i| i.map(InvoiceOut::from)))
    }

    /// Each notification recorded for the tenant from now on.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<NotificationOut>> + use<>>
    {
        let (state, actor, tenant) = scope(ctx, tenant_id)?;
        // Ids are time-ordered (UUIDv7): what is recorded from now on sorts after this one.
        let since = NotificationId::new().0;
        let live = state.live.clone();
        // The hub's cursor, the newest notification it handed out; its reads run one at a time.
        let cursor = Arc::new(Mutex::new(since));
        let read = move |_: Vec<Change>| {
            let (state, actor, cursor) = (state.clone(), actor.clone(), cursor.clone());
            async move {
                let after = *cursor.lock().unwrap_or_else(|p| p.into_inner());
                let page = PageRequest {
                    first: 100,
                    after: Some(after),
                };
                match notify::list(&state, &actor, Some(tenant), page).await {
                    Ok(found) => {
                        if let Some(last) = found.items.last() {
                            *cursor.lock().unwrap_or_else(|p| p.into_inner()) = last.id.0;
                        }
                        found.items.into_iter().map(Ok).collect()
                    }
                    Err(e) => vec![Err(to_gql(e))],
                }
            }
        };
        let added = live.each(
            tenant,
            "notifications",
            |c| matches!(c, Change::Notification),
            read,
        );
        // A hub started before this subscription may hand out what was recorded before it.
        Ok(added.filter_map(move |n| {
            std::future::ready(match n {
                Ok(n) if n.id.0 <= since => None,
                other => Some(other.map(NotificationOut::from)),
            })
        }))
    }
}

/// The state, the caller and the one tenant the subscription is for.
fn scope(ctx: &Context<'_>, tenant_id: Option<ID>) -> Item<(AppState, Actor, TenantId)> {
    let (state, actor) = (ctx.state()?.clone(), ctx.actor()?.clone());
    let asked = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
    let tenant = actor.tenant_for(asked).gql()?;
    Ok((state, actor, tenant))
}
