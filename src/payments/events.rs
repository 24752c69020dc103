//! A provider event, checked and read into what billing acts on.

/// An event whose signature was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEvent {
    /// The provider's event id (`evt_…`): an event is acted on once, whatever its deliveries.
    pub id: String,
    /// Its type (`payment_intent.succeeded`).
    pub kind: String,
    /// The id of the object it is about, when it names one.
    pub object_ref: Option<String>,
    pub subject: EventSubject,
}

/// What an event says, for the kinds billing acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventSubject {
    /// A PaymentIntent changed: succeeded, failed, or needs the payer.
    PaymentIntent {
        reference: String,
        /// Our invoice and tenant, from the metadata we set when creating it.
        invoice: Option<String>,
        tenant: Option<String>,
        outcome: IntentOutcome,
    },
    /// A Checkout Session was paid, or will not be.
    Checkout {
        reference: String,
        invoice: Option<String>,
        tenant: Option<String>,
        /// The PaymentIntent that paid it, when paid.
        payment: Option<String>,
        outcome: CheckoutOutcome,
    },
    /// A card was saved for a customer.
    SetupSucceeded {
        customer: Option<String>,
        payment_method: Option<String>,
    },
    /// Refunds changed (`charge.refunded` names each refund of the charge, `refund.updated`
    /// and `refund.failed` one).
    Refunds(Vec<RefundReport>),
    /// Accepted and recorded; nothing to do.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntentOutcome {
    Succeeded,
    Failed {
        code: String,
        reason: String,
        hard: bool,
    },
    RequiresAction {
        client_secret: String,
    },
    /// Processing, canceled, or anything else: recorded, nothing to do.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutOutcome {
    Paid,
    /// Completed, but paid later (boleto, PIX): wait for the async event.
    Waiting,
    Failed,
}

/// Declines that a retry with the same card cannot fix: they wait for a new payment method.
pub fn hard_decline(code: &str) -> bool {
    matches!(
        code,
        "lost_card"
            | "stolen_card"
            | "pickup_card"
            | "restricted_card"
            | "expired_card"
            | "incorrect_number"
            | "invalid_account"
            | "fraudulent"
            | "revocation_of_authorization"
            | "revocation_of_all_authorizations"
            | "stop_payment_order"
            | "do_not_honor"
    )
}

/// One refund as an event reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundReport {
    /// The provider's refund (`re_…`).
    pub reference: String,
    pub state: RefundState,
    /// Our credit note, from the metadata we set when creating it.
    pub credit_note: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundState {
    Succeeded,
    /// Pending, or waiting for the customer: final word to come.
    Pending,
    /// Failed or canceled: the money did not go back.
    Failed,
}

impl RefundState {
    /// Stripe's refund status (`succeeded`, `pending`, `requires_action`, `failed`, `canceled`).
    pub fn of_stripe(status: Option<&str>) -> Self {
        match status {
            Some("succeeded") => Self::Succeeded,
            Some("failed" | "canceled") => Self::Failed,
            _ => Self::Pending,
        }
    }
}
