//! `GET /invoices/{id}/pdf` and `GET /credit-notes/{id}/pdf`: a document's PDF, for the same
//! bearer credential as `/graphql` (a tenant reads only its own; another's is 404), or for a
//! signed link (`?expires=..&signature=..`, from `pdfUrl`) that needs no header. Refusals use
//! the JSON error shape: `VALIDATION` (400) for a malformed id, `UNAUTHENTICATED` (401),
//! `LINK_EXPIRED` or `LINK_INVALID` (403), `NOT_FOUND` (404).
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::HttpState;
use super::errors::error_response;
use super::graphql::authenticate;
use crate::auth::Actor;
use crate::documents::{self, Kind, LinkError, Pdf};
use crate::domain::{CreditNoteId, InvoiceId};
use crate::error::Error;
use crate::graphql::Credential;

/// The signed-link parameters; both or neither.
#[derive(Debug, Default, Deserialize)]
pub struct LinkParams {
    expires: Option<String>,
    signature: Option<String>,
}

pub async fn invoice(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    Query(link): Query<LinkParams>,
    headers: HeaderMap,
) -> Response {
    let Ok(invoice) = InvoiceId::parse("id", &id) else {
        return malformed("an invoice id (inv_…)");
    };
    let actor = match caller(&s, Kind::Invoice, &id, &link, &headers).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal,
    };
    respond(documents::invoice_pdf(&s.app, actor.as_ref(), invoice).await)
}

pub async fn credit_note(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    Query(link): Query<LinkParams>,
    headers: HeaderMap,
) -> Response {
    let Ok(note) = CreditNoteId::parse("id", &id) else {
        return malformed("a credit note id (crn_…)");
    };
    let actor = match caller(&s, Kind::CreditNote, &id, &link, &headers).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal,
    };
    respond(documents::credit_note_pdf(&s.app, actor.as_ref(), note).await)
}

/// Who reads: `None` for a valid signed link (it names one document, signed by us), the
/// credential's actor otherwise.
async fn caller(
    s: &HttpState,
    kind: Kind,
    id: &str,
    link: &LinkParams,
    headers: &HeaderMap,
) -> Result<Option<Actor>, Response> {
    if link.expires.is_some() || link.signature.is_some() {
        let expires = link.expires.as_deref().and_then(|e| e.parse::<i64>().ok());
        let (Some(expires), Some(signature)) = (expires, link.signature.as_deref()) else {
            return Err(link_refused(LinkError::Invalid));
        };
        return documents::verify_link(&s.app.config, kind, id, expires, signature)
            .map(|()| None)
            .map_err(link_refused);
    }
    match authenticate(&s.app, headers).await {
        Credential::Valid(actor) => Ok(Some(actor)),
        Credential::Invalid(why) => Err(error_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            &why,
        )),
        Credential::Missing => Err(error_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "sign in: send 'Authorization: Bearer <token or API key>', or open the document's signed pdfUrl",
        )),
        Credential::Unavailable => Err(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "the credential could not be checked: the database did not answer",
        )),
    }
}

fn malformed(what: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "VALIDATION",
        &format!("id: must be {what}"),
    )
}

fn link_refused(why: LinkError) -> Response {
    match why {
        LinkError::Expired => error_response(
            StatusCode::FORBIDDEN,
            "LINK_EXPIRED",
            "this link has expired; ask for a new pdfUrl",
        ),
        LinkError::Invalid => error_response(
            StatusCode::FORBIDDEN,
            "LINK_INVALID",
            "this link is not valid; ask for a new pdfUrl",
        ),
    }
}

fn respond(result: Result<Pdf, Error>) -> Response {
    match result {
        Ok(pdf) => {
            let disposition = format!("inline; filename=\"{}\"", pdf.filename);
            let mut response = (StatusCode::OK, pdf.bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            response
        }
        Err(e) => {
            let status = match &e {
                Error::NotFound(_) => StatusCode::NOT_FOUND,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                Error::Validation { .. } => StatusCode::BAD_REQUEST,
                Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if status.is_server_error() {
                tracing::error!(error = %e.cause_chain(), location = ?e.location(), "pdf not rendered");
            }
            let message = match status {
                StatusCode::INTERNAL_SERVER_ERROR => "internal error".to_owned(),
                _ => e.to_string(),
            };
            error_response(status, e.code(), &message)
        }
    }
}
