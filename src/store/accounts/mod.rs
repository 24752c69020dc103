//! Tenants, their users and API keys.
pub mod api_keys;
pub mod tenants;
pub mod users;
