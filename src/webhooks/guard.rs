//! The address guard: endpoint URLs are http(s), bounded, and (unless
//! `BILLING_WEBHOOKS_ALLOW_PRIVATE`) never reach loopback, private, link-local or other
//! internal addresses. Checked when an endpoint is saved and again before each request against
//! the addresses the name resolves to then; the request connects to the address checked, so a
//! name that resolves elsewhere a moment later (DNS rebinding) changes nothing.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

use crate::domain::WEBHOOK_URL_MAX_LEN;
use crate::error::{Error, Result};

/// Parses an endpoint URL: absolute http(s) with a host, no credentials, within the length.
pub fn parse_url(raw: &str) -> Result<Url> {
    let bad = |why: &str| Error::validation("url", why.to_owned());
    if raw.len() > WEBHOOK_URL_MAX_LEN {
        return Err(bad(&format!(
            "must be at most {WEBHOOK_URL_MAX_LEN} characters"
        )));
    }
    let url = Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(url)
}

/// Addresses no endpoint may reach unless private addresses are allowed.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => private_v4(v4),
            None => private_v6(v6),
        },
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240
}

fn private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
}

/// Longest wait for a name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The addresses `url`'s host resolves to now (a literal address is itself), within
/// `RESOLVE_TIMEOUT`.
async fn resolve(url: &Url) -> std::io::Result<Vec<SocketAddr>> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(found) => Ok(found?.collect()),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "name resolution timed out",
        )),
    }
}

/// Checks a URL when an endpoint is saved: refused (`VALIDATION` on `url`) if it is a private
/// address or resolves to one. A name that does not resolve yet is accepted; delivery checks
/// again.
pub async fn check_on_save(url: &Url, allow_private: bool) -> Result<()> {
    if allow_private {
        return Ok(());
    }
    let addrs = resolve(url).await.unwrap_or_default();
    if addrs.iter().any(|a| is_private(a.ip())) {
        return Err(Error::validation(
            "url",
            "must not point at a private, loopback or link-local address",
        ));
    }
    Ok(())
}

/// The address to connect to for one request: every address the host resolves to now must be
/// allowed, and the first is used. `Err` says why not, for the delivery log.
pub async fn address_for(
    url: &Url,
    allow_private: bool,
) -> std::result::Result<SocketAddr, String> {
    let addrs = resolve(url)
        .await
        .map_err(|e| format!("could not resolve the endpoint's host: {e}"))?;
    if !allow_private && let Some(bad) = addrs.iter().find(|a| is_private(a.ip())) {
        return Err(format!(
            "refused: the endpoint's host resolves to a private address ({})",
            bad.ip()
        ));
    }
    addrs
        .first()
        .copied()
        .ok_or_else(|| "the endpoint's host resolves to no address".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(is_private(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert!(!is_private(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn only_bounded_http_urls_with_a_host_parse() {
        assert!(parse_url("https://hooks.example.com/x").is_ok());
        assert!(parse_url("http://127.0.0.1:9/x").is_ok());
        for bad in [
            "ftp://example.com",
            "file:///etc/passwd",
            "not a url",
            "https://u:p@example.com/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(WEBHOOK_URL_MAX_LEN));
        assert!(parse_url(&long).is_err());
    }

    #[tokio::test]
    async fn saving_a_loopback_url_is_refused_unless_allowed() {
        let url = parse_url("http://localhost:8080/hook").expect("parses");
        assert!(check_on_save(&url, false).await.is_err());
        assert!(check_on_save(&url, true).await.is_ok());
        let url = parse_url("http://[::1]:8080/hook").expect("parses");
        assert!(check_on_save(&url, false).await.is_err());
        assert!(address_for(&url, false).await.is_err());
        assert!(address_for(&url, true).await.is_ok());
    }
}
