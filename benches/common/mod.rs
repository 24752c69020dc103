//! What the benchmarks share: the two paths compared, percentiles, the bench database and
//! set-up requests.
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq)]
pub enum Path {
    Api,
    Sql,
}

impl Path {
    pub fn label(self) -> &'static str {
        match self {
            Path::Api => "API",
            Path::Sql => "plain SQL",
        }
    }
}

pub fn pct(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// The URL of the `postgres` maintenance database on the same server, and the database name.
fn maintenance_url(url: &str) -> (String, String) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let path = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    let (base, rest) = url.split_at(path);
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let (name, query) = match rest.split_once('?') {
        Some((name, query)) => (name, format!("?{query}")),
        None => (rest, String::new()),
    };
    (format!("{base}/postgres{query}"), name.to_owned())
}

pub async fn ensure_database(url: &str) {
    let (maintenance, name) = maintenance_url(url);
    assert!(!name.is_empty(), "the database URL names no database");
    let db = sea_orm::Database::connect(maintenance.as_str())
        .await
        .expect("connect to the postgres database");
    let exists = || {
        db.query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
    };
    if exists().await.expect("look for the database").is_none() {
        let created = db
            .execute_unprepared(&format!(
                "CREATE DATABASE \"{}\"",
                name.replace('"', "\"\"")
            ))
            .await;
        // Another run may have created it in between.
        if let Err(e) = created
            && exists().await.expect("look for the database").is_none()
        {
            panic!("cannot create database {name}: {e}");
        }
    }
    db.close().await.expect("close");
}

/// A GraphQL request for the set-up, which must succeed.
pub async fn admin_gql(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    let body: Value = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("set-up request")
        .json()
        .await
        .expect("set-up response");
    if let Some(errors) = body.get("errors").filter(|e| !e.is_null()) {
        panic!("set-up failed: {errors}");
    }
    body["data"].clone()
}

/// The UUID inside a public id such as `ten_0190...`.
pub fn uuid_of(public: &str) -> Uuid {
    let (_, hex) = public.split_once('_').expect("a prefixed id");
    Uuid::try_parse(hex).expect("a UUID")
}
