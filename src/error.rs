//! The one error type every service returns. Each variant maps to a stable `extensions.code`;
//! a `CONFLICT` also carries a stable `extensions.reason`. Internal causes are logged, with the
//! place in our code where they arose, and never shown to the client.
use std::panic::Location;

use crate::domain::ParseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Declares `ConflictReason` with its variants' strings and `ConflictReason::ALL`, from one list,
/// so that no reason can miss its string or be left out of `ALL` (and of the README check).
macro_rules! conflict_reasons {
    ($($(#[doc = $doc:literal])+ $variant:ident => $s:literal,)+) => {
        /// Why a request conflicts with the state it met: a machine-readable companion to the
        /// message, sent as `extensions.reason` next to `extensions.code = "CONFLICT"`. The
        /// strings are part of the API (README "Errors"): add reasons, never rename one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ConflictReason {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ConflictReason {
            pub const ALL: &[ConflictReason] = &[$(ConflictReason::$variant),+];

            /// The stable string sent as `extensions.reason`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ConflictReason::$variant => $s,)+
                }
            }
        }
    };
}

conflict_reasons! {
    /// A plan, credit pack, coupon or billable metric with this code already exists.
    CodeTaken => "CODE_TAKEN",
    /// A tenant with this slug already exists.
    SlugTaken => "SLUG_TAKEN",
    /// A user with this email already exists (emails are unique across the platform).
    EmailTaken => "EMAIL_TAKEN",
    /// Demoting or removing the tenant's last owner.
    LastOwner => "LAST_OWNER",
    /// The tenant already has a live (trialing, active or past-due) subscription.
    SubscriptionAlreadyLive => "SUBSCRIPTION_ALREADY_LIVE",
    /// `changePlan` to the plan the subscription is already on, with no scheduled change to undo.
    AlreadyOnPlan => "ALREADY_ON_PLAN",
    /// `resumeSubscription` on a subscription with no cancellation to undo.
    NotCanceling => "NOT_CANCELING",
    /// The subscription already has a running discount.
    DiscountAlreadyActive => "DISCOUNT_ALREADY_ACTIVE",
    /// The tenant has already redeemed this coupon.
    CouponAlreadyRedeemed => "COUPON_ALREADY_REDEEMED",
    /// The coupon has reached its maximum number of redemptions.
    CouponFullyRedeemed => "COUPON_FULLY_REDEEMED",
    /// Editing an invoice that is no longer a draft.
    InvoiceNotDraft => "INVOICE_NOT_DRAFT",
    /// An invoice status move the status machine does not allow (e.g. paying a void invoice).
    IllegalTransition => "ILLEGAL_TRANSITION",
    /// Settling or releasing a credit hold that is no longer open (settled, released, expired).
    HoldNotOpen => "HOLD_NOT_OPEN",
    /// Confirming a credit top-up that has no invoice to pay.
    TopupWithoutInvoice => "TOPUP_WITHOUT_INVOICE",
    /// An idempotency key already used for a different request.
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
    /// Someone else changed the same object at the same time; read it again and retry.
    ConcurrentUpdate => "CONCURRENT_UPDATE",
    /// An action that needs a card processor (Stripe) while none is configured.
    ProviderNotConfigured => "PROVIDER_NOT_CONFIGURED",
    /// An invoice that cannot be collected now: paid, not open, or an attempt still running.
    NotCollectible => "NOT_COLLECTIBLE",
    /// Refunding an invoice that is not paid, or that has nothing left to refund.
    NotRefundable => "NOT_REFUNDABLE",
    /// A refund larger than what was paid minus the earlier refunds.
    RefundExceedsPaid => "REFUND_EXCEEDS_PAID",
    /// A plan or credit pack code has used up its version numbers.
    TooManyVersions => "TOO_MANY_VERSIONS",
}

