//! Tenants, users and API keys. Credentials themselves live in `auth`.
pub mod api_keys;
pub mod rate_limits;
pub mod snapshot;
pub mod tenants;
pub mod users;
