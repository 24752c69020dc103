//! Pure value types. Nothing here touches I/O or the rest of the crate: raw input is parsed into
//! these types before it reaches a service, so a service never sees an invalid value.
/// A closed set of values stored as strings.
macro_rules! str_enum {
    ($name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            /// Reads a value this program wrote; anything else is a corrupt row.
            pub fn from_db(raw: &str) -> Option<Self> {
                match raw { $($s => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

mod accounts;
mod catalog;
mod credits;
mod idempotency;
mod ids;
mod invoicing;
pub mod keys;
mod metering;
mod money;
mod notify;
mod outbox;
mod page;
mod payments;
mod period;
mod subscriptions;
mod text;
mod webhooks;

pub use accounts::*;
pub use catalog::*;
pub use credits::*;
pub use idempotency::*;
pub use ids::*;
pub use invoicing::*;
pub use metering::*;
pub use money::{Currency, Money};
pub use notify::*;
pub use outbox::*;
pub use page::{Page, PageRequest};
pub use payments::*;
pub use period::{Interval, add_months, cycle_bounds};
pub use subscriptions::*;
pub use text::*;
pub use webhooks::*;

/// Why a raw value could not become a domain value. `field` names the input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub field: String,
    pub message: String,
}

impl ParseError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ParseError {}
