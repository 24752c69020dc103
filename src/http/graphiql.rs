//! GraphiQL, served from the binary: the page at `GET /graphql` (for a browser) and its
//! scripts and styles under `/graphiql/`, vendored in `assets/graphiql/` (see its README).
//! Nothing is loaded from another origin, so it works offline, and the page's
//! Content-Security-Policy allows scripts from this origin only.
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;

/// What the page may load: scripts and styles from here (GraphiQL and React set inline style
/// attributes), its fonts as `data:` URLs, and requests to this origin's `/graphql`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   font-src 'self' data:; img-src 'self' data:; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../../assets/graphiql/index.html");

/// Served name, content type, body, and whether the name carries the version (so the file
/// never changes under it and may be cached for good).
const ASSETS: &[(&str, &str, &[u8], bool)] = &[
    (
        "graphiql-3.9.0.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
        true,
    ),
    (
        "graphiql-3.9.0.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
        true,
    ),
    (
        "react-18.3.1.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
        true,
    ),
    (
        "react-dom-18.3.1.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
        true,
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/init.js"),
        false,
    ),
];

fn disabled() -> Response {
    (StatusCode::NOT_FOUND, "GraphiQL is disabled").into_response()
}

/// The GraphiQL page, or 404 when it is turned off (`BILLING_GRAPHIQL`).
pub fn page(s: &HttpState) -> Response {
    if !s.app.config.graphiql_enabled() {
        return disabled();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /graphiql/{file}`: a vendored file, with its type and a cache header.
pub async fn asset(State(s): State<HttpState>, Path(file): Path<String>) -> Response {
    if !s.app.config.graphiql_enabled() {
        return disabled();
    }
    let Some((_, content_type, body, versioned)) =
        ASSETS.iter().find(|(name, ..)| *name == file.as_str())
    else {
        return (StatusCode::NOT_FOUND, "no such GraphiQL file").into_response();
    };
    let cache = if *versioned {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        *body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_refers_only_to_files_served_here() {
        let mut referenced = 0;
        for part in PAGE.split(['"', '\'']) {
            assert!(
                !part.contains("://") && !part.starts_with("//"),
                "external reference {part}"
            );
            if let Some(name) = part.strip_prefix("/graphiql/") {
                referenced += 1;
                assert!(
                    ASSETS.iter().any(|(n, ..)| *n == name),
                    "{name} is not served"
                );
            }
        }
        assert_eq!(referenced, ASSETS.len(), "every file is used by the page");
    }
}
