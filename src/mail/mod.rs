//! Email notifications. Every notification row gets a `send_email` outbox message in the
//! transaction that records it; the outbox worker calls [`send_notification`], which renders
//! the notification in the tenant's language and sends it to each recipient not yet done with.
//! A recipient is done once the server accepted its email (`sent`) or refused it for good with
//! a 5xx (`failed`); a 4xx or an unreachable server fails the attempt, and the outbox tries
//! again later with back-off, sending only to the recipients still left.
use std::collections::HashSet;

use chrono::NaiveDate;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{Address, Message};
use sha2::{Digest, Sha256};

use crate::domain::{
    DeliveryStatus, EmailDelivery, InvoiceId, Notification, NotificationId, NotificationKind,
    Tenant, TopupId,
};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::{self, TenantScope};

pub mod preferences;
pub mod templates;
pub mod transport;

pub use preferences::{
    NotificationPreference, notification_emails, notification_preferences, update_preferences,
};
use templates::{Facts, Lang};
use transport::{Outcome, Transport};

/// Emails notification `id` to every recipient not yet done with; `attempt` is the outbox's
/// count, kept on each delivery row. An error means some recipient should be tried again.
pub async fn send_notification(state: &AppState, id: NotificationId, attempt: i32) -> Result<()> {
    let db = &state.db;
    let Some(n) = store::notify::find(db, id).await? else {
        return Ok(());
    };
    let Some(tenant) = store::accounts::tenants::find(db, n.tenant_id).await? else {
        return Ok(());
    };
    if n.kind.can_turn_off() {
        let prefs = store::mail::preferences(db, tenant.id).await?;
        if prefs.get(&n.kind) == Some(&false) {
            tracing::debug!(notification = %id, kind = n.kind.as_str(), "email turned off by the tenant");
            return Ok(());
        }
    }
    let done: HashSet<String> = store::mail::deliveries(db, id)
        .await?
        .into_iter()
        .map(|d| d.address)
        .collect();
    let todo: Vec<String> = store::mail::recipients(db, tenant.id)
        .await?
        .into_iter()
        .filter(|a| !done.contains(a))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let lang = Lang::of_locale(&tenant.locale);
    let facts = facts(state, &n, &tenant).await?;
    let rendered = templates::render(n.kind, lang, &facts);
    let attachment = attachment(state, &n).await?;
    let from: Mailbox = state
        .config
        .email_from
        .parse()
        .map_err(|e| Error::internal(format!("BILLING_EMAIL_FROM is not an address: {e}")))?;
    let transport = Transport::from_config(&state.config)?;
    let mut left = Vec::new();
    for address in todo {
        let stem = format!("{id}-{}", address_hash(&address));
        let outcome = match address.parse::<Address>() {
            Err(e) => Outcome::Rejected {
                code: None,
                error: format!("not an email address: {e}"),
            },
            Ok(to) => {
                let message = build(&from, to, &stem, lang, &rendered, attachment.as_ref())?;
                transport.send(message, &stem).await
            }
        };
        let (status, smtp_code, error) = match outcome {
            Outcome::Sent => (DeliveryStatus::Sent, None, None),
            Outcome::Rejected { code, error } => {
                tracing::warn!(notification = %id, %address, ?code, %error, "email refused for good");
                (DeliveryStatus::Failed, code.map(i32::from), Some(error))
            }
            Outcome::Retry(error) => {
                left.push(format!("{address}: {error}"));
                continue;
            }
        };
        let delivery = EmailDelivery {
            notification_id: id,
            address,
            status,
            attempts: attempt,
            smtp_code,
            last_error: error,
            updated_at: state.clock.now(),
        };
        store::mail::record_delivery(db, tenant.id, &delivery).await?;
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(Error::unavailable(format!(
            "email not delivered yet to {}",
            left.join("; ")
        )))
    }
}

/// A short, stable token for an address (in Message-IDs and file names, which should not
/// spell the address out).
fn address_hash(address: &str) -> String {
    hex::encode(&Sha256::digest(address.as_bytes())[..8])
}

