//! Inputs and payloads of the accounts area, and their parsing into domain types.
use async_graphql::{ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{
    Currency, Email, Locale, Name, NewTenant, NewUser, Password, Slug, TenantId, TenantPatch,
    UserId,
};
use crate::error::Error;
use crate::graphql::accounts::types::{ApiKeyOut, RoleGql, TenantOut, UserOut};
pub(crate) fn tenant_id(field: &str, id: &ID) -> Result<TenantId, Error> {
    Ok(TenantId::parse(field, id)?)
}

pub(crate) fn opt_tenant_id(field: &str, id: Option<&ID>) -> Result<Option<TenantId>, Error> {
    id.map(|i| tenant_id(field, i)).transpose()
}

#[derive(InputObject)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

#[derive(SimpleObject)]
pub struct LoginPayload {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserOut,
}

#[derive(InputObject)]
pub struct CreateTenantInput {
    pub name: String,
    /// 3-63 lowercase letters, digits and hyphens; unique.
    pub slug: String,
    pub billing_email: String,
    /// ISO 4217; BRL when omitted.
    pub currency: Option<String>,
    /// pt-BR when omitted.
    pub locale: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateTenantInput {
    pub id: ID,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub billing_email: Option<String>,
    pub currency: Option<String>,
    pub locale: Option<String>,
}

#[derive(InputObject)]
pub struct SuspendTenantInput {
    pub id: ID,
    pub reason: Option<String>,
}

#[derive(SimpleObject)]
pub struct TenantPayload {
    pub tenant: TenantOut,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    /// Required for an admin creating a tenant user; omitted by owners (their own tenant).
    pub tenant_id: Option<ID>,
    pub email: String,
    pub name: String,
    pub role: RoleGql,
    pub password: String,
}

#[derive(InputObject)]
pub struct UpdateUserRoleInput {
    pub user_id: ID,
    pub role: RoleGql,
}

#[derive(SimpleObject)]
pub struct UserPayload {
    pub user: UserOut,
}

#[derive(SimpleObject)]
pub struct RemoveUserPayload {
    pub removed_user_id: ID,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub name: String,
    /// Admin: the tenant to scope the key to; omitted, an operator key. Owners: their own.
    pub tenant_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    pub api_key: ApiKeyOut,
    /// The key itself (`bk_...`). Shown only here: it is stored hashed.
    pub secret: String,
}

#[derive(SimpleObject)]
pub struct ApiKeyPayload {
    pub api_key: ApiKeyOut,
}

pub(crate) fn parse_new_tenant(i: CreateTenantInput) -> Result<NewTenant, Error> {
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

pub(crate) fn parse_patch(i: &UpdateTenantInput) -> Result<TenantPatch, Error> {
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

pub(crate) fn parse_new_user(i: CreateUserInput) -> Result<NewUser, Error> {
    Ok(NewUser {
        tenant_id: opt_tenant_id("tenantId", i.tenant_id.as_ref())?,
        email: Email::parse("email", &i.email)?,
        name: Name::parse("name", &i.name, 200)?,
        role: i.role.into(),
        password: Password::parse("password", &i.password)?,
    })
}

pub(crate) fn user_id(id: &ID) -> Result<UserId, Error> {
    Ok(UserId::parse("userId", id)?)
}
