//! Webhooks to the SaaS: endpoints, secret rotation, the delivery log and replays.
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use crate::domain::{Page, TenantId, WebhookDeliveryId, WebhookEndpointId};
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::{CtxExt, GqlResult};
use crate::webhooks::{self, EndpointChange};

mod types;

use types::*;

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// Webhook endpoints: a tenant's own (owner, billing); admins see every endpoint, or one
    /// tenant's with `tenantId`.
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<WebhookEndpointOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = tenant_id
            .map(|t| TenantId::parse("tenantId", &t))
            .transpose()
            .gql()?;
        let found = webhooks::endpoints(state, actor, tenant).await.gql()?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// The delivery log of one endpoint, oldest first.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, WebhookDeliveryOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let endpoint = WebhookEndpointId::parse("endpointId", &endpoint_id).gql()?;
        let page = page_request(first, after).gql()?;
        let found = webhooks::deliveries(state, actor, endpoint, page)
            .await
            .gql()?;
        let mut items = Vec::with_capacity(found.items.len());
        for d in found.items {
            let event = webhooks::event_of(state, &d).await.gql()?;
            items.push((d, event));
        }
        let page = Page {
            items,
            has_next: found.has_next,
        };
        Ok(connection(
            page,
            |(d, _)| d.id.to_string(),
            |(d, e)| WebhookDeliveryOut::new(d, e),
        ))
    }
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// A new endpoint with a fresh `whsec_` secret (owner, billing; admins for any tenant or,
    /// without `tenantId`, the operator's endpoint for every tenant's events).
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = input
            .tenant_id
            .map(|t| TenantId::parse("tenantId", &t))
            .transpose()
            .gql()?;
        let types = input.event_types.unwrap_or_default();
        let endpoint = webhooks::create_endpoint(state, actor, tenant, &input.url, &types)
            .await
            .gql()?;
        Ok(WebhookEndpointPayload {
            endpoint: endpoint.into(),
        })
    }

    /// Changes an endpoint's URL, event filter, or whether it is enabled.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = WebhookEndpointId::parse("id", &input.id).gql()?;
        let change = EndpointChange {
            url: input.url,
            event_types: input.event_types,
            enabled: input.enabled,
        };
        let endpoint = webhooks::update_endpoint(state, actor, id, change)
            .await
            .gql()?;
        Ok(WebhookEndpointPayload {
            endpoint: endpoint.into(),
        })
    }

    /// Deletes an endpoint and its delivery log.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> async_graphql::Result<DeleteWebhookEndpointPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = WebhookEndpointId::parse("id", &input.id).gql()?;
        webhooks::delete_endpoint(state, actor, id).await.gql()?;
        Ok(DeleteWebhookEndpointPayload {
            deleted_id: input.id,
        })
    }

    /// A new secret; the previous one keeps signing beside it for 24 hours.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = WebhookEndpointId::parse("id", &input.id).gql()?;
        let endpoint = webhooks::rotate_secret(state, actor, id).await.gql()?;
        Ok(WebhookEndpointPayload {
            endpoint: endpoint.into(),
        })
    }

    /// Sends a delivery's event again, as a new delivery after what is pending.
    async fn replay_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        input: ReplayWebhookDeliveryInput,
    ) -> async_graphql::Result<ReplayWebhookDeliveryPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = WebhookDeliveryId::parse("id", &input.id).gql()?;
        let delivery = webhooks::replay(state, actor, id).await.gql()?;
        let event = webhooks::event_of(state, &delivery).await.gql()?;
        Ok(ReplayWebhookDeliveryPayload {
            delivery: WebhookDeliveryOut::new(delivery, event),
        })
    }
}
