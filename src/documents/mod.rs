//! Invoice and credit-note PDFs: load the document, its tenant and the operator's details,
//! check the caller may see it, and render it in the tenant's language (`render.rs` lays out,
//! `format.rs` and `i18n.rs` write the text). `links.rs` signs the `pdfUrl` links.
pub mod format;
pub mod i18n;
pub mod links;
pub mod render;
mod widths;

use crate::auth::Actor;
use crate::config::Config;
use crate::domain::{
    CreditNote, CreditNoteId, CreditNoteStatus, Invoice, InvoiceId, InvoiceStatus, Money, Tenant,
};
use crate::error::{Error, OptionExt, Result};
use crate::state::AppState;
use crate::store::{self, TenantScope};
use format::Lang;
use render::{Document, Party, Row, Stamp, Tone};

pub use links::{Kind, LinkError};

/// A rendered document: its bytes and a file name for `Content-Disposition` or an attachment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdf {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// Which rows `actor` may read; `None` is the system (jobs, emails) and reads any.
fn scope(actor: Option<&Actor>) -> Result<TenantScope> {
    match actor {
        None => Ok(TenantScope::Any),
        Some(actor) => actor.scope(None),
    }
}

/// The PDF of an invoice. A tenant gets only its own (another's is `NOT_FOUND`); an operator,
/// or the system (`actor: None`), any.
pub async fn invoice_pdf(state: &AppState, actor: Option<&Actor>, id: InvoiceId) -> Result<Pdf> {
    let invoice = store::invoicing::find(&state.db, scope(actor)?, id)
        .await?
        .or_not_found("invoice")?;
    let tenant = tenant_of(state, &invoice).await?;
    let doc = invoice_document(&invoice, &tenant, &state.config);
    let name = invoice
        .number
        .clone()
        .unwrap_or_else(|| invoice.id.to_string());
    Ok(Pdf {
        filename: format!("invoice-{name}.pdf"),
        bytes: render_blocking(doc).await?,
    })
}

/// The PDF of a credit note, with the same rules as [`invoice_pdf`].
pub async fn credit_note_pdf(
    state: &AppState,
    actor: Option<&Actor>,
    id: CreditNoteId,
) -> Result<Pdf> {
    let scope = scope(actor)?;
    let note = store::payments::credit_notes::find(&state.db, id)
        .await?
        .filter(|n| match scope {
            TenantScope::Any => true,
            TenantScope::Only(t) => n.tenant_id == t,
        })
        .or_not_found("credit note")?;
    let invoice = store::invoicing::find(&state.db, TenantScope::Any, note.invoice_id)
        .await?
        .or_not_found("invoice")?;
    let tenant = tenant_of(state, &invoice).await?;
    let doc = credit_note_document(&note, &invoice, &tenant, &state.config);
    Ok(Pdf {
        filename: format!("credit-note-{}.pdf", note.number),
        bytes: render_blocking(doc).await?,
    })
}

/// The signed `pdfUrl` of a document, valid for `BILLING_PDF_LINK_TTL_SECS` from now.
pub fn pdf_url(config: &Config, kind: Kind, id: &str) -> String {
    links::signed_url(config, kind, id, chrono::Utc::now().timestamp())
}

/// Checks a signed link against the wall clock.
pub fn verify_link(
    config: &Config,
    kind: Kind,
    id: &str,
    expires: i64,
    signature: &str,
) -> std::result::Result<(), LinkError> {
    links::verify(
        config,
        kind,
        id,
        expires,
        signature,
        chrono::Utc::now().timestamp(),
    )
}

async fn tenant_of(state: &AppState, invoice: &Invoice) -> Result<Tenant> {
    store::accounts::tenants::find(&state.db, invoice.tenant_id)
        .await?
        .or_not_found("tenant")
}

/// Layout is CPU work: it runs off the async workers.
async fn render_blocking(doc: Document) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || render::render(&doc))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)
}

/// The bytes of a document, in-process (benches and tests of the layout).
pub fn render_pdf(doc: &Document) -> Result<Vec<u8>> {
    render::render(doc).map_err(Error::internal)
}

fn operator(config: &Config, heading: &str, lang: Lang) -> Party {
    let l = i18n::labels(lang);
    let lines = [
        config.operator_legal_name.clone(),
        format!("{}: {}", l.tax_id, config.operator_tax_id),
        config.operator_address.clone(),
        config.operator_email.clone(),
    ];
    Party {
        heading: heading.to_owned(),
        lines: lines.into_iter().filter(|s| !s.trim().is_empty()).collect(),
    }
}

fn customer(tenant: &Tenant, heading: &str) -> Party {
    Party {
        heading: heading.to_owned(),
        lines: vec![tenant.name.clone(), tenant.billing_email.clone()],
    }
}

