//! Buying credit packs. A purchase is a pending top-up plus an invoice for the pack, handed to
//! the payment provider; the invoice being paid completes the top-up, which credits the wallet
//! exactly once.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use super::{Move, entry, move_balance};
use crate::auth::Actor;
use crate::domain::NewInvoice;
use crate::domain::NewWebhookEvent;
use crate::domain::keys::{invoice_source, ledger_key};
use crate::domain::{
    BillingReason, Code, CreditNoteId, CreditTopup, Credits, IdempotentOperation, Invoice,
    InvoiceStatus, Keyed, LedgerEntry, LedgerKind, LineKind, NewLine, NewNotification, Page,
    PageRequest, Role, TenantId, TopupId, TopupSource, TopupStatus,
};
use crate::error::{ConflictReason, Error, OptionExt, Result};
use crate::payments::CheckoutRequest;
use crate::state::{AppState, InvoiceHook, InvoiceHooks};
use crate::store::{self, TenantScope};
use crate::{invoicing, pricing};

/// Creates a pending top-up for the current version of a pack and its invoice, and asks the
/// payment provider for payment. With the manual provider the admin confirms it. With a key, a
/// replay returns the first top-up and invoice (read again), and buys nothing.
#[tracing::instrument(skip_all, fields(pack = pack_code.as_str()))]
pub async fn purchase_credit_pack(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    pack_code: Code,
    key: Option<String>,
) -> Result<Purchase> {
    let (topup, invoice) = buy(state, actor, tenant, pack_code, key).await?;
    let checkout_url = checkout(state, &topup, &invoice).await?;
    Ok(Purchase {
        topup,
        invoice,
        checkout_url,
    })
}

/// What a purchase made, and where the buyer pays it when a card processor is configured.
#[derive(Clone, Debug)]
pub struct Purchase {
    pub topup: CreditTopup,
    pub invoice: Invoice,
    pub checkout_url: Option<String>,
}

/// A Checkout Session for the pack's invoice, while it waits for payment. Its key derives from
/// the top-up, so a replayed purchase answers the same session. The top-up is credited when
/// Stripe reports the session paid (`collection::webhooks`).
async fn checkout(
    state: &AppState,
    topup: &CreditTopup,
    invoice: &Invoice,
) -> Result<Option<String>> {
    if !state.payments.charges_cards()
        || topup.status != TopupStatus::Pending
        || invoice.status != InvoiceStatus::Open
    {
        return Ok(None);
    }
    let base = state.config.public_url.trim_end_matches('/');
    let success = format!("{base}/credits?checkout=success&topup={}", topup.id);
    let cancel = format!("{base}/credits?checkout=cancel&topup={}", topup.id);
    let description = invoice
        .lines
        .first()
        .map_or_else(|| "Credit pack".to_owned(), |l| l.description.clone());
    let session = state
        .payments
        .create_checkout(&CheckoutRequest {
            invoice,
            description: &description,
            success_url: &success,
            cancel_url: &cancel,
            idempotency_key: &format!("checkout:{}", topup.id),
        })
        .await?;
    Ok(Some(session.url))
}

async fn buy(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    pack_code: Code,
    key: Option<String>,
) -> Result<(CreditTopup, Invoice)> {
    actor.require_role(&[Role::Owner, Role::Billing])?;
    let tenant =
        super::wallet::spending_tenant(state, actor, tenant, super::wallet::Spending::Purchase)
            .await?;
    let keyed = key.map(|k| {
        Keyed::new(
            IdempotentOperation::PurchaseCreditPack,
            k,
            &[("packCode", Some(pack_code.as_str()))],
        )
    });
    let keyed = keyed.as_ref();
    if let Some(first) = first_purchase(&state.db, tenant, keyed).await? {
        return Ok(first);
    }
    let pack = store::catalog::find_pack(&state.db, pack_code.as_str())
        .await?
        .or_not_found("credit pack")?;
    let now = state.clock.now();
    let id = TopupId::new();
    let line = NewLine {
        description: format!("{}: {} credits", pack.name, pack.credits),
        quantity: 1,
        unit_amount_minor: pack.price.amount_minor,
        amount_minor: pack.price.amount_minor,
        period_start: now,
        period_end: now,
        kind: LineKind::Manual,
    };
    let totals = pricing::invoice_totals(&[line.amount_minor], None)
        .ok_or_else(|| Error::internal("pack invoice overflow"))?;
    let txn = state.db.begin().await?;
    store::accounts::tenants::lock(&txn, tenant).await?;
    // Under the tenant lock: a concurrent copy of this request that committed first is seen.
    if let Some(first) = first_purchase(&txn, tenant, keyed).await? {
        txn.rollback().await?;
        return Ok(first);
    }
    let invoice = invoicing::issue(
        &txn,
        state,
        NewInvoice {
            tenant,
            subscription: None,
            billing_reason: BillingReason::CreditPack,
            cycle: None,
            currency: pack.price.currency,
            totals,
            coupon_code: None,
            period_start: now,
            period_end: now,
            source_key: Some(invoice_source::topup(id)),
            lines: vec![line],
            now,
        },
        now,
    )
    .await?
    .ok_or_else(|| Error::internal("a new top-up's invoice key already exists"))?;
    let source = match state.payments.name() {
        "stripe" => TopupSource::Stripe,
        _ => TopupSource::Manual,
    };
    let topup = CreditTopup {
        id,
        tenant_id: tenant,
        pack_id: Some(pack.id),
        credits: pack.credits,
        amount: Some(pack.price),
        source,
        payment_id: None,
        invoice_id: Some(invoice.id),
        status: TopupStatus::Pending,
        reason: None,
        created_at: now,
        completed_at: None,
    };
    store::credits::topups::insert(&txn, &topup).await?;
    if let Some(keyed) = keyed
        && !store::idempotency::insert(&txn, tenant, keyed, id.0, Some(invoice.id), now).await?
    {
        // Unreachable under the tenant lock; a retry replays the winner.
        return Err(Error::conflict(
            ConflictReason::ConcurrentUpdate,
            "the same idempotency key was used at the same time; retry",
        ));
    }
    if invoice.status == InvoiceStatus::Paid {
        on_invoice_moved(&txn, state, &invoice, now).await?;
    }
    txn.commit().await?;
    invoicing::announce(state, &invoice);
    let topup = find(state, topup.id).await?;
    Ok((topup, invoice))
}

