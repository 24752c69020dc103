//! Integration tests: the real server over HTTP, one fresh database per test. SQLite by
//! default; PostgreSQL and Redis when BILLING_TEST_DATABASE_URL / BILLING_TEST_REDIS_URL are set.
mod helpers;

mod auth;
mod billing_checks;
mod billing_clock;
mod billing_security;
mod catalog;
mod cli;
mod conflict_reasons;
mod coupon_redemptions;
mod credit_topups;
mod credits;
mod deferred;
mod fault_kill;
mod fault_outage;
mod fault_replicas;
mod faults;
mod http;
mod idempotency;
mod idempotency_subscriptions;
mod invoices;
mod outbox;
mod plan_change_blocks;
mod query_limits;
mod schema;
mod security;
mod strict_inputs;
mod subscriptions;
mod tenants;
mod usage_ingestion;
mod usage_limits;
mod users;
mod validation;
