//! Argon2id password hashes, computed off the async runtime.
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

use crate::error::{Error, Result};

pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(e.to_string()))
    })
    .await
    .map_err(|e| Error::internal(e))?
}

/// True when `password` matches. With no stored hash, a dummy hash is checked anyway so that
/// an unknown email takes as long as a wrong password.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let dummy;
        let hash_str = match &stored {
            Some(h) => h.as_str(),
            None => {
                dummy = dummy_hash();
                dummy.as_str()
            }
        };
        let parsed = PasswordHash::new(hash_str).map_err(|e| Error::internal(e.to_string()))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && stored.is_some())
    })
    .await
    .map_err(|e| Error::internal(e))?
}

fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"not-a-real-password", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}