impl std::fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    #[error("{message}")]
    Conflict {
        reason: ConflictReason,
        message: String,
    },
    #[error("{0}")]
    RateLimited(String),
    /// Refused until the tenant's overdue invoices are paid (dunning).
    #[error("{0}")]
    PaymentRequired(String),
    /// Too few credits: the balance and what the request needed, so a client can send the
    /// user to the top-up page.
    #[error("not enough credits: {required} needed, {balance} available; top up credits")]
    InsufficientCredits {
        balance: crate::domain::Credits,
        required: crate::domain::Credits,
    },
    /// The database could not be reached or did not answer in time. Retryable: the pool
    /// reconnects by itself. The cause is logged, never shown.
    #[error("the database is unavailable; retry shortly")]
    Unavailable {
        #[source]
        source: BoxError,
        location: &'static Location<'static>,
    },
    /// A fault on our side: the cause, and where in our code it became an `Error`.
    #[error("internal error")]
    Internal {
        #[source]
        source: BoxError,
        location: &'static Location<'static>,
    },
}

impl Error {
    /// The documented codes; see README "Errors".
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Validation { .. } => "VALIDATION",
            Error::Conflict { .. } => "CONFLICT",
            Error::RateLimited(_) => "RATE_LIMITED",
            Error::PaymentRequired(_) => "PAYMENT_REQUIRED",
            Error::InsufficientCredits { .. } => "INSUFFICIENT_CREDITS",
            Error::Unavailable { .. } => "UNAVAILABLE",
            Error::Internal { .. } => "INTERNAL",
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(reason: ConflictReason, message: impl Into<String>) -> Self {
        Error::Conflict {
            reason,
            message: message.into(),
        }
    }

    /// The idempotency key was used before for a different request.
    pub fn key_reused() -> Self {
        Error::conflict(
            ConflictReason::IdempotencyKeyReused,
            "this idempotency key was used for a different request",
        )
    }

    pub fn forbidden() -> Self {
        Error::Forbidden("not allowed for this credential".into())
    }

    /// An internal error, remembering the caller's location. Call it directly or from a
    /// closure (`.map_err(|e| Error::internal(e))`): passed as a function
    /// (`.map_err(Error::internal)`) it would record a place inside the standard library.
    ///
    /// A database error that means the database could not be reached or did not answer in
    /// time becomes [`Error::Unavailable`] instead: the client may retry it.
    #[track_caller]
    pub fn internal(err: impl Into<BoxError>) -> Self {
        let source = err.into();
        let location = Location::caller();
        if source
            .downcast_ref::<sea_orm::DbErr>()
            .is_some_and(db_unavailable)
        {
            return Error::Unavailable { source, location };
        }
        Error::Internal { source, location }
    }

    /// A retryable `UNAVAILABLE` error for a dependency that did not answer.
    #[track_caller]
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            source: err.into(),
            location: Location::caller(),
        }
    }

    /// An internal error's causes, outermost first (`db: connection refused: ...`), for the
    /// log; other errors give their message.
    pub fn cause_chain(&self) -> String {
        let (Error::Internal { source, .. } | Error::Unavailable { source, .. }) = self else {
            return self.to_string();
        };
        let mut chain = source.to_string();
        let mut next = source.source();
        while let Some(cause) = next {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            next = cause.source();
        }
        chain
    }

    /// Where in our code an internal error arose.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        match self {
            Error::Internal { location, .. } | Error::Unavailable { location, .. } => {
                Some(location)
            }
            _ => None,
        }
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
    /// `?` on a database error records the place of the `?`.
    #[track_caller]
    fn from(e: sea_orm::DbErr) -> Self {
        Error::internal(e)
    }
}

/// Whether a database error means the database could not be reached or did not answer in
/// time (no connection within the acquire timeout, a broken connection, a statement timeout,
/// a server shutting down, SQLite busy past its timeout), rather than a fault in the request
/// or in our code.
pub fn db_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        // Getting a connection failed, whatever the reason (refused, reset, a peer that hangs
        // up during the handshake, which shows as a protocol error).
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailable(e)
        }
        _ => false,
    }
}

