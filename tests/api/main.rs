//! Integration tests: the real server over HTTP, one fresh database per test. SQLite by
//! default; PostgreSQL and Redis when BILLING_TEST_DATABASE_URL / BILLING_TEST_REDIS_URL are set.
mod helpers;

mod auth;
mod billing_checks;
mod billing_security;
mod catalog;
mod cli;
mod conflict_reasons;
mod coupon_redemptions;
mod credit_topups;
mod credits;
mod deferred;
mod faults;
mod http;
mod invoices;
mod outbox;
mod schema;
mod security;
mod subscriptions;
mod tenants;
mod usage_ingestion;
mod usage_limits;
mod users;
mod validation;
