//! Tenants, users and API keys, as the services see them.
use chrono::{DateTime, Utc};

use super::{
    ApiKeyId, Currency, Email, Locale, Name, ParseError, Password, Slug, TenantId, UserId,
};

/// Who may do what. `Admin` and an operator-scoped `Service` act across tenants; the others are
/// bound to one tenant by their credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Owner,
    Billing,
    Member,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Billing => "billing",
            Role::Member => "member",
            Role::Service => "service",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, ParseError> {
        match raw {
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            "billing" => Ok(Role::Billing),
            "member" => Ok(Role::Member),
            "service" => Ok(Role::Service),
            _ => Err(ParseError::new(field, format!("unknown role '{raw}'"))),
        }
    }

    /// Roles a person inside a tenant can hold.
    pub fn is_tenant_role(self) -> bool {
        matches!(self, Role::Owner | Role::Billing | Role::Member)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    pub fn from_db(raw: &str) -> Self {
        if raw == "suspended" {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        }
    }
}

// Where a tenant stands after a failed collection (README "Dunning stages"). `PastDue`: from
// the first failure, while retries run. `Unpaid`: the schedule is over and an invoice is still
// unpaid; new block charges and new holds are refused. `Suspended`: some days later, the
// tenant is suspended; paid-for credits stay spendable. Paying every failed invoice lifts all.
str_enum!(DunningStage {
    PastDue = "past_due",
    Unpaid = "unpaid",
    Suspended = "suspended",
});

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub billing_email: String,
    pub currency: Currency,
    pub locale: String,
    pub status: TenantStatus,
    pub suspended_reason: Option<String>,
    pub dunning_stage: Option<DunningStage>,
    /// The first failed collection of the current dunning, from which its stages count.
    pub dunning_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewTenant {
    pub name: Name,
    pub slug: Slug,
    pub billing_email: Email,
    pub currency: Currency,
    pub locale: Locale,
}

#[derive(Clone, Debug, Default)]
pub struct TenantPatch {
    pub name: Option<Name>,
    pub slug: Option<Slug>,
    pub billing_email: Option<Email>,
    pub currency: Option<Currency>,
    pub locale: Option<Locale>,
}

#[derive(Clone, Debug)]
pub struct TenantFilter {
    pub status: Option<TenantStatus>,
    /// Matched case-insensitively against name, slug and billing email.
    pub search: Option<String>,
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub tenant_id: Option<TenantId>,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub tenant_id: Option<TenantId>,
    pub email: Email,
    pub name: Name,
    pub role: Role,
    pub password: Password,
}

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: Option<TenantId>,
    pub name: String,
    /// The first characters of the key, enough to recognise it in a list.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API key before it is stored: only the hash of its secret is kept.
pub struct NewApiKey {
    pub tenant_id: Option<TenantId>,
    pub name: Name,
    pub prefix: String,
    pub hash: String,
    pub created_by: String,
}
