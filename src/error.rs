//! The one error type every service returns. Each variant maps to a stable `extensions.code`;
//! internal causes are logged, never shown to the client.
use crate::domain::ParseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    /// Too few credits: the balance and what the request needed, so a client can send the
    /// user to the top-up page.
    #[error("not enough credits: {required} needed, {balance} available; top up credits")]
    InsufficientCredits {
        balance: crate::domain::Credits,
        required: crate::domain::Credits,
    },
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl Error {
    /// The documented codes; see README "Errors".
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Validation { .. } => "VALIDATION",
            Error::Conflict(_) => "CONFLICT",
            Error::RateLimited(_) => "RATE_LIMITED",
            Error::InsufficientCredits { .. } => "INSUFFICIENT_CREDITS",
            Error::Internal(_) => "INTERNAL",
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn forbidden() -> Self {
        Error::Forbidden("not allowed for this credential".into())
    }

    pub fn internal(err: impl Into<BoxError>) -> Self {
        Error::Internal(err.into())
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Validation {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::Internal(Box::new(e))
    }
}

/// Turns a unique-key violation into a `CONFLICT` with a message for the user.
pub fn conflict_on_unique(err: sea_orm::DbErr, message: impl Into<String>) -> Error {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(message.into()),
        _ => err.into(),
    }
}

/// `.or_not_found("tenant")` on an optional row.
pub trait OptionExt<T> {
    fn or_not_found(self, what: &'static str) -> Result<T>;
}

impl<T> OptionExt<T> for Option<T> {
    fn or_not_found(self, what: &'static str) -> Result<T> {
        self.ok_or(Error::NotFound(what))
    }
}
