//! Stripe, through the real `async-stripe` client. Every write carries an `Idempotency-Key`
//! derived from what it is for, so a retried request (after a timeout, a crash or a 500) is the
//! same request to Stripe and charges once.
use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use stripe::{Client, ClientBuilder, StripeError};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    ProductData,
};
use stripe_core::customer::CreateCustomer;
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
use stripe_core::refund::CreateRefund;
use stripe_core::setup_intent::{CreateSetupIntent, CreateSetupIntentUsage};
use stripe_payment::payment_method::{DetachPaymentMethod, RetrievePaymentMethod};
use stripe_shared::{ApiErrors, CheckoutSessionMode, PaymentIntent, PaymentIntentStatus};
use stripe_types::Currency as StripeCurrency;

use super::events::{RefundState, VerifiedEvent, hard_decline};
use super::{
    CheckoutRequest, CheckoutSession, CollectRequest, Collection, CustomerRequest, PaymentProvider,
    RefundRequest, Refunded, SetupSession,
};
use crate::domain::CardDetails;
use crate::error::{Error, Result};
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};

pub struct StripeProvider {
    client: Client,
    webhook_secret: Option<String>,
    timeout: Duration,
}

impl StripeProvider {
    pub fn new(
        secret_key: &str,
        api_base: Option<&str>,
        webhook_secret: Option<&str>,
        timeout: Duration,
    ) -> Result<Self> {
        let mut builder = ClientBuilder::new(secret_key).app_info(
            "billing",
            Some(env!("CARGO_PKG_VERSION").to_owned()),
            None,
        );
        if let Some(base) = api_base {
            builder = builder.url(base);
        }
        let client = builder
            .build()
            .map_err(|e| Error::internal(format!("Stripe client: {e}")))?;
        Ok(Self {
            client,
            webhook_secret: webhook_secret.map(str::to_owned),
            timeout,
        })
    }
}

fn strategy(key: &str) -> Result<RequestStrategy> {
    let key = IdempotencyKey::new(key)
        .map_err(|e| Error::internal(format!("idempotency key {key}: {e:?}")))?;
    Ok(RequestStrategy::Idempotent(key))
}

/// A failure that is Stripe's or the network's, not the request's: retried later (the outbox
/// backs off) with the same idempotency key.
fn transient(what: &str, e: &StripeError) -> Error {
    Error::internal(format!("Stripe {what}: {e}"))
}

fn decline_of(err: &ApiErrors) -> (String, String, bool) {
    let code = err
        .decline_code
        .clone()
        .or_else(|| err.code.as_ref().map(|c| c.as_str().to_owned()))
        .unwrap_or_else(|| "card_declined".into());
    let reason = err.message.clone().unwrap_or_else(|| code.clone());
    let hard = hard_decline(&code);
    (code, reason, hard)
}

/// Why a PaymentIntent failed: its last payment error's decline (code, message, hard), or a
/// generic failure when Stripe gave none.
pub(super) fn failure_of(pi: &PaymentIntent) -> (String, String, bool) {
    pi.last_payment_error
        .as_deref()
        .map(decline_of)
        .unwrap_or_else(|| ("payment_failed".into(), "the payment failed".into(), false))
}

