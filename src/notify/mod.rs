//! Notifications. Rows are recorded now, in the transaction of the event that caused them;
//! sending them by email comes with the mailer.
use crate::auth::Actor;
use crate::domain::{Notification, Page, PageRequest, TenantId};
use crate::error::Result;
use crate::state::AppState;
use crate::store;

/// A tenant's notifications, or everyone's for the operator.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    page: PageRequest,
) -> Result<Page<Notification>> {
    let scope = actor.scope(tenant)?;
    store::notify::list(&state.db, scope, page).await
}
