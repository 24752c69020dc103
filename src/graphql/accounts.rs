use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::scalars::{connection, page_request};
use super::{CtxExt, GqlResult};
use crate::accounts::{self, Actor};
use crate::domain::{
    ApiKey, ApiKeyId, Currency, Email, Locale, Name, NewTenant, NewUser, Password, Role, Slug,
    Tenant, TenantFilter, TenantId, TenantPatch, TenantStatus, User, UserId,
};
use crate::error::Error;
use crate::store;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "Role")]
pub enum RoleGql {
    Admin,
    Owner,
    Billing,
    Member,
    Service,
}

impl From<Role> for RoleGql {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => RoleGql::Admin,
            Role::Owner => RoleGql::Owner,
            Role::Billing => RoleGql::Billing,
            Role::Member => RoleGql::Member,
            Role::Service => RoleGql::Service,
        }
    }
}

impl From<RoleGql> for Role {
    fn from(r: RoleGql) -> Self {
        match r {
            RoleGql::Admin => Role::Admin,
            RoleGql::Owner => Role::Owner,
            RoleGql::Billing => Role::Billing,
            RoleGql::Member => Role::Member,
            RoleGql::Service => Role::Service,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "TenantStatus")]
pub enum TenantStatusGql {
    Active,
    Suspended,
}

pub struct TenantOut(pub Tenant);

#[Object(name = "Tenant")]
impl TenantOut {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn billing_email(&self) -> &str {
        &self.0.billing_email
    }
    async fn currency(&self) -> &str {
        self.0.currency.code()
    }
    async fn locale(&self) -> &str {
        &self.0.locale
    }
    async fn status(&self) -> TenantStatusGql {
        match self.0.status {
            TenantStatus::Active => TenantStatusGql::Active,
            TenantStatus::Suspended => TenantStatusGql::Suspended,
        }
    }
    async fn suspended_reason(&self) -> Option<&str> {
        self.0.suspended_reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(SimpleObject)]
#[graphql(name = "User")]
pub struct UserOut {
    id: ID,
    tenant_id: Option<ID>,
    email: String,
    name: String,
    role: RoleGql,
    created_at: DateTime<Utc>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            id: ID(u.id.to_string()),
            tenant_id: u.tenant_id.map(|t| ID(t.to_string())),
            email: u.email,
            name: u.name,
            role: u.role.into(),
            created_at: u.created_at,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "ApiKey")]
pub struct ApiKeyOut {
    id: ID,
    /// Null for an operator-scoped key.
    tenant_id: Option<ID>,
    name: String,
    /// The first characters of the key, to recognise it.
    prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        Self {
            id: ID(k.id.to_string()),
            tenant_id: k.tenant_id.map(|t| ID(t.to_string())),
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

pub struct Me(Actor);

#[Object]
impl Me {
    async fn role(&self) -> RoleGql {
        self.0.role.into()
    }
    /// The token's subject: a user id, an API key id, or a name given when minting.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn tenant_id(&self) -> Option<ID> {
        self.0.tenant.map(|t| ID(t.to_string()))
    }
    async fn tenant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TenantOut>> {
        let Some(t) = self.0.tenant else {
            return Ok(None);
        };
        let state = ctx.state()?;
        Ok(store::tenants::find(&state.db, t)
            .await
            .gql()?
            .map(TenantOut))
    }
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserOut>> {
        let Some(id) = self.0.user else {
            return Ok(None);
        };
        let state = ctx.state()?;
        let found = accounts::users::get(state, &self.0, id).await;
        match found {
            Ok(u) => Ok(Some(u.into())),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e).gql(),
        }
    }
}

fn tenant_id(field: &str, id: &ID) -> Result<TenantId, Error> {
    Ok(TenantId::parse(field, id)?)
}

fn opt_tenant_id(field: &str, id: Option<&ID>) -> Result<Option<TenantId>, Error> {
    id.map(|i| tenant_id(field, i)).transpose()
}

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The caller, as its credential proves it.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        Ok(Me(ctx.actor()?.clone()))
    }

    /// Tenants, for the operator. `search` matches name, slug or billing email.
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
        if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
            return Err(Error::validation(
                "search",
                "must be at most 100 characters",
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

#[derive(InputObject)]
pub struct LoginInput {
    email: String,
    password: String,
}

#[derive(SimpleObject)]
pub struct LoginPayload {
    token: String,
    expires_at: DateTime<Utc>,
    user: UserOut,
}

#[derive(InputObject)]
pub struct CreateTenantInput {
    name: String,
    /// 3-63 lowercase letters, digits and hyphens; unique.
    slug: String,
    billing_email: String,
    /// ISO 4217; BRL when omitted.
    currency: Option<String>,
    /// pt-BR when omitted.
    locale: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateTenantInput {
    id: ID,
    name: Option<String>,
    slug: Option<String>,
    billing_email: Option<String>,
    currency: Option<String>,
    locale: Option<String>,
}

#[derive(InputObject)]
pub struct SuspendTenantInput {
    id: ID,
    reason: Option<String>,
}

#[derive(SimpleObject)]
pub struct TenantPayload {
    tenant: TenantOut,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    /// Required for an admin creating a tenant user; omitted by owners (their own tenant).
    tenant_id: Option<ID>,
    email: String,
    name: String,
    role: RoleGql,
    password: String,
}

#[derive(InputObject)]
pub struct UpdateUserRoleInput {
    user_id: ID,
    role: RoleGql,
}

#[derive(SimpleObject)]
pub struct UserPayload {
    user: UserOut,
}

#[derive(SimpleObject)]
pub struct RemoveUserPayload {
    removed_user_id: ID,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    name: String,
    /// Admin: the tenant to scope the key to; omitted, an operator key. Owners: their own.
    tenant_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    api_key: ApiKeyOut,
    /// The key itself (`bk_...`). Shown only here: it is stored hashed.
    secret: String,
}

#[derive(SimpleObject)]
pub struct ApiKeyPayload {
    api_key: ApiKeyOut,
}

fn parse_new_tenant(i: CreateTenantInput) -> Result<NewTenant, Error> {
    Ok(NewTenant {
        name: Name::parse("name", &i.name, 200)?,
        slug: Slug::parse("slug", &i.slug)?,
        billing_email: Email::parse("billingEmail", &i.billing_email)?,
        currency: match i.currency {
            Some(c) => Currency::parse("currency", &c)?,
            None => Currency::BRL,
        },
        locale: Locale::parse("locale", i.locale.as_deref().unwrap_or("pt-BR"))?,
    })
}

fn parse_patch(i: &UpdateTenantInput) -> Result<TenantPatch, Error> {
    Ok(TenantPatch {
        name: i
            .name
            .as_deref()
            .map(|v| Name::parse("name", v, 200))
            .transpose()?,
        slug: i
            .slug
            .as_deref()
            .map(|v| Slug::parse("slug", v))
            .transpose()?,
        billing_email: i
            .billing_email
            .as_deref()
            .map(|v| Email::parse("billingEmail", v))
            .transpose()?,
        currency: i
            .currency
            .as_deref()
            .map(|v| Currency::parse("currency", v))
            .transpose()?,
        locale: i
            .locale
            .as_deref()
            .map(|v| Locale::parse("locale", v))
            .transpose()?,
    })
}

fn parse_new_user(i: CreateUserInput) -> Result<NewUser, Error> {
    Ok(NewUser {
        tenant_id: opt_tenant_id("tenantId", i.tenant_id.as_ref())?,
        email: Email::parse("email", &i.email)?,
        name: Name::parse("name", &i.name, 200)?,
        role: i.role.into(),
        password: Password::parse("password", &i.password)?,
    })
}

fn user_id(id: &ID) -> Result<UserId, Error> {
    Ok(UserId::parse("userId", id)?)
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