/// The top-up and invoice a keyed purchase made, if the key was used; the same key for another
/// pack is a `CONFLICT` `IDEMPOTENCY_KEY_REUSED`.
async fn first_purchase(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    keyed: Option<&Keyed>,
) -> Result<Option<(CreditTopup, Invoice)>> {
    let Some(keyed) = keyed else { return Ok(None) };
    let Some(first) = store::idempotency::find(db, tenant, keyed.operation, &keyed.key).await?
    else {
        return Ok(None);
    };
    if first.fingerprint != keyed.fingerprint {
        return Err(Error::key_reused());
    }
    let gone = || Error::internal("a purchase key's top-up or invoice is gone");
    let topup = store::credits::topups::find(db, TopupId(first.result_id))
        .await?
        .ok_or_else(gone)?;
    let invoice_id = first.invoice_id.ok_or_else(gone)?;
    let invoice = store::invoicing::find(db, TenantScope::Only(tenant), invoice_id)
        .await?
        .ok_or_else(gone)?;
    Ok(Some((topup, invoice)))
}

async fn find(state: &AppState, id: TopupId) -> Result<CreditTopup> {
    store::credits::topups::find(&state.db, id)
        .await?
        .or_not_found("top-up")
}

/// Registers what credits do when a credit-pack invoice moves.
pub fn invoice_hooks(hooks: InvoiceHooks) -> InvoiceHooks {
    hooks.on(BillingReason::CreditPack, Arc::new(TopupHook))
}

struct TopupHook;

#[async_trait]
impl InvoiceHook for TopupHook {
    async fn invoice_moved(
        &self,
        txn: &DatabaseTransaction,
        state: &AppState,
        invoice: &Invoice,
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_invoice_moved(txn, state, invoice, now).await
    }
}

/// Keeps a top-up in step with its invoice: paid completes it and credits the wallet (once:
/// the pending → completed move is conditional); void or uncollectible fails it.
async fn on_invoice_moved(
    txn: &DatabaseTransaction,
    state: &AppState,
    invoice: &Invoice,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(topup) = store::credits::topups::find_by_invoice(txn, invoice.id).await? else {
        return Ok(());
    };
    match invoice.status {
        InvoiceStatus::Paid => {
            store::credits::wallets::ensure(txn, topup.tenant_id, now).await?;
            if !store::credits::topups::finish(
                txn,
                &topup,
                TopupStatus::Completed,
                invoice.payment_reference.clone(),
                now,
            )
            .await?
            {
                return Ok(());
            }
            let mut e = entry(
                topup.tenant_id,
                LedgerKind::Topup,
                topup.credits.micro(),
                now,
            );
            e.idempotency_key = Some(ledger_key::topup(topup.id));
            e.reference = Some(topup.id.to_string());
            // Email notifications: the top-up is announced once, with the move it completes.
            let done =
                NewNotification::topup_completed(topup.tenant_id, topup.id, topup.credits, now);
            store::notify::record_once(txn, done).await?;
            match move_balance(txn, state, e, 0, 0).await? {
                Move::Done(entry, _) => {
                    // Webhooks.
                    let event = NewWebhookEvent::credits_topped_up(
                        topup.tenant_id,
                        &topup.id.to_string(),
                        topup.credits,
                        entry.balance_after,
                        now,
                    );
                    store::webhooks::emit(txn, event).await?;
                    Ok(())
                }
                Move::Duplicate => Ok(()),
                Move::Insufficient => Err(Error::internal("a top-up cannot lack credits")),
            }
        }
        InvoiceStatus::Void | InvoiceStatus::Uncollectible => {
            store::credits::topups::finish(txn, &topup, TopupStatus::Failed, None, now).await?;
            Ok(())
        }
        InvoiceStatus::Draft | InvoiceStatus::Open => Ok(()),
    }
}

