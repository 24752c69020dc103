//! A Stripe-shaped HTTP server for tests, answering with objects built from Stripe's published
//! fixtures so the real async-stripe client reads them, plus signed webhook events.

mod http;
mod objects;
mod routes;
mod server;
mod webhooks;

pub use server::{RecordedRequest, STRIPE_TEST_KEY, StripeAnswer, StripeEndpoint, StripeServer};
pub use webhooks::{post_stripe_event, stripe_event, stripe_signature};
