//! Live updates: the `Subscription` root. Each field checks the caller against the tenant it
//! asks for (another tenant's stream is `FORBIDDEN`), then waits for that tenant's changes
//! (`crate::live`) and reads the current value through the same service as the matching query.
//! `walletChanged` and `usageChanged` answer the current value first.
use std::sync::Arc;

use async_graphql::{Context, ID, Subscription};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::auth::Actor;
use crate::domain::{Code, InvoiceId, NotificationId, PageRequest, TenantId};
use crate::graphql::accounts::inputs::opt_tenant_id;
use crate::graphql::credits::types::WalletOut;
use crate::graphql::invoicing::types::InvoiceOut;
use crate::graphql::metering::types::UsageSummaryOut;
use crate::graphql::notify::NotificationOut;
use crate::graphql::{CtxExt, GqlResult, to_gql};
use crate::live::{Change, TenantEvent};
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
        let read = move || {
            let (state, actor) = (state.clone(), actor.clone());
            async move {
                credits::wallet(&state, &actor, Some(tenant))
                    .await
                    .map(WalletOut::from)
                    .gql()
            }
        };
        // Listening before the first read: a change committed in between is not missed.
        let rx = ctx.state()?.live.subscribe();
        let first = read().await?;
        let changes = nudges(rx, tenant, |c| matches!(c, Change::Wallet)).then(move |()| read());
        Ok(stream::once(async { Ok(first) }).chain(changes))
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
        let read = {
            let code = code.clone();
            move || {
                let (state, actor, code) = (state.clone(), actor.clone(), code.clone());
                async move {
                    metering::usage_summary(&state, &actor, Some(tenant), code, None, None)
                        .await
                        .map(UsageSummaryOut::from)
                        .gql()
                }
            }
        };
        // Listening before the first read: a change committed in between is not missed.
        let rx = ctx.state()?.live.subscribe();
        let first = read().await?;
        let wanted = code.as_str().to_owned();
        let changes = nudges(
            rx,
            tenant,
            move |c| matches!(c, Change::Usage { metric } if *metric == wanted),
        )
        .then(move |()| read());
        Ok(stream::once(async { Ok(first) }).chain(changes))
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
        let rx = ctx.state()?.live.subscribe();
        Ok(events(rx, tenant).filter_map(move |change| {
            let (state, actor) = (state.clone(), actor.clone());
            async move {
                let Change::Invoice { id } = change else {
                    return None;
                };
                let id = InvoiceId::parse("id", &id).ok()?;
                Some(
                    invoicing::get(&state, &actor, id)
                        .await
                        .map(InvoiceOut::from)
                        .gql(),
                )
            }
        }))
    }

    /// Each notification recorded for the tenant from now on.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<NotificationOut>> + use<>>
    {
        let (state, actor, tenant) = scope(ctx, tenant_id)?;
        let rx = ctx.state()?.live.subscribe();
        // Ids are time-ordered (UUIDv7): what is recorded from now on sorts after this one.
        let since = NotificationId::new().0;
        let pages = stream::unfold(
            (
                nudges(rx, tenant, |c| matches!(c, Change::Notification)).boxed(),
                since,
            ),
            move |(mut nudged, since)| {
                let (state, actor) = (state.clone(), actor.clone());
                async move {
                    nudged.next().await?;
                    let page = PageRequest {
                        first: 100,
                        after: Some(since),
                    };
                    match notify::list(&state, &actor, Some(tenant), page).await {
                        Ok(found) => {
                            // The cursor moves to the newest notification shown.
                            let next = found.items.last().map_or(since, |n| n.id.0);
                            Some((Ok(found.items), (nudged, next)))
                        }
                        Err(e) => Some((Err(to_gql(e)), (nudged, since))),
                    }
                }
            },
        );
        Ok(pages.flat_map(|page| match page {
            Ok(items) => {
                stream::iter(items.into_iter().map(|n| Ok(NotificationOut::from(n)))).left_stream()
            }
            Err(e) => stream::once(std::future::ready(Err(e))).right_stream(),
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

/// The tenant's changes, in order. A subscriber that fell behind gets nudged for everything
/// (it re-reads, so nothing wrong is shown).
fn events(
    rx: broadcast::Receiver<TenantEvent>,
    tenant: TenantId,
) -> impl Stream<Item = Change> + Send + 'static {
    stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) if e.is_for(tenant) => return Some((e.change, rx)),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// One nudge for each burst of matching changes: the changes already queued behind the first
/// are folded into it, since one read shows them all. The receiver is this subscription's own.
fn nudges(
    rx: broadcast::Receiver<TenantEvent>,
    tenant: TenantId,
    wanted: impl Fn(&Change) -> bool + Send + Sync + 'static,
) -> impl Stream<Item = ()> + Send + 'static {
    let wanted = Arc::new(wanted);
    stream::unfold(rx, move |mut rx| {
        let wanted = wanted.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(e) if e.is_for(tenant) && wanted(&e.change) => break,
                    Ok(_) => {}
                    // Fell behind: re-reading shows whatever was missed.
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return None,
                }
            }
            while matches!(rx.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
            Some(((), rx))
        }
    })
}
