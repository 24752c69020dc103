//! Output types of the accounts area.
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::accounts;
use crate::auth::Actor;
use crate::domain::{ApiKey, DunningStage, Role, Tenant, TenantStatus, User};
use crate::error::Error;
use crate::graphql::{CtxExt, GqlResult};
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

gql_enum!(DunningStageGql as "DunningStage" => DunningStage { PastDue, Unpaid, Suspended });

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
    /// Where the tenant stands after a failed collection; null when nothing failed is owed.
    async fn dunning_stage(&self) -> Option<DunningStageGql> {
        self.0.dunning_stage.map(Into::into)
    }
    /// The first failed collection of the current dunning.
    async fn dunning_since(&self) -> Option<DateTime<Utc>> {
        self.0.dunning_since
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
    pub id: ID,
    pub tenant_id: Option<ID>,
    pub email: String,
    pub name: String,
    pub role: RoleGql,
    pub created_at: DateTime<Utc>,
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
    pub id: ID,
    /// Null for an operator-scoped key.
    pub tenant_id: Option<ID>,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
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

pub struct Me(pub Actor);

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
        Ok(crate::graphql::scalars::caller_tenant(ctx)
            .await?
            .cloned()
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
