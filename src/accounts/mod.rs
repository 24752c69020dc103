//! Tenants, users, credentials and who may do what.
mod actor;
pub mod api_keys;
mod jwt;
mod passwords;
pub mod tenants;
pub mod users;

pub use actor::Actor;
pub use jwt::{AuthKeys, Claims};
pub use passwords::{hash_password, verify_password};
