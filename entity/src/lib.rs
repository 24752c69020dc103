//! SeaORM models: plain columns only. The public API has its own types in the application crate.
pub mod api_keys;
pub mod billable_metrics;
pub mod coupon_redemptions;
pub mod coupons;
pub mod credit_packs;
pub mod invoice_lines;
pub mod invoice_sequences;
pub mod invoices;
pub mod notifications;
pub mod plan_charges;
pub mod plan_limits;
pub mod plans;
pub mod subscriptions;
pub mod tenants;
pub mod users;
