use crate::domain::{ApiKeyId, Role, TenantId, UserId};
use crate::error::{Error, Result};
use crate::store::TenantScope;

/// The caller, as proven by its credential. The tenant comes from here, never from input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub subject: String,
    pub role: Role,
    pub tenant: Option<TenantId>,
    pub user: Option<UserId>,
    pub api_key: Option<ApiKeyId>,
    /// The tenant's cache epoch, read while authenticating this request, so the request's
    /// cached reads (tenant, live subscription) need not read it again. Valid for one request
    /// only: a long-lived holder (a WebSocket connection) clears it with [`Actor::for_connection`].
    pub cache_epoch: Option<i64>,
}

impl Actor {
    /// This actor kept beyond its request: without the epoch read for that request.
    pub fn for_connection(self) -> Self {
        Self {
            cache_epoch: None,
            ..self
        }
    }

    /// Admins and operator-scoped service keys act across tenants.
    pub fn is_operator(&self) -> bool {
        self.tenant.is_none() && matches!(self.role, Role::Admin | Role::Service)
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.role == Role::Admin && self.tenant.is_none() {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }

    pub fn require_operator(&self) -> Result<()> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }

    /// Operators pass; a tenant credential passes when its role is listed.
    pub fn require_role(&self, allowed: &[Role]) -> Result<()> {
        if self.role == Role::Admin && self.tenant.is_none() || allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }

    /// The one tenant an action applies to. Operators must name it; a tenant credential gets
    /// its own, and naming another tenant is `FORBIDDEN`.
    pub fn tenant_for(&self, requested: Option<TenantId>) -> Result<TenantId> {
        match (self.tenant, requested) {
            (Some(own), Some(asked)) if own != asked => Err(Error::forbidden()),
            (Some(own), _) => Ok(own),
            (None, Some(asked)) if self.is_operator() => Ok(asked),
            (None, None) if self.is_operator() => Err(Error::validation(
                "tenantId",
                "required for operator credentials",
            )),
            (None, _) => Err(Error::forbidden()),
        }
    }

    /// Which rows a listing may show: all (operators without a filter), or one tenant.
    pub fn scope(&self, requested: Option<TenantId>) -> Result<TenantScope> {
        match (self.tenant, requested) {
            (None, None) if self.is_operator() => Ok(TenantScope::Any),
            _ => self.tenant_for(requested).map(TenantScope::Only),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, tenant: Option<TenantId>) -> Actor {
        Actor {
            subject: "t".into(),
            role,
            tenant,
            user: None,
            api_key: None,
            cache_epoch: None,
        }
    }

    #[test]
    fn a_tenant_credential_cannot_name_another_tenant() {
        let (mine, other) = (TenantId::new(), TenantId::new());
        let owner = actor(Role::Owner, Some(mine));
        assert_eq!(owner.tenant_for(None).ok(), Some(mine));
        assert_eq!(owner.tenant_for(Some(mine)).ok(), Some(mine));
        assert!(matches!(
            owner.tenant_for(Some(other)),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(owner.scope(Some(other)), Err(Error::Forbidden(_))));
        assert_eq!(owner.scope(None).ok(), Some(TenantScope::Only(mine)));
    }

    #[test]
    fn operators_name_the_tenant_and_list_across_tenants() {
        let t = TenantId::new();
        let admin = actor(Role::Admin, None);
        assert_eq!(admin.tenant_for(Some(t)).ok(), Some(t));
        assert!(matches!(
            admin.tenant_for(None),
            Err(Error::Validation { .. })
        ));
        assert_eq!(admin.scope(None).ok(), Some(TenantScope::Any));
        let tenant_service = actor(Role::Service, Some(t));
        assert!(!tenant_service.is_operator());
        assert!(tenant_service.require_admin().is_err());
    }

    #[test]
    fn members_cannot_do_what_needs_an_owner() {
        let member = actor(Role::Member, Some(TenantId::new()));
        assert!(member.require_role(&[Role::Owner]).is_err());
        assert!(member.require_role(&[Role::Owner, Role::Member]).is_ok());
        assert!(
            actor(Role::Admin, None)
                .require_role(&[Role::Owner])
                .is_ok()
        );
    }
}