/// What a PaymentIntent's status means for the invoice.
fn collection_of(pi: &PaymentIntent) -> Collection {
    let reference = pi.id.as_str().to_owned();
    match &pi.status {
        PaymentIntentStatus::Succeeded => Collection::Paid { reference },
        PaymentIntentStatus::RequiresAction | PaymentIntentStatus::RequiresConfirmation => {
            Collection::RequiresAction {
                reference,
                client_secret: pi.client_secret.clone().unwrap_or_default(),
            }
        }
        PaymentIntentStatus::RequiresPaymentMethod | PaymentIntentStatus::Canceled => {
            let (code, reason, hard) = failure_of(pi);
            Collection::Failed {
                reference: Some(reference),
                code,
                reason,
                hard,
            }
        }
        _ => Collection::Processing { reference },
    }
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn charges_cards(&self) -> bool {
        true
    }

    async fn collect(&self, req: &CollectRequest<'_>) -> Result<Collection> {
        let (Some(customer), Some(method)) = (req.customer, req.payment_method) else {
            return Ok(Collection::Failed {
                reference: None,
                code: "payment_method_required".into(),
                reason: "the tenant has no payment method".into(),
                hard: true,
            });
        };
        let invoice = req.invoice;
        let currency = currency_of(invoice)?;
        let metadata = metadata_of(invoice);
        let sent = CreatePaymentIntent::new(invoice.amount_due, currency)
            .customer(customer)
            .payment_method(method)
            .confirm(true)
            .off_session(CreatePaymentIntentOffSession::Bool(true))
            .description(format!(
                "Invoice {}",
                invoice.number.clone().unwrap_or_default()
            ))
            .metadata(metadata)
            .customize()
            .request_strategy(strategy(req.idempotency_key)?)
            .timeout(self.timeout)
            .send(&self.client)
            .await;
        match sent {
            Ok(pi) => Ok(collection_of(&pi)),
            // A decline is an answer, not a fault: Stripe says 402 with the card error.
            Err(StripeError::Stripe(err, 402)) => {
                let (code, reason, hard) = decline_of(&err);
                Ok(Collection::Failed {
                    reference: err
                        .payment_intent
                        .as_ref()
                        .map(|p| p.id.as_str().to_owned()),
                    code,
                    reason,
                    hard,
                })
            }
            Err(e) => Err(transient("PaymentIntent", &e)),
        }
    }

    async fn create_customer(&self, req: &CustomerRequest<'_>) -> Result<String> {
        let mut create = CreateCustomer::new()
            .name(req.name)
            .metadata(HashMap::from([(
                "tenant_id".to_owned(),
                req.tenant.to_string(),
            )]));
        if let Some(email) = req.email {
            create = create.email(email);
        }
        let customer = create
            .customize()
            .request_strategy(strategy(&format!("customer:{}", req.tenant))?)
            .timeout(self.timeout)
            .send(&self.client)
            .await
            .map_err(|e| transient("Customer", &e))?;
        Ok(customer.id.as_str().to_owned())
    }

    async fn create_setup(&self, customer: &str, idempotency_key: &str) -> Result<SetupSession> {
        let setup = CreateSetupIntent::new()
            .customer(customer)
            .usage(CreateSetupIntentUsage::OffSession)
            .customize()
            .request_strategy(strategy(idempotency_key)?)
            .timeout(self.timeout)
            .send(&self.client)
            .await
            .map_err(|e| transient("SetupIntent", &e))?;
        Ok(SetupSession {
            reference: setup.id.as_str().to_owned(),
            client_secret: setup.client_secret.unwrap_or_default(),
        })
    }

    async fn create_checkout(&self, req: &CheckoutRequest<'_>) -> Result<CheckoutSession> {
        let invoice = req.invoice;
        let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency_of(invoice)?);
        price.unit_amount = Some(invoice.amount_due);
        price.product_data = Some(ProductData::new(req.description));
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price_data = Some(price);
        item.quantity = Some(1);
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(vec![item])
            .success_url(req.success_url)
            .cancel_url(req.cancel_url)
            .client_reference_id(invoice.id.to_string())
            .metadata(metadata_of(invoice))
            .customize()
            .request_strategy(strategy(req.idempotency_key)?)
            .timeout(self.timeout)
            .send(&self.client)
            .await
            .map_err(|e| transient("Checkout Session", &e))?;
        Ok(CheckoutSession {
            reference: session.id.as_str().to_owned(),
            url: session.url.unwrap_or_default(),
        })
    }

    async fn card(&self, payment_method: &str) -> Result<CardDetails> {
        let pm = RetrievePaymentMethod::new(payment_method)
            .customize()
            .timeout(self.timeout)
            .send(&self.client)
            .await
            .map_err(|e| transient("PaymentMethod", &e))?;
        let card = pm
            .card
            .ok_or_else(|| Error::validation("paymentMethod", "only cards are supported"))?;
        Ok(CardDetails {
            provider_ref: pm.id.as_str().to_owned(),
            brand: card.brand,
            last4: card.last4,
            exp_month: i32::try_from(card.exp_month).unwrap_or(0),
            exp_year: i32::try_from(card.exp_year).unwrap_or(0),
        })
    }

    async fn detach(&self, payment_method: &str) -> Result<()> {
        DetachPaymentMethod::new(payment_method)
            .customize()
            .timeout(self.timeout)
            .send(&self.client)
            .await
            .map_err(|e| transient("detach", &e))?;
        Ok(())
    }

    async fn create_refund(&self, req: &RefundRequest<'_>) -> Result<Refunded> {
        let note = req.credit_note;
        let refund = CreateRefund::new()
            .payment_intent(req.payment_ref)
            .amount(note.amount_minor)
            .metadata(HashMap::from([
                ("credit_note_id".to_owned(), note.id.to_string()),
                ("invoice_id".to_owned(), note.invoice_id.to_string()),
                ("tenant_id".to_owned(), note.tenant_id.to_string()),
            ]))
            .customize()
            .request_strategy(strategy(req.idempotency_key)?)
            .timeout(self.timeout)
            .send(&self.client)
            .await;
        match refund {
            Ok(refund) => Ok(Refunded {
                reference: Some(refund.id.as_str().to_owned()),
                state: RefundState::of_stripe(refund.status.as_deref()),
            }),
            // Stripe refused the request itself (the charge was already refunded or is
            // disputed, the amount is too large, ...): asking again cannot succeed, so the
            // refund fails now instead of being retried until the outbox gives up. A 409 is an
            // idempotency conflict and a 429 a rate limit: both are retried.
            Err(StripeError::Stripe(err, status))
                if (400..500).contains(&status) && status != 409 && status != 429 =>
            {
                tracing::warn!(credit_note = %note.id, status, code = ?err.code, message = ?err.message, "Stripe refused the refund");
                Ok(Refunded {
                    reference: None,
                    state: RefundState::Failed,
                })
            }
            Err(e) => Err(transient("Refund", &e)),
        }
    }

    fn verify_event(&self, payload: &str, signature: &str) -> Result<VerifiedEvent> {
        let secret = self.webhook_secret.as_deref().ok_or_else(|| {
            Error::validation("Stripe-Signature", "no webhook secret is configured")
        })?;
        super::stripe_events::read(payload, signature, secret)
    }
}

fn currency_of(invoice: &crate::domain::Invoice) -> Result<StripeCurrency> {
    invoice
        .currency
        .to_string()
        .to_lowercase()
        .parse()
        .map_err(|_| Error::internal(format!("Stripe has no currency {}", invoice.currency)))
}

/// Names our invoice and tenant on what we create, so an event can be traced back.
fn metadata_of(invoice: &crate::domain::Invoice) -> HashMap<String, String> {
    HashMap::from([
        ("invoice_id".to_owned(), invoice.id.to_string()),
        ("tenant_id".to_owned(), invoice.tenant_id.to_string()),
    ])
}
