pub(crate) mod inputs;
pub(crate) mod types;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use crate::accounts;
use crate::domain::{ApiKeyId, Name, TenantFilter, TenantStatus};
use crate::error::Error;
use crate::graphql::accounts::inputs::*;
use crate::graphql::accounts::types::{ApiKeyOut, Me, TenantOut, TenantStatusGql, UserOut};
use crate::graphql::scalars::{connection, page_request};
use crate::graphql::{CtxExt, GqlResult};
#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The caller, as its credential proves it.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        Ok(Me(ctx.actor()?.clone()))
    }

    /// Tenants, for the operator. `search` matches name, slug or billing email.
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<TenantStatusGql>,
        search: Option<String>,
    ) -> async_graphql::Result<Connection<String, TenantOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let page = page_request(first, after).gql()?;
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > 100 || s.chars().any(char::is_control))
        {
            return Err(Error::validation(
                "search",
                "must be at most 100 characters, without control characters",
            ))
            .gql();
        }
        let filter = TenantFilter {
            status: status.map(|s| match s {
                TenantStatusGql::Active => TenantStatus::Active,
                TenantStatusGql::Suspended => TenantStatus::Suspended,
            }),
            search: search.map(|s| s.trim().to_owned()),
        };
        let found = accounts::tenants::list(state, actor, filter, page)
            .await
            .gql()?;
        Ok(connection(found, |t| t.id.to_string(), TenantOut))
    }

    /// One tenant: any for the operator, only its own for a tenant credential.
    async fn tenant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<TenantOut> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = tenant_id("id", &id).gql()?;
        accounts::tenants::get(state, actor, id)
            .await
            .map(TenantOut)
            .gql()
    }

    /// Users of the caller's tenant (owners), or of any tenant (admin; filter by `tenantId`).
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, UserOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let page = page_request(first, after).gql()?;
        let found = accounts::users::list(state, actor, tenant, page)
            .await
            .gql()?;
        Ok(connection(found, |u| u.id.to_string(), UserOut::from))
    }

    /// API keys of the caller's tenant (owners), or of any tenant (admin).
    #[graphql(complexity = "crate::graphql::limits::page_cost(first, child_complexity)")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ApiKeyOut>> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let tenant = opt_tenant_id("tenantId", tenant_id.as_ref()).gql()?;
        let page = page_request(first, after).gql()?;
        let found = accounts::api_keys::list(state, actor, tenant, page)
            .await
            .gql()?;
        Ok(connection(found, |k| k.id.to_string(), ApiKeyOut::from))
    }
}

#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Exchanges an email and password for a JWT.
    async fn login(
        &self,
        ctx: &Context<'_>,
        input: LoginInput,
    ) -> async_graphql::Result<LoginPayload> {
        let state = ctx.state()?;
        let s = accounts::users::login(state, &input.email, &input.password)
            .await
            .gql()?;
        Ok(LoginPayload {
            token: s.token,
            expires_at: s.expires_at,
            user: s.user.into(),
        })
    }

    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        input: CreateTenantInput,
    ) -> async_graphql::Result<TenantPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = parse_new_tenant(input).gql()?;
        let tenant = accounts::tenants::create(state, actor, new).await.gql()?;
        Ok(TenantPayload {
            tenant: TenantOut(tenant),
        })
    }

    async fn update_tenant(
        &self,
        ctx: &Context<'_>,
        input: UpdateTenantInput,
    ) -> async_graphql::Result<TenantPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = tenant_id("id", &input.id).gql()?;
        let patch = parse_patch(&input).gql()?;
        let tenant = accounts::tenants::update(state, actor, id, patch)
            .await
            .gql()?;
        Ok(TenantPayload {
            tenant: TenantOut(tenant),
        })
    }

    /// Suspends a tenant. Its users can still sign in and read; later capabilities refuse
    /// new spending for suspended tenants.
    async fn suspend_tenant(
        &self,
        ctx: &Context<'_>,
        input: SuspendTenantInput,
    ) -> async_graphql::Result<TenantPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = tenant_id("id", &input.id).gql()?;
        let reason = input
            .reason
            .as_deref()
            .map(|r| Name::parse("reason", r, 500))
            .transpose()
            .gql()?;
        let status = TenantStatus::Suspended;
        let tenant =
            accounts::tenants::set_status(state, actor, id, status, reason.map(Name::into_inner))
                .await
                .gql()?;
        Ok(TenantPayload {
            tenant: TenantOut(tenant),
        })
    }

    async fn reactivate_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<TenantPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = tenant_id("id", &id).gql()?;
        let tenant = accounts::tenants::set_status(state, actor, id, TenantStatus::Active, None)
            .await
            .gql()?;
        Ok(TenantPayload {
            tenant: TenantOut(tenant),
        })
    }

    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> async_graphql::Result<UserPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let new = parse_new_user(input).gql()?;
        let user = accounts::users::create(state, actor, new).await.gql()?;
        Ok(UserPayload { user: user.into() })
    }

    async fn update_user_role(
        &self,
        ctx: &Context<'_>,
        input: UpdateUserRoleInput,
    ) -> async_graphql::Result<UserPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = user_id(&input.user_id).gql()?;
        let user = accounts::users::set_role(state, actor, id, input.role.into())
            .await
            .gql()?;
        Ok(UserPayload { user: user.into() })
    }

    async fn remove_user(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<RemoveUserPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = self::user_id(&user_id).gql()?;
        let removed = accounts::users::remove(state, actor, id).await.gql()?;
        Ok(RemoveUserPayload {
            removed_user_id: ID(removed.to_string()),
        })
    }

    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let name = Name::parse("name", &input.name, 200).gql()?;
        let tenant = opt_tenant_id("tenantId", input.tenant_id.as_ref()).gql()?;
        let (key, secret) = accounts::api_keys::create(state, actor, name, tenant)
            .await
            .gql()?;
        Ok(CreateApiKeyPayload {
            api_key: key.into(),
            secret,
        })
    }

    /// Revokes a key at once; requests with it get `UNAUTHENTICATED`.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ApiKeyPayload> {
        let (state, actor) = (ctx.state()?, ctx.actor()?);
        let id = ApiKeyId::parse("id", &id).gql()?;
        let key = accounts::api_keys::revoke(state, actor, id).await.gql()?;
        Ok(ApiKeyPayload {
            api_key: key.into(),
        })
    }
}
