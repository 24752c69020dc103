//! A multi-tenant billing platform with a GraphQL API. See README.md.

/// mimalloc for every binary built on this crate (the server, its tests and benchmarks): in a
/// profile of `consumeCredits` glibc's malloc, free and their consolidation took a tenth of
/// the server's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod accounts;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod clock;
pub mod collection;
pub mod config;
pub mod credits;
pub mod demo;
pub mod documents;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod invoicing;
pub mod jobs;
#[cfg(test)]
mod layering;
pub mod live;
pub mod mail;
pub mod metering;
pub mod metrics;
pub mod notify;
pub mod payments;
pub mod pricing;
pub mod startup;
pub mod state;
pub mod store;
pub mod subscriptions;
pub mod webhooks;
