//! A multi-tenant billing platform with a GraphQL API. See README.md.
pub mod accounts;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod clock;
pub mod collection;
pub mod config;
pub mod credits;
pub mod demo;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod invoicing;
pub mod jobs;
#[cfg(test)]
mod layering;
pub mod live;
pub mod metering;
pub mod metrics;
pub mod notify;
pub mod payments;
pub mod pricing;
pub mod startup;
pub mod state;
pub mod store;
pub mod subscriptions;
