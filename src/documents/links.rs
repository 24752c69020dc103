//! Signed links to a document's PDF, for a browser that cannot send the `Authorization` header:
//! `/invoices/{id}/pdf?expires=<unix seconds>&signature=<hex HMAC-SHA256>`.
//!
//! The HMAC covers the kind, the id and the expiry, keyed by a secret derived from the JWT
//! secret with its own label (so a link's signature is never a valid token signature, nor the
//! other way round). Expiry is wall-clock time, like a JWT's `exp`, not the billing clock.
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;

type HmacSha256 = Hmac<Sha256>;

/// The domain-separation label of the link key.
const LABEL: &[u8] = b"billing/documents/pdf-link/v1";

/// Which document a link opens; also its path segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Invoice,
    CreditNote,
}

impl Kind {
    pub fn path(self) -> &'static str {
        match self {
            Kind::Invoice => "invoices",
            Kind::CreditNote => "credit-notes",
        }
    }
}

/// Why a link is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// Signed by us, but past its expiry.
    Expired,
    /// Not signed by us for this document and expiry (tampered, or made up).
    Invalid,
}

fn mac(config: &Config, kind: Kind, id: &str, expires: i64) -> HmacSha256 {
    let mut derive = HmacSha256::new_from_slice(config.jwt_secret.expose().as_bytes())
        .expect("HMAC takes keys of any length");
    derive.update(LABEL);
    let key = derive.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{}\n{id}\n{expires}", kind.path()).as_bytes());
    mac
}

/// The signed path and query of a link valid until `now + BILLING_PDF_LINK_TTL_SECS`,
/// prefixed with `BILLING_PUBLIC_URL` when that is set.
pub fn signed_url(config: &Config, kind: Kind, id: &str, now_unix: i64) -> String {
    let ttl = i64::try_from(config.pdf_link_ttl_secs).unwrap_or(i64::MAX);
    let expires = now_unix.saturating_add(ttl);
    let signature = hex::encode(mac(config, kind, id, expires).finalize().into_bytes());
    let base = config.public_url.trim().trim_end_matches('/');
    format!(
        "{base}/{}/{id}/pdf?expires={expires}&signature={signature}",
        kind.path()
    )
}

/// Checks a link's signature (in constant time), then its expiry.
pub fn verify(
    config: &Config,
    kind: Kind,
    id: &str,
    expires: i64,
    signature: &str,
    now_unix: i64,
) -> Result<(), LinkError> {
    let raw = hex::decode(signature).map_err(|_| LinkError::Invalid)?;
    mac(config, kind, id, expires)
        .verify_slice(&raw)
        .map_err(|_| LinkError::Invalid)?;
    if now_unix > expires {
        return Err(LinkError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (i64, String) {
        let query = url.split_once('?').expect("test value").1;
        let (e, s) = query.split_once('&').expect("test value");
        (
            e.trim_start_matches("expires=")
                .parse()
                .expect("test value"),
            s.trim_start_matches("signature=").to_owned(),
        )
    }

    #[test]
    fn a_fresh_link_verifies_until_it_expires() {
        let config = Config::default();
        let url = signed_url(&config, Kind::Invoice, "inv_1", 1_000);
        assert!(url.starts_with("http://127.0.0.1:8080/invoices/inv_1/pdf?expires=1900&"));
        let (expires, sig) = parts(&url);
        assert_eq!(
            verify(&config, Kind::Invoice, "inv_1", expires, &sig, 1_900),
            Ok(())
        );
        assert_eq!(
            verify(&config, Kind::Invoice, "inv_1", expires, &sig, 1_901),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let config = Config::default();
        let (expires, sig) = parts(&signed_url(&config, Kind::Invoice, "inv_1", 0));
        let invalid = Err(LinkError::Invalid);
        assert_eq!(
            verify(&config, Kind::Invoice, "inv_2", expires, &sig, 0),
            invalid
        );
        assert_eq!(
            verify(&config, Kind::CreditNote, "inv_1", expires, &sig, 0),
            invalid
        );
        assert_eq!(
            verify(&config, Kind::Invoice, "inv_1", expires + 1, &sig, 0),
            invalid
        );
        assert_eq!(
            verify(&config, Kind::Invoice, "inv_1", expires, "zz", 0),
            invalid
        );
        let other = Config {
            jwt_secret: crate::config::Secret::new("another secret"),
            ..Config::default()
        };
        assert_eq!(
            verify(&other, Kind::Invoice, "inv_1", expires, &sig, 0),
            invalid
        );
    }

    #[test]
    fn without_a_public_url_the_link_is_relative() {
        let config = Config {
            public_url: String::new(),
            ..Config::default()
        };
        assert!(signed_url(&config, Kind::CreditNote, "crn_1", 0).starts_with("/credit-notes/"));
    }
}
