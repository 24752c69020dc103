//! JWT issue and verification. HS256 with the configured secret; RS256 only when a public key
//! is configured. Each key accepts exactly one algorithm, and `exp`, `iss`, `aud` are required.
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};

use super::Actor;
use crate::config::Config;
use crate::domain::{Role, TenantId, UserId};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
}

pub struct AuthKeys {
    encoding: EncodingKey,
    hs256: DecodingKey,
    rs256: Option<DecodingKey>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

fn unauthenticated(why: &str) -> Error {
    Error::Unauthenticated(why.to_owned())
}

impl AuthKeys {
    pub fn from_config(config: &Config) -> std::result::Result<Self, String> {
        let secret = config.jwt_secret.expose().as_bytes();
        let rs256 = match config
            .jwt_rs256_public_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
        {
            Some(pem) => Some(DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                format!("BILLING_JWT_RS256_PUBLIC_KEY is not an RSA public key: {e}")
            })?),
            None => None,
        };
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            hs256: DecodingKey::from_secret(secret),
            rs256,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl: Duration::seconds(config.jwt_ttl_seconds),
        })
    }

    /// Signs a token for `role` (and `tenant` for tenant roles), valid for the configured TTL.
    pub fn mint(
        &self,
        sub: &str,
        role: Role,
        tenant: Option<TenantId>,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>)> {
        let expires = now + self.ttl;
        let claims = Claims {
            sub: sub.to_owned(),
            role: role.as_str().to_owned(),
            tenant_id: tenant.map(|t| t.to_string()),
            exp: expires.timestamp(),
            iat: now.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal(e))?;
        Ok((token, expires))
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 30;
        v
    }

    /// How long a valid token has left before its `exp` (zero once past), or `None` when it does
    /// not verify. Live-update connections close then.
    pub fn expires_in(&self, token: &str) -> Option<std::time::Duration> {
        let header = decode_header(token).ok()?;
        let key = match header.alg {
            Algorithm::HS256 => &self.hs256,
            Algorithm::RS256 => self.rs256.as_ref()?,
            _ => return None,
        };
        let data = decode::<Claims>(token, key, &self.validation(header.alg)).ok()?;
        let left = data.claims.exp - Utc::now().timestamp();
        Some(std::time::Duration::from_secs(
            u64::try_from(left).unwrap_or(0),
        ))
    }

    /// Verifies a bearer JWT and turns its claims into an actor.
    pub fn verify(&self, token: &str) -> Result<Actor> {
        let header = decode_header(token).map_err(|_| unauthenticated("malformed token"))?;
        let key = match header.alg {
            Algorithm::HS256 => &self.hs256,
            Algorithm::RS256 => self
                .rs256
                .as_ref()
                .ok_or_else(|| unauthenticated("algorithm not accepted"))?,
            _ => return Err(unauthenticated("algorithm not accepted")),
        };
        let data = decode::<Claims>(token, key, &self.validation(header.alg)).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => unauthenticated("token expired"),
                _ => unauthenticated("invalid token"),
            }
        })?;
        actor_from_claims(data.claims)
    }
}

fn actor_from_claims(c: Claims) -> Result<Actor> {
    let role =
        Role::parse("role", &c.role).map_err(|_| unauthenticated("unknown role in token"))?;
    let tenant = match c.tenant_id.as_deref() {
        Some(t) => Some(
            TenantId::parse("tenant_id", t).map_err(|_| unauthenticated("bad tenant in token"))?,
        ),
        None => None,
    };
    let consistent = match role {
        Role::Admin => tenant.is_none(),
        Role::Owner | Role::Billing | Role::Member => tenant.is_some(),
        Role::Service => true,
    };
    if !consistent {
        return Err(unauthenticated("role and tenant in token do not match"));
    }
    Ok(Actor {
        user: UserId::parse("sub", &c.sub).ok(),
        subject: c.sub,
        role,
        tenant,
        api_key: None,
        cache_epoch: None,
    })
}
