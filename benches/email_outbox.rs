//! How long the outbox takes to email 1,000 finalized invoices, each with its PDF, to a real
//! SMTP server on loopback (`tests/interop/smtp_sink.py`, Python's aiosmtpd), printed, never
//! asserted. Run: `cargo bench --bench email_outbox` (SQLite in a temp dir); needs python3 and
//! aiosmtpd (`pip install aiosmtpd`, done by `.ci/run`).
//!
//! The invoices are issued first through the API with the outbox worker off; then one worker
//! run carries out everything due, timed: the 1,000 `send_email` messages (and the 1,000
//! collections the manual provider records, which take no network time).
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use billing::config::{Config, Environment, Secret};
use billing::domain::Role;
use billing::startup::App;
use serde_json::{Value, json};

const INVOICES: usize = 1_000;
const CLIENTS: usize = 8;

async fn gql(http: &reqwest::Client, url: &str, token: &str, query: &str, vars: Value) -> Value {
    let body: Value = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": vars }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

#[tokio::main]
async fn main() {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let dir = std::env::temp_dir().join(format!("billing-bench-email-{run}"));
    let mail_dir = dir.join("received");
    std::fs::create_dir_all(&mail_dir).expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/smtp_sink.py");
    let mut sink = Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string()])
        .arg("--dir")
        .arg(&mail_dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd (pip install aiosmtpd)");
    let mut up = false;
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        if let Ok(Some(status)) = sink.try_wait() {
            panic!("the SMTP sink exited ({status}): is aiosmtpd installed?");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the SMTP sink did not start");

    let config = Config {
        env: Environment::Test,
        listen: "127.0.0.1:0".into(),
        log: "error".into(),
        database_url: format!("sqlite://{}/bench.db?mode=rwc", dir.display()),
        jobs_interval_seconds: 0,
        deferred_interval_seconds: 0,
        outbox_interval_ms: 0,
        clock_start: Some("2026-05-01T00:00:00Z".parse().expect("start")),
        smtp_url: Some(Secret::new(format!("smtp://127.0.0.1:{port}"))),
        ..Config::default()
    };
    let app = App::build(config).await.expect("build app");
    let url = format!("http://{}/graphql", app.addr);
    let state = app.state.clone();
    tokio::spawn(app.run_until_stopped());
    let admin = state
        .auth
        .mint("bench-admin", Role::Admin, None, chrono::Utc::now())
        .expect("token")
        .0;
    let http = reqwest::Client::new();
    let tenant = gql(
        &http,
        &url,
        &admin,
        "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
        json!({ "i": { "name": "Bench", "slug": "bench", "billingEmail": "billing@bench.example.com" } }),
    )
    .await["createTenant"]["tenant"]["id"]
        .as_str()
        .expect("tenant")
        .to_owned();

    let issuing = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (http, url, admin, tenant) = (http.clone(), url.clone(), admin.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            for i in (c..INVOICES).step_by(CLIENTS) {
                let created = gql(
                    &http,
                    &url,
                    &admin,
                    "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { id } }",
                    json!({ "i": { "tenantId": tenant, "lines": [
                        { "description": "Plan", "quantity": "1", "unitAmountMinor": (1_000 + i).to_string() }
                    ] } }),
                )
                .await;
                let id = created["createInvoice"]["id"].as_str().expect("id").to_owned();
                gql(
                    &http,
                    &url,
                    &admin,
                    "mutation($id: ID!) { finalizeInvoice(id: $id) { id } }",
                    json!({ "id": id }),
                )
                .await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("issuing task");
    }
    let issued = issuing.elapsed();

    let started = Instant::now();
    let report = billing::jobs::deliver_due(&state)
        .await
        .expect("outbox run");
    let elapsed = started.elapsed();
    let received = std::fs::read_dir(&mail_dir)
        .expect("sink folder")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .count();
    let bytes: u64 = std::fs::read_dir(&mail_dir)
        .expect("sink folder")
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();

    println!(
        "email_outbox: {INVOICES} finalized invoices emailed through the outbox to aiosmtpd on loopback (SQLite)"
    );
    println!(
        "  issuing (API, {CLIENTS} clients, not part of the figure) {:>8.2} s",
        issued.as_secs_f64()
    );
    println!(
        "  outbox run                                          {:>8.2} s   {:>7.1} emails/s   {:>6.2} ms/email",
        elapsed.as_secs_f64(),
        report.emailed as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / report.emailed.max(1) as f64,
    );
    println!(
        "  emailed {} (collections also carried out: {}), received {received} messages, {:.1} KiB each with the PDF",
        report.emailed,
        report.sent,
        bytes as f64 / 1024.0 / received.max(1) as f64,
    );
    let _ = sink.kill();
    let _ = sink.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