/// The admin confirms a manual payment. Confirming a completed top-up again changes nothing.
#[tracing::instrument(skip_all, fields(topup = %id))]
pub async fn confirm_credit_topup(
    state: &AppState,
    actor: &Actor,
    id: TopupId,
    payment_reference: Option<String>,
) -> Result<CreditTopup> {
    actor.require_admin()?;
    let topup = store::credits::topups::find(&state.db, id)
        .await?
        .or_not_found("top-up")?;
    if topup.status == TopupStatus::Completed {
        return Ok(topup);
    }
    let invoice = topup.invoice_id.ok_or_else(|| {
        Error::conflict(
            ConflictReason::TopupWithoutInvoice,
            "this top-up has no invoice to pay",
        )
    })?;
    invoicing::mark_paid(state, actor, invoice, payment_reference).await?;
    store::credits::topups::find(&state.db, id)
        .await?
        .or_not_found("top-up")
}

pub async fn list_topups(
    state: &AppState,
    actor: &Actor,
    tenant: Option<TenantId>,
    page: PageRequest,
) -> Result<Page<CreditTopup>> {
    let scope = actor.scope(tenant)?;
    store::credits::topups::list(&state.db, scope, page).await
}

/// Takes back, in `txn`, the credits a refund of a credit-pack invoice covers: the pack's
/// credits in proportion to the money refunded (`credits * amount / paid`), capped at the
/// balance so it never goes below zero. Credits already spent are not recovered: the rest of
/// the refund is money only. The entry is a `revoke` keyed by the credit note. Returns the
/// entry (none for an invoice that is not a pack's, or an empty wallet), for the caller to
/// [`announce`](super::announce) after its commit.
pub(crate) async fn take_back_for_refund(
    txn: &DatabaseTransaction,
    state: &AppState,
    invoice: &Invoice,
    amount_minor: i64,
    credit_note: CreditNoteId,
    now: DateTime<Utc>,
) -> Result<Option<LedgerEntry>> {
    let Some(topup) = store::credits::topups::find_by_invoice(txn, invoice.id).await? else {
        return Ok(None);
    };
    if topup.status != TopupStatus::Completed || invoice.amount_paid <= 0 {
        return Ok(None);
    }
    let share = i128::from(topup.credits.micro()) * i128::from(amount_minor)
        / i128::from(invoice.amount_paid);
    let share = i64::try_from(share).map_err(|e| Error::internal(e))?;
    store::credits::wallets::ensure(txn, topup.tenant_id, now).await?;
    let balance = store::credits::wallets::find(txn, topup.tenant_id)
        .await?
        .balance
        .micro();
    let take = share.min(balance.max(0));
    if take <= 0 {
        return Ok(None);
    }
    let mut e = entry(topup.tenant_id, LedgerKind::Revoke, -take, now);
    e.idempotency_key = Some(ledger_key::refund(credit_note));
    e.reference = Some(credit_note.to_string());
    match move_balance(txn, state, e, 0, take).await? {
        Move::Done(entry, _) => Ok(Some(entry)),
        Move::Duplicate => Err(Error::internal("a credit note took credits back twice")),
        Move::Insufficient => Err(Error::internal("the balance moved under the tenant lock")),
    }
}

/// Gives back, in `txn`, the credits a credit note took when its refund failed: the money
/// stayed with us, so the credits stay with the buyer. One `grant` entry keyed by the credit
/// note, so it happens once. Returns the entry when it was written, for the caller to
/// [`announce`](super::announce) after its commit.
pub(crate) async fn give_back_for_failed_refund(
    txn: &DatabaseTransaction,
    state: &AppState,
    tenant: TenantId,
    credits: Credits,
    credit_note: CreditNoteId,
    now: DateTime<Utc>,
) -> Result<Option<LedgerEntry>> {
    if credits.micro() <= 0 {
        return Ok(None);
    }
    store::credits::wallets::ensure(txn, tenant, now).await?;
    let mut e = entry(tenant, LedgerKind::Grant, credits.micro(), now);
    e.idempotency_key = Some(ledger_key::refund_failed(credit_note));
    e.reference = Some(credit_note.to_string());
    match move_balance(txn, state, e, 0, 0).await? {
        Move::Done(entry, _) => Ok(Some(entry)),
        Move::Duplicate => Ok(None),
        Move::Insufficient => Err(Error::internal("a grant cannot lack credits")),
    }
}
