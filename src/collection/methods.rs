//! The tenant's provider customer and saved cards. A card is saved by Stripe.js with a
//! SetupIntent's client secret; `setup_intent.succeeded` tells us, and the card becomes the
//! default and collects whatever is open.
use crate::accounts;
use crate::auth::Actor;
use crate::domain::{PaymentMethod, PaymentMethodId, Role, TenantId};
use crate::error::{OptionExt, Result};
use crate::payments::{CustomerRequest, SetupSession};
use crate::state::AppState;
use crate::store;

/// Who may see and change a tenant's cards: its owner and billing users, and the admin.
const MANAGERS: &[Role] = &[Role::Owner, Role::Billing];

/// The tenant's provider customer, made on first need. The provider request's idempotency key
/// derives from the tenant, so two first needs at once make one customer.
pub(crate) async fn ensure_customer(state: &AppState, tenant: TenantId) -> Result<String> {
    if let Some(customer) = store::payments::customer_of(&state.db, tenant).await? {
        return Ok(customer);
    }
    let t = accounts::tenants::active(state, None, tenant).await?;
    let customer = state
        .payments
        .create_customer(&CustomerRequest {
            tenant,
            name: &t.name,
            email: Some(&t.billing_email),
        })
        .await?;
    store::payments::save_customer(&state.db, tenant, &customer, state.clock.now()).await
}

/// A SetupIntent for the SPA to save a card with Stripe.js.
pub async fn create_payment_method_setup(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
) -> Result<SetupSession> {
    actor.require_role(MANAGERS)?;
    let tenant = actor.tenant_for(tenant)?;
    let customer = ensure_customer(state, tenant).await?;
    // Each call is a new setup: the key only guards this request's own retries.
    let key = format!("setup:{tenant}:{}", uuid::Uuid::new_v4().simple());
    state.payments.create_setup(&customer, &key).await
}

pub async fn payment_methods(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
) -> Result<Vec<PaymentMethod>> {
    actor.require_role(MANAGERS)?;
    let tenant = actor.tenant_for(tenant)?;
    store::payments::methods::list(&state.db, tenant).await
}

async fn owned(state: &AppState, actor: &Actor, id: PaymentMethodId) -> Result<PaymentMethod> {
    actor.require_role(MANAGERS)?;
    // Operators act on any tenant's card; a tenant credential only on its own (another's is
    // not found, so its existence is not revealed).
    let tenant = match actor.tenant {
        Some(t) => t,
        None => store::payments::methods::tenant_of(&state.db, id)
            .await?
            .or_not_found("payment method")?,
    };
    store::payments::methods::find(&state.db, tenant, id)
        .await?
        .or_not_found("payment method")
}

/// Makes the card the default, and collects open invoices that wait for one.
pub async fn set_default_payment_method(
    state: &AppState,
    actor: &Actor,
    id: PaymentMethodId,
) -> Result<PaymentMethod> {
    let method = owned(state, actor, id).await?;
    store::payments::methods::set_default(&state.db, method.tenant_id, id).await?;
    super::collect_open_invoices(state, method.tenant_id).await?;
    Ok(PaymentMethod {
        is_default: true,
        ..method
    })
}

/// Detaches the card at the provider and forgets it; another card becomes the default.
pub async fn remove_payment_method(
    state: &AppState,
    actor: &Actor,
    id: PaymentMethodId,
) -> Result<PaymentMethod> {
    let method = owned(state, actor, id).await?;
    state.payments.detach(&method.provider_ref).await?;
    store::payments::methods::remove(&state.db, method.tenant_id, id).await?;
    Ok(method)
}

/// A card saved for `customer`: stored as its tenant's default, and open invoices are
/// collected. `false` when the customer is not one of ours.
pub(crate) async fn card_saved(
    state: &AppState,
    customer: &str,
    payment_method: &str,
) -> Result<bool> {
    let Some(tenant) = store::payments::tenant_of_customer(&state.db, customer).await? else {
        return Ok(false);
    };
    let card = state.payments.card(payment_method).await?;
    store::payments::methods::save_default(&state.db, tenant, &card, state.clock.now()).await?;
    super::collect_open_invoices(state, tenant).await?;
    Ok(true)
}