fn sqlx_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match err {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: connection exceptions (08...), query canceled by statement_timeout
            // (57014), server shutting down or starting (57P..), too many connections (53300).
            let postgres = code.starts_with("08")
                || code == "57014"
                || code.starts_with("57P")
                || code == "53300";
            // SQLite: SQLITE_BUSY (5) or SQLITE_LOCKED (6), extended codes included.
            let sqlite = code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
            postgres || sqlite
        }
        _ => false,
    }
}

/// Turns a unique-key violation into a `CONFLICT` with a reason and a message for the user.
#[track_caller]
pub fn conflict_on_unique(
    err: sea_orm::DbErr,
    reason: ConflictReason,
    message: impl Into<String>,
) -> Error {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::conflict(reason, message),
        _ => Error::from(err),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_reasons_are_distinct_screaming_snake_and_documented() {
        let readme = include_str!("../README.md");
        let mut seen = std::collections::HashSet::new();
        for reason in ConflictReason::ALL.iter().copied() {
            let s = reason.as_str();
            assert!(seen.insert(s), "{s} is used twice");
            assert!(
                !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{s} is not SCREAMING_SNAKE_CASE"
            );
            assert!(
                readme.contains(&format!("| `{s}` |")),
                "README.md does not list the conflict reason {s}"
            );
        }
    }

    #[test]
    fn a_database_that_cannot_be_reached_is_unavailable_not_internal() {
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
        let err = Error::from(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert_eq!(err.code(), "UNAVAILABLE");
        assert!(err.location().is_some());
        assert!(
            err.cause_chain().contains("timed out"),
            "{}",
            err.cause_chain()
        );
        let io =
            sea_orm::sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let err = Error::from(DbErr::Query(RuntimeErr::SqlxError(io.into())));
        assert_eq!(err.code(), "UNAVAILABLE");
        assert_eq!(
            err.to_string(),
            "the database is unavailable; retry shortly"
        );
        let handshake =
            sea_orm::sqlx::Error::Protocol("unexpected response from SSLRequest".into());
        let err = Error::from(DbErr::Conn(RuntimeErr::SqlxError(handshake.into())));
        assert_eq!(err.code(), "UNAVAILABLE");
        let other = Error::from(DbErr::Custom("no such table".into()));
        assert_eq!(other.code(), "INTERNAL");
        let other = Error::internal(DbErr::RecordNotUpdated);
        assert_eq!(other.code(), "INTERNAL");
    }

    #[test]
    fn a_conflict_shows_its_message_and_keeps_its_reason() {
        let err = Error::conflict(ConflictReason::LastOwner, "keep one owner");
        assert_eq!(err.code(), "CONFLICT");
        assert_eq!(err.to_string(), "keep one owner");
        assert!(matches!(
            err,
            Error::Conflict {
                reason: ConflictReason::LastOwner,
                ..
            }
        ));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn internal_errors_keep_their_chain_and_where_they_arose() {
        let here = |err: &Error| err.location().map(|l| (l.file(), l.line()));

        let line = line!() + 1;
        let err = Error::internal(Outer(std::io::Error::other("disk on fire")));
        assert_eq!(err.to_string(), "internal error");
        assert_eq!(err.cause_chain(), "outer: disk on fire");
        assert_eq!(here(&err), Some(("src/error.rs", line)));

        // `?` on a database error records the `?`.
        let line = line!() + 2;
        let query = || -> Result<()> {
            Err(sea_orm::DbErr::Custom("no such table".into()))?;
            Ok(())
        };
        let err = query().expect_err("fails");
        assert!(err.cause_chain().contains("no such table"), "{err:?}");
        assert_eq!(here(&err), Some(("src/error.rs", line)));

        // So does a closure passed to `map_err`.
        let line = line!() + 1;
        let parsed: Result<u8> = u8::try_from(300_i32).map_err(|e| Error::internal(e));
        assert_eq!(
            here(&parsed.expect_err("overflows")),
            Some(("src/error.rs", line))
        );

        let conflict = Error::conflict(ConflictReason::SlugTaken, "taken");
        assert_eq!(conflict.cause_chain(), "taken");
        assert_eq!(conflict.location(), None);
    }
}
