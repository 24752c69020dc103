//! GraphiQL works offline: the page and its scripts and styles are served by the binary, and
//! the page refers to nothing on another origin.
use reqwest::header::ACCEPT;

use crate::helpers::*;

/// The local paths of the page's `src` and `href` attributes.
fn referenced_paths(page: &str) -> Vec<String> {
    page.split(['"', '\''])
        .filter(|p| p.starts_with("/graphiql/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_with_no_external_urls() {
    let app = spawn_app().await;
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .header(ACCEPT, browser)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(header(&page, "content-type").starts_with("text/html"));
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("\"//"),
        "{html}"
    );

    let paths = referenced_paths(&html);
    assert_eq!(
        paths.iter().filter(|p| p.ends_with(".js")).count(),
        4,
        "{paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| p.ends_with(".css")).count(),
        1,
        "{paths:?}"
    );
    for path in &paths {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let (ct, cache) = (header(&r, "content-type"), header(&r, "cache-control"));
        let expected = if path.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(ct.starts_with(expected), "{path}: {ct}");
        assert!(cache.contains("max-age="), "{path}: {cache}");
        let size = r.bytes().await.expect("asset").len();
        assert!(size > 500, "{path}: {size} bytes");
    }
    assert_eq!(app.get("/graphiql/nothing.js").await.status(), 404);

    let off = spawn_app_with(|c| c.graphiql = Some(false)).await;
    let r = off
        .client
        .get(format!("{}/graphql", off.address))
        .header(ACCEPT, browser)
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 404);
    assert_eq!(off.get(&paths[0]).await.status(), 404);
}
