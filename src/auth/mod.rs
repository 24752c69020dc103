//! Credentials and who may do what: the caller as proven by its credential, JWTs and password
//! hashes. No state and no database here, so every layer above may ask "who is calling?".
mod actor;
mod jwt;
mod passwords;

pub use actor::Actor;
pub use jwt::{AuthKeys, Claims};
pub use passwords::{hash_password, verify_password};
