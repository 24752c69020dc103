use crate::auth::Actor;
use crate::domain::{BillableMetric, NewBillableMetric, Page, PageRequest};
use crate::error::Result;
use crate::state::AppState;
use crate::store;

pub async fn create_metric(
    state: &AppState,
    actor: &Actor,
    new: NewBillableMetric,
) -> Result<BillableMetric> {
    actor.require_admin()?;
    store::catalog::metrics::insert(&state.db, new, state.clock.now()).await
}

pub async fn list_metrics(
    state: &AppState,
    _actor: &Actor,
    page: PageRequest,
) -> Result<Page<BillableMetric>> {
    store::catalog::metrics::list(&state.db, page).await
}
