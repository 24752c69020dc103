//! GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): response types by
//! `Accept`, 4xx for request errors under `application/graphql-response+json`, queries over
//! `GET`, clear refusals of batches and malformed bodies, and the `graphql-http` audit suite
//! run against the real server. GraphiQL is in `graphiql.rs`.
use billing::domain::Role;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::helpers::*;

/// The SHOULD audits this server is allowed to fail, by id; each is explained in the README
/// ("API conventions"). A new warning, or a fixed one still listed, fails the audit test.
const SHOULD_WARNINGS_ALLOWED: &[&str] = &[];

#[tokio::test]
async fn graphql_response_json_answers_request_errors_with_400_and_no_data() {
    let app = spawn_app().await;
    let ok = post_graphql(
        &app,
        Some(GQL_RESPONSE),
        None,
        &query_body("{ __typename }"),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.content_type().starts_with(GQL_RESPONSE),
        "{}",
        ok.content_type()
    );
    assert_eq!(ok.body["data"]["__typename"], "Query");

    let parse = post_graphql(&app, Some(GQL_RESPONSE), None, &query_body("{")).await;
    let validation =
        post_graphql(&app, Some(GQL_RESPONSE), None, &query_body("{ notAField }")).await;
    let coercion = post_graphql(
        &app,
        Some(GQL_RESPONSE),
        None,
        &json!({ "query": "query_body($id: ID!) { __typename }", "variables": { "id": null } })
            .to_string(),
    )
    .await;
    for (what, r) in [
        ("parse", parse),
        ("validation", validation),
        ("coercion", coercion),
    ] {
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(r.content_type().starts_with(GQL_RESPONSE), "{what}");
        assert_eq!(r.code(), "VALIDATION", "{what}: {}", r.body);
        assert!(
            r.body.get("data").is_none(),
            "{what}: no data entry: {}",
            r.body
        );
    }

    // A field error once execution started is still 200, with the data entry.
    let field = post_graphql(
        &app,
        Some(GQL_RESPONSE),
        None,
        &query_body("{ tenants { edges { cursor } } }"),
    )
    .await;
    assert_eq!(field.status, 200, "{}", field.body);
    assert_eq!(field.code(), "UNAUTHENTICATED");
    assert!(field.body.get("data").is_some(), "{}", field.body);
}

#[tokio::test]
async fn application_json_or_no_accept_keeps_200_for_request_errors() {
    let app = spawn_app().await;
    for accept in [Some("application/json"), Some("*/*"), None] {
        let ok = post_graphql(&app, accept, None, &query_body("{ __typename }")).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.content_type(), "application/json", "{accept:?}");

        let parse = post_graphql(&app, accept, None, &query_body("{")).await;
        assert_eq!(parse.status, 200, "{accept:?}: {}", parse.body);
        assert_eq!(parse.content_type(), "application/json");
        assert_eq!(parse.code(), "VALIDATION");
        assert!(parse.body.get("data").is_none(), "{}", parse.body);
    }
}

#[tokio::test]
async fn an_accept_naming_neither_json_type_is_refused_with_406() {
    let app = spawn_app().await;
    let r = post_graphql(
        &app,
        Some("text/plain"),
        None,
        &query_body("{ __typename }"),
    )
    .await;
    assert_eq!(r.status, 406, "{}", r.body);
    assert_eq!(r.code(), "VALIDATION");
    let r = get_graphql(
        &app,
        Some("application/xml"),
        None,
        &[("query", "{ __typename }")],
    )
    .await;
    assert_eq!(r.status, 406, "{}", r.body);
}