/// What an invoice's PDF shows, in its tenant's language.
pub fn invoice_document(invoice: &Invoice, tenant: &Tenant, config: &Config) -> Document {
    let lang = Lang::of_locale(&tenant.locale);
    let l = i18n::labels(lang);
    let money = |minor: i64| format::money(invoice.money(minor), lang);
    let mut facts = Vec::new();
    if let Some(at) = invoice.issued_at {
        facts.push((l.issued.to_owned(), format::date(at, lang)));
    }
    if let Some(at) = invoice.due_at {
        facts.push((l.due.to_owned(), format::date(at, lang)));
    }
    facts.push((
        l.period.to_owned(),
        format::period(invoice.period_start, invoice.period_end, lang),
    ));
    let (stamp, status) = match invoice.status {
        InvoiceStatus::Paid => (Some((l.paid, Tone::Good)), l.paid),
        InvoiceStatus::Void => (Some((l.void, Tone::Bad)), l.void),
        InvoiceStatus::Draft => (Some((l.draft, Tone::Neutral)), l.draft),
        InvoiceStatus::Open => (None, l.open),
        InvoiceStatus::Uncollectible => (None, l.uncollectible),
    };
    facts.push((l.status.to_owned(), status.to_owned()));
    let rows = invoice
        .lines
        .iter()
        .map(|line| Row {
            description: line.description.clone(),
            quantity: format::quantity(line.quantity, lang),
            unit_price: format::money(line.unit_amount, lang),
            amount: format::money(line.amount, lang),
        })
        .collect();
    let mut totals = vec![(l.subtotal.to_owned(), money(invoice.subtotal))];
    if invoice.discount != 0 {
        totals.push((l.discount.to_owned(), money(-invoice.discount)));
    }
    totals.extend([
        (l.total.to_owned(), money(invoice.total)),
        (l.amount_paid.to_owned(), money(invoice.amount_paid)),
        (l.amount_due.to_owned(), money(amount_due(invoice))),
    ]);
    let number = invoice.number.clone().unwrap_or_else(|| "—".into());
    Document {
        key: format!("invoice:{}", invoice.id),
        title: l.invoice.to_owned(),
        number,
        number_label: l.number.to_owned(),
        stamp: stamp.map(|(text, tone)| Stamp {
            text: text.to_owned(),
            tone,
        }),
        from: operator(config, l.from, lang),
        to: customer(tenant, l.bill_to),
        facts,
        columns: [l.description, l.quantity, l.unit_price, l.amount].map(str::to_owned),
        rows,
        totals,
        page_words: (l.page.to_owned(), l.of.to_owned()),
    }
}

/// What is still owed: nothing on a paid or void invoice, else what is due less what was paid.
fn amount_due(invoice: &Invoice) -> i64 {
    match invoice.status {
        InvoiceStatus::Paid | InvoiceStatus::Void => 0,
        _ => (invoice.amount_due - invoice.amount_paid).max(0),
    }
}

/// What a credit note's PDF shows: the invoice it refunds, the reason and the amount.
pub fn credit_note_document(
    note: &CreditNote,
    invoice: &Invoice,
    tenant: &Tenant,
    config: &Config,
) -> Document {
    let lang = Lang::of_locale(&tenant.locale);
    let l = i18n::labels(lang);
    let amount = format::money(Money::new(note.amount_minor, note.currency), lang);
    let status = match note.status {
        CreditNoteStatus::Pending => l.refund_pending,
        CreditNoteStatus::Succeeded => l.refunded,
        CreditNoteStatus::Failed => l.refund_failed,
    };
    let invoice_number = invoice
        .number
        .clone()
        .unwrap_or_else(|| invoice.id.to_string());
    Document {
        key: format!("credit_note:{}", note.id),
        title: l.credit_note.to_owned(),
        number: note.number.clone(),
        number_label: l.number.to_owned(),
        stamp: None,
        from: operator(config, l.from, lang),
        to: customer(tenant, l.bill_to),
        facts: vec![
            (l.date.to_owned(), format::date(note.created_at, lang)),
            (l.refers_to.to_owned(), invoice_number.clone()),
            (l.reason.to_owned(), note.reason.clone()),
            (l.status.to_owned(), status.to_owned()),
        ],
        columns: [l.description, l.quantity, l.unit_price, l.amount].map(str::to_owned),
        rows: vec![Row {
            description: format!("{} {invoice_number}", l.refund_of),
            quantity: format::quantity(1, lang),
            unit_price: amount.clone(),
            amount: amount.clone(),
        }],
        totals: vec![(l.credited.to_owned(), amount)],
        page_words: (l.page.to_owned(), l.of.to_owned()),
    }
}
