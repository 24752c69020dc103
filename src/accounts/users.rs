//! Users and sign-in. An owner manages the users of its tenant; the operator manages all, and
//! its own admin users (users with no tenant).
use sea_orm::{DatabaseTransaction, TransactionTrait};

use crate::auth::{Actor, hash_password, verify_password};
use crate::domain::{Email, NewUser, Page, PageRequest, Password, Role, TenantId, User, UserId};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::state::AppState;
use crate::store;

pub struct Session {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub user: User,
}

pub async fn login(state: &AppState, email: &str, password: &str) -> Result<Session> {
    let denied = || Error::Unauthenticated("invalid email or password".into());
    let throttle = LoginThrottle::new(state, email);
    throttle.check().await?;
    // Malformed input is answered like a wrong password, so the reply says nothing about accounts.
    let email = Email::parse("email", email).ok();
    let found = match &email {
        Some(e) => store::accounts::users::find_for_login(&state.db, e.as_str()).await?,
        None => None,
    };
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), Some(h)),
        None => (None, None),
    };
    let verified = verify_password(password.to_owned(), hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        throttle.record_failure().await;
        return Err(denied());
    };
    throttle.clear().await;
    let (token, expires_at) = state.auth.mint(
        &user.id.to_string(),
        user.role,
        user.tenant_id,
        state.clock.now(),
    )?;
    Ok(Session {
        token,
        expires_at,
        user,
    })
}

/// Counts failed sign-ins per email (hashed, so no address sits in the cache) in a fixed
/// window; past the limit even the right password gets `RATE_LIMITED` until the window ends.
/// While Redis is away the failures are counted in this process (the cache's fallback), so
/// throttling never turns off; those counted in-process still count once Redis is back.
struct LoginThrottle<'a> {
    state: &'a AppState,
    key: String,
}

impl<'a> LoginThrottle<'a> {
    fn new(state: &'a AppState, email: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
        Self {
            state,
            key: format!("login-failures:{}", hex::encode(digest)),
        }
    }

    async fn check(&self) -> Result<()> {
        let failures = match self.state.cache.counter(&self.key).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "login throttle unavailable");
                0
            }
        };
        if failures >= self.state.config.login_max_failures {
            return Err(Error::RateLimited(
                "too many failed sign-ins for this email; try again later".into(),
            ));
        }
        Ok(())
    }

    async fn record_failure(&self) {
        let window = std::time::Duration::from_secs(self.state.config.login_window_seconds);
        if let Err(e) = self.state.cache.increment(&self.key, window).await {
            tracing::warn!(error = %e, "login throttle unavailable");
        }
    }

    async fn clear(&self) {
        if let Err(e) = self.state.cache.delete(&self.key).await {
            tracing::warn!(error = %e, "login throttle unavailable");
        }
    }
}

/// Checks that `actor` may give `role` to a user of `tenant` (None: an operator user).
fn check_assignable(actor: &Actor, tenant: Option<TenantId>, role: Role) -> Result<()> {
    match tenant {
        Some(_) if !role.is_tenant_role() => Err(Error::validation(
            "role",
            "a tenant user's role must be owner, billing or member",
        )),
        None if role != Role::Admin => Err(Error::validation(
            "role",
            "operator users must have the admin role",
        )),
        None => actor.require_admin(),
        Some(_) => Ok(()),
    }
}

pub async fn create(state: &AppState, actor: &Actor, new: NewUser) -> Result<User> {
    actor.require_role(&[Role::Owner])?;
    let tenant = match (actor.is_operator(), new.tenant_id) {
        (true, None) => None,
        _ => Some(actor.tenant_for(new.tenant_id)?),
    };
    check_assignable(actor, tenant, new.role)?;
    if let Some(t) = tenant {
        store::accounts::tenants::find(&state.db, t)
            .await?
            .or_not_found("tenant")?;
    }
    let hash = hash_password(new.password.as_str().to_owned()).await?;
    let new = NewUser {
        tenant_id: tenant,
        ..new
    };
    store::accounts::users::insert(&state.db, new, hash, state.clock.now()).await
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    page: PageRequest,
) -> Result<Page<User>> {
    actor.require_role(&[Role::Owner])?;
    store::accounts::users::list(&state.db, actor.scope(tenant)?, page).await
}

pub async fn get(state: &AppState, actor: &Actor, id: UserId) -> Result<User> {
    store::accounts::users::find(&state.db, actor.scope(None)?, id)
        .await?
        .or_not_found("user")
}

/// Changes a user's role. The last owner of a tenant cannot stop being one.
pub async fn set_role(state: &AppState, actor: &Actor, id: UserId, role: Role) -> Result<User> {
    actor.require_role(&[Role::Owner])?;
    let scope = actor.scope(None)?;
    let now = state.clock.now();
    let (txn, user) = begin_locked(state, scope, id).await?;
    check_assignable(actor, user.tenant_id, role)?;
    ensure_not_last_owner(&txn, &user, Some(role)).await?;
    let updated = store::accounts::users::set_role(&txn, scope, id, role, now).await?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn remove(state: &AppState, actor: &Actor, id: UserId) -> Result<UserId> {
    actor.require_role(&[Role::Owner])?;
    let scope = actor.scope(None)?;
    let (txn, user) = begin_locked(state, scope, id).await?;
    if user.tenant_id.is_none() {
        actor.require_admin()?;
    }
    ensure_not_last_owner(&txn, &user, None).await?;
    store::accounts::users::delete(&txn, scope, id).await?;
    txn.commit().await?;
    Ok(id)
}

/// Opens a transaction that holds the user's tenant row locked, then reads the user inside
/// it. The lock is the transaction's first statement, so changes to one tenant's users run one
/// after another on PostgreSQL, and SQLite takes its write lock before any read snapshot.
async fn begin_locked(
    state: &AppState,
    scope: store::TenantScope,
    id: UserId,
) -> Result<(DatabaseTransaction, User)> {
    let user = store::accounts::users::find(&state.db, scope, id)
        .await?
        .or_not_found("user")?;
    let txn = state.db.begin().await?;
    if let Some(tenant) = user.tenant_id {
        store::accounts::tenants::lock(&txn, tenant).await?;
    }
    let user = store::accounts::users::find(&txn, scope, id)
        .await?
        .or_not_found("user")?;
    Ok((txn, user))
}

async fn ensure_not_last_owner(
    db: &impl sea_orm::ConnectionTrait,
    user: &User,
    new_role: Option<Role>,
) -> Result<()> {
    let (Some(tenant), Role::Owner) = (user.tenant_id, user.role) else {
        return Ok(());
    };
    if new_role == Some(Role::Owner) {
        return Ok(());
    }
    if store::accounts::users::count_with_role(db, tenant, Role::Owner).await? <= 1 {
        return Err(Error::conflict(
            ConflictReason::LastOwner,
            "a tenant must keep at least one owner",
        ));
    }
    Ok(())
}

/// Sets a user's password (used by `billing demo` to print a fresh password).
pub async fn reset_password(state: &AppState, id: UserId, password: Password) -> Result<()> {
    let hash = hash_password(password.into_inner()).await?;
    store::accounts::users::set_password_hash(&state.db, id, hash, state.clock.now()).await
}
