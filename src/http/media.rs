//! Media types of GraphQL over HTTP: which response type a client accepts (`Accept`), and
//! whether a `POST` body is JSON (`Content-Type`).
use axum::http::{HeaderMap, HeaderValue, header};

/// The response types `/graphql` speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: request errors answer 4xx.
    GraphqlResponse,
    /// `application/json`, the legacy type: every well-formed request answers 200.
    Json,
}

impl MediaType {
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json",
        })
    }

    fn essence(self) -> &'static str {
        match self {
            MediaType::GraphqlResponse => "application/graphql-response+json",
            MediaType::Json => "application/json",
        }
    }
}

/// One range of an `Accept` header: `type/subtype` (lower case) and its weight in thousandths.
fn ranges(headers: &HeaderMap) -> Vec<(String, u16)> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1000, |(_, v)| {
                    // An unreadable weight counts as 0: the client did not ask for it clearly.
                    v.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .map_or(0, |q| (q * 1000.0).round() as u16)
                });
            Some((essence, q))
        })
        .collect()
}

/// How well `range` matches `essence`: 2 exactly, 1 by `type/*`, 0 by `*/*`.
fn specificity(range: &str, essence: &str) -> Option<u8> {
    if range == essence {
        return Some(2);
    }
    let (ty, _) = essence.split_once('/')?;
    match range.split_once('/')? {
        (t, "*") if t == ty => Some(1),
        ("*", "*") => Some(0),
        _ => None,
    }
}

/// The response type for `headers`, or `None` when the client accepts neither (HTTP 406).
///
/// No `Accept` means `application/json` (the spec's legacy rule). Each type takes the weight
/// of the most specific range naming it. At equal weight, a type named exactly wins, and
/// between two named exactly `application/graphql-response+json` wins; `*/*` alone gets
/// `application/json`, as the legacy clients that send it expect.
pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let ranges = ranges(headers);
    if ranges.is_empty() {
        return Some(MediaType::Json);
    }
    [MediaType::GraphqlResponse, MediaType::Json]
        .into_iter()
        .filter_map(|media| {
            let (spec, q) = ranges
                .iter()
                .filter_map(|(r, q)| specificity(r, media.essence()).map(|s| (s, *q)))
                .max_by_key(|(s, _)| *s)?;
            let preferred = match media {
                MediaType::GraphqlResponse => spec == 2,
                MediaType::Json => spec < 2,
            };
            (q > 0).then_some(((q, spec, preferred), media))
        })
        .max_by_key(|(key, _)| *key)
        .map(|(_, media)| media)
}

/// Whether the client names `text/html` (a browser navigating to the endpoint).
pub fn wants_html(headers: &HeaderMap) -> bool {
    ranges(headers)
        .iter()
        .any(|(r, q)| r == "text/html" && *q > 0)
}

/// Checks that a `POST` body is declared as JSON in UTF-8, the one encoding the spec requires
/// of every server; anything else is refused with HTTP 415 and this message.
pub fn require_json(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(
            "the request has no Content-Type: send 'Content-Type: application/json'".into(),
        );
    };
    let text = value.to_str().unwrap_or("");
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(format!(
            "Content-Type '{}' is not supported: send 'Content-Type: application/json'",
            text.chars().take(100).collect::<String>()
        ));
    }
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned());
    match charset {
        Some(c) if !c.eq_ignore_ascii_case("utf-8") => Err(format!(
            "charset '{}' is not supported: send JSON in UTF-8",
            c.chars().take(40).collect::<String>()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("header"));
        h
    }

    fn accept(value: &str) -> Option<MediaType> {
        negotiate(&with(header::ACCEPT, value))
    }

    #[test]
    fn the_response_type_follows_accept_with_legacy_defaults() {
        use MediaType::*;
        assert_eq!(negotiate(&HeaderMap::new()), Some(Json));
        assert_eq!(
            accept("application/graphql-response+json"),
            Some(GraphqlResponse)
        );
        assert_eq!(accept("application/json"), Some(Json));
        assert_eq!(accept("*/*"), Some(Json));
        assert_eq!(accept("application/*"), Some(Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0.5, application/json"),
            Some(Json)
        );
        assert_eq!(
            accept("application/graphql-response+json, */*;q=0.1"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            accept("text/html,application/xhtml+xml,*/*;q=0.8"),
            Some(Json)
        );
        assert_eq!(accept("application/json;q=0, */*"), Some(GraphqlResponse));
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/xml, image/png"), None);
        assert_eq!(accept("application/json;q=0"), None);
        assert_eq!(accept("application/json;q=abc"), None);
    }

    #[test]
    fn a_browser_is_told_apart_by_naming_html() {
        assert!(wants_html(&with(
            header::ACCEPT,
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!wants_html(&with(header::ACCEPT, "*/*")));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn a_post_body_must_be_declared_json_in_utf8() {
        let ct = |v: &str| require_json(&with(header::CONTENT_TYPE, v));
        assert!(ct("application/json").is_ok());
        assert!(ct("Application/JSON; charset=UTF-8").is_ok());
        assert!(ct("application/json; charset=\"utf-8\"").is_ok());
        assert!(ct("application/json; charset=latin1").is_err());
        assert!(ct("text/plain").is_err());
        assert!(ct("application/x-www-form-urlencoded").is_err());
        assert!(require_json(&HeaderMap::new()).is_err());
    }
}