#[tokio::test]
async fn get_runs_queries_with_an_api_key_or_a_jwt() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("acme").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let (_, key) = app.create_api_key(&owner, None, "reader").await;
    let q = "query Me { me { role tenant { slug } } }";
    for bearer in [&owner, &key] {
        let r = get_graphql(
            &app,
            Some(GQL_RESPONSE),
            Some(bearer),
            &[("query", q), ("operationName", "Me")],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"]["me"]["tenant"]["slug"], "acme", "{}", r.body);
        assert_eq!(
            r.headers.get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
    }

    let with_vars = get_graphql(
        &app,
        None,
        Some(&owner),
        &[
            ("query", "query T($id: ID!) { tenant(id: $id) { slug } }"),
            ("variables", &json!({ "id": tenant }).to_string()),
        ],
    )
    .await;
    assert_eq!(with_vars.status, 200);
    assert_eq!(
        with_vars.body["data"]["tenant"]["slug"], "acme",
        "{}",
        with_vars.body
    );

    let no_credential = get_graphql(&app, None, None, &[("query", "{ me { role } }")]).await;
    assert_eq!(no_credential.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_mutation_over_get_is_405_with_allow_post_and_changes_nothing() {
    let app = spawn_app().await;
    let create = r#"mutation { createTenant(input: {name: "Evil", slug: "evil", billingEmail: "e@evil.example.com"}) { tenant { id } } }"#;
    for accept in [Some(GQL_RESPONSE), Some("application/json"), None] {
        let r = get_graphql(&app, accept, Some(&app.admin_token), &[("query", create)]).await;
        assert_eq!(r.status, 405, "{accept:?}: {}", r.body);
        assert_eq!(
            r.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some("POST")
        );
        assert_eq!(r.code(), "VALIDATION");
        assert!(r.body.get("data").is_none());
    }
    // The mutation selected by name in a document that also holds a query.
    let doc = format!(
        "query Q {{ __typename }} {}",
        create.replacen("mutation", "mutation M", 1)
    );
    let r = get_graphql(
        &app,
        None,
        Some(&app.admin_token),
        &[("query", &doc), ("operationName", "M")],
    )
    .await;
    assert_eq!(r.status, 405, "{}", r.body);
    let r = get_graphql(
        &app,
        None,
        Some(&app.admin_token),
        &[("query", &doc), ("operationName", "Q")],
    )
    .await;
    assert_eq!(r.body["data"]["__typename"], "Query", "{}", r.body);

    assert_eq!(app.count("tenants").await, 0, "no tenant was created");
}

#[tokio::test]
async fn a_batch_or_a_malformed_request_is_refused_with_400_and_a_code() {
    let app = spawn_app().await;
    let batch = post_graphql(
        &app,
        None,
        None,
        r#"[{"query":"{ __typename }"},{"query":"{ __typename }"}]"#,
    )
    .await;
    assert_eq!(batch.status, 400, "{}", batch.body);
    assert_eq!(batch.code(), "VALIDATION");
    let message = batch.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("batched requests are not supported"),
        "{message}"
    );

    let cases: &[(&str, Option<&str>)] = &[
        ("", None),
        (r#"{ "not a JSON"#, None),
        ("42", None),
        (r#"{"qeury":"{ __typename }"}"#, Some("query")),
        (r#"{"query":{"obj":"ect"}}"#, Some("query")),
        (
            r#"{"query":"{ __typename }","operationName":false}"#,
            Some("operationName"),
        ),
        (
            r#"{"query":"{ __typename }","variables":"{}"}"#,
            Some("variables"),
        ),
        (
            r#"{"query":"{ __typename }","variables":[1]}"#,
            Some("variables"),
        ),
        (
            r#"{"query":"{ __typename }","extensions":0}"#,
            Some("extensions"),
        ),
    ];
    for accept in [None, Some(GQL_RESPONSE)] {
        for (body, field) in cases {
            let r = post_graphql(&app, accept, None, body).await;
            assert_eq!(r.status, 400, "{body}: {}", r.body);
            assert_eq!(r.code(), "VALIDATION", "{body}");
            assert_eq!(
                r.body["errors"][0]["extensions"]["field"].as_str(),
                *field,
                "{body}: {}",
                r.body
            );
        }
    }

    let get_bad = get_graphql(
        &app,
        None,
        None,
        &[("query", "{ __typename }"), ("variables", "[1]")],
    )
    .await;
    assert_eq!(get_bad.status, 400, "{}", get_bad.body);
    assert_eq!(
        get_bad.body["errors"][0]["extensions"]["field"],
        "variables"
    );
    let get_none = get_graphql(&app, Some("application/json"), None, &[]).await;
    assert_eq!(get_none.status, 400, "{}", get_none.body);
    assert_eq!(get_none.body["errors"][0]["extensions"]["field"], "query");
}

#[tokio::test]
async fn a_post_that_is_not_declared_json_is_415() {
    let app = spawn_app().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=latin1"),
        None,
    ] {
        let mut req = app
            .client
            .post(format!("{}/graphql", app.address))
            .body(query_body("{ __typename }"));
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let r = answer(req).await;
        assert_eq!(r.status, 415, "{content_type:?}: {}", r.body);
        assert_eq!(r.code(), "VALIDATION");
    }
}

#[tokio::test]
async fn query_limits_and_the_tenant_budget_apply_to_get_as_to_post() {
    let app = spawn_app_with(|c| {
        c.max_query_bytes = 200;
        c.tenant_cost_per_second = 1;
        c.tenant_cost_burst = 100;
    })
    .await;
    let big = format!("{{ {} }}", "__typename ".repeat(30));
    for (accept, status) in [(Some(GQL_RESPONSE), 400), (None, 200)] {
        let r = get_graphql(&app, accept, None, &[("query", &big)]).await;
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.code(), "VALIDATION");
        assert_eq!(
            r.body["errors"][0]["extensions"]["limit"],
            "BILLING_MAX_QUERY_BYTES"
        );
    }

    // `plans` at the default page of 20 items × 3 costs 60: the second one is over budget.
    let tenant = app.create_tenant("reader").await;
    let owner = app.tenant_token(&tenant, Role::Owner);
    let plans = "{ plans { edges { node { id } } } }";
    let first = get_graphql(&app, Some(GQL_RESPONSE), Some(&owner), &[("query", plans)]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = get_graphql(&app, Some(GQL_RESPONSE), Some(&owner), &[("query", plans)]).await;
    assert_eq!(second.status, 429, "{}", second.body);
    assert_eq!(second.code(), "RATE_LIMITED");
    assert_eq!(
        second.body["errors"][0]["extensions"]["limit"],
        "BILLING_TENANT_COST_PER_SECOND"
    );
    let retry = second
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|s| s >= 1), "{:?}", second.headers);
    // Under the legacy type the same refusal is a 200, as every request error there.
    let legacy = post_graphql(&app, None, Some(&owner), &query_body(plans)).await;
    assert_eq!((legacy.status, legacy.code()), (200, "RATE_LIMITED"));
}

/// Runs `npm ci` in `tests/interop` when its `node_modules` is missing, failing with a clear
/// message when node or npm is not installed (`.ci/run` installs them).
fn interop_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    for tool in ["node", "npm"] {
        let version = std::process::Command::new(tool)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        let major = version.as_deref().and_then(|v| {
            v.trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
        // The audit uses the global `fetch` of Node.js 18.
        assert!(
            major.is_some_and(|m| tool == "npm" || m >= 18),
            "`{tool}` {version:?} cannot run the graphql-http audit: install Node.js 18+ and \
             npm (e.g. `apt-get install nodejs npm`, as .ci/run does)"
        );
    }
    if !dir.join("node_modules/graphql-http").exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .expect("run npm ci");
        assert!(status.success(), "`npm ci --prefix tests/interop` failed");
    }
    dir
}

#[tokio::test]
async fn the_graphql_http_audit_passes_every_must_and_only_the_documented_shoulds_warn() {
    let dir = interop_dir();
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.address);
    // Off the runtime's thread: the server under audit runs on it.
    let script = dir.join("graphql_http_audit.mjs");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(url)
            .output()
    })
    .await
    .expect("join")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the audit failed a MUST or could not run:\n{stdout}\n{stderr}"
    );
    let summary: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("AUDIT-SUMMARY "))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}\n{stderr}"));
    assert_eq!(summary["failed"]["MUST"], json!([]), "{stdout}");
    // graphql-http 1.23.1 (pinned in tests/interop) has 13 MUST, 23 SHOULD and 25 MAY audits;
    // the MAYs all pass too, and a regression there fails as well.
    assert_eq!(summary["MUST"]["ok"], 13, "{summary}");
    assert_eq!(summary["failed"]["MAY"], json!([]), "{stdout}");
    let warned: Vec<&str> = summary["failed"]["SHOULD"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        warned, SHOULD_WARNINGS_ALLOWED,
        "SHOULD warnings differ from the README's list:\n{stdout}"
    );
    let should_ok = 23 - SHOULD_WARNINGS_ALLOWED.len();
    assert_eq!(summary["SHOULD"]["ok"], should_ok, "{summary}");
}