fn build(
    from: &Mailbox,
    to: Address,
    stem: &str,
    lang: Lang,
    r: &templates::Rendered,
    pdf: Option<&(String, Vec<u8>)>,
) -> Result<Message> {
    let body = MultiPart::alternative_plain_html(r.text.clone(), r.html.clone());
    let body = match pdf {
        None => body,
        Some((name, bytes)) => MultiPart::mixed().multipart(body).singlepart(
            Attachment::new(name.clone()).body(
                bytes.clone(),
                ContentType::parse("application/pdf")
                    .map_err(|e| Error::internal(format!("content type: {e}")))?,
            ),
        ),
    };
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(r.subject.clone())
        // The same notification to the same address always has the same Message-ID, so a
        // resend after a lost acknowledgement can be recognised downstream.
        .message_id(Some(format!("<{stem}@billing.notifications>")))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Content-Language"),
            lang.tag().to_owned(),
        ))
        .multipart(body)
        .map_err(|e| Error::internal(format!("email could not be built: {e}")))
}

/// The invoice PDF of an `invoice_finalized` email (`documents`, as the system).
async fn attachment(state: &AppState, n: &Notification) -> Result<Option<(String, Vec<u8>)>> {
    if n.kind != NotificationKind::InvoiceFinalized {
        return Ok(None);
    }
    let Some(Ok(id)) = n
        .reference
        .as_deref()
        .map(|r| InvoiceId::parse("reference", r))
    else {
        return Ok(None);
    };
    let pdf = crate::documents::invoice_pdf(state, None, id).await?;
    Ok(Some((pdf.filename, pdf.bytes)))
}

/// What the templates show, read now from the rows the notification points to.
async fn facts(state: &AppState, n: &Notification, tenant: &Tenant) -> Result<Facts> {
    let db = &state.db;
    let base = state.config.public_url.trim_end_matches('/');
    let scope = TenantScope::Only(tenant.id);
    let invoice = match n
        .reference
        .as_deref()
        .map(|r| InvoiceId::parse("reference", r))
    {
        Some(Ok(id)) => store::invoicing::find(db, scope, id).await?,
        _ => None,
    };
    let mut f = Facts {
        tenant_name: tenant.name.clone(),
        ..Facts::default()
    };
    if let Some(inv) = &invoice {
        f.invoice_number = inv.number.clone();
        f.due_date = inv.due_at.map(|d| d.date_naive());
        f.amount = Some(inv.money(match n.kind {
            NotificationKind::PaymentSucceeded => inv.amount_paid,
            NotificationKind::InvoiceFinalized => inv.total,
            _ => inv.amount_due,
        }));
    }
    let invoice_id = invoice
        .as_ref()
        .map(|i| i.id.to_string())
        .unwrap_or_default();
    f.link = match n.kind {
        NotificationKind::InvoiceFinalized
        | NotificationKind::PaymentSucceeded
        | NotificationKind::InvoiceOverdue => format!("{base}/invoices/{invoice_id}"),
        NotificationKind::PaymentFailed | NotificationKind::PaymentMethodRequired => {
            format!("{base}/billing/payment-method?invoice={invoice_id}")
        }
        NotificationKind::PaymentActionRequired => format!("{base}/invoices/{invoice_id}/pay"),
        NotificationKind::TrialEnding => format!("{base}/subscription"),
        NotificationKind::UsageLimit80 | NotificationKind::UsageLimit100 => {
            format!("{base}/usage")
        }
        NotificationKind::LowBalance
        | NotificationKind::CreditsDepleted
        | NotificationKind::TopupCompleted => format!("{base}/credits"),
        NotificationKind::WebhookEndpointDisabled => format!("{base}/settings/webhooks"),
    };
    match n.kind {
        NotificationKind::WebhookEndpointDisabled => {
            f.endpoint_url = crate::domain::webhook_url_of(&n.message);
        }
        NotificationKind::PaymentFailed => f.date = crate::domain::next_retry_of(&n.message),
        NotificationKind::TrialEnding => f.date = first_date(&n.message),
        NotificationKind::UsageLimit80 | NotificationKind::UsageLimit100 => {
            f.metric = crate::domain::usage_metric_of(&n.message);
        }
        NotificationKind::LowBalance
        | NotificationKind::CreditsDepleted
        | NotificationKind::TopupCompleted => {
            f.balance = Some(store::credits::wallets::find(db, tenant.id).await?.balance);
            if let Some(Ok(topup)) = n
                .reference
                .as_deref()
                .map(|r| TopupId::parse("reference", r))
            {
                f.credits = store::credits::topups::find(db, topup)
                    .await?
                    .map(|t| t.credits);
            }
        }
        _ => {}
    }
    Ok(f)
}

/// The first `YYYY-MM-DD` in a message.
fn first_date(message: &str) -> Option<NaiveDate> {
    message
        .char_indices()
        .filter_map(|(i, _)| message.get(i..i + 10))
        .find_map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}
