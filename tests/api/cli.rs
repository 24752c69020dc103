//! The `billing` binary itself: `serve` prints a working admin token, `token` mints one,
//! `schema` prints the SDL, production mode refuses the development secret.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_billing");

fn temp_db() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("billing-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}/cli.db?mode=rwc", dir.display());
    (dir, url)
}

fn billing(args: &[&str], db_url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BILLING_DATABASE_URL", db_url)
        .env("BILLING_LOG", "warn");
    cmd
}

#[tokio::test]
async fn serve_prints_an_admin_token_that_works() {
    let (dir, sqlite_url) = temp_db();
    let mut cmd = billing(&[], &sqlite_url);
    // On the PostgreSQL run the same binary serves from PostgreSQL, in a schema of its own.
    let mut expected_database = "SQLite file";
    if let Ok(pg) = std::env::var("BILLING_TEST_DATABASE_URL") {
        use sea_orm::ConnectionTrait;
        let schema = format!("cli_{}", uuid::Uuid::new_v4().simple());
        let db = sea_orm::Database::connect(pg.as_str())
            .await
            .expect("connect");
        db.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .expect("schema");
        cmd.env("BILLING_DATABASE_URL", &pg)
            .env("BILLING_DATABASE_SCHEMA", &schema);
        expected_database = "PostgreSQL";
    }
    let mut child = cmd
        .env("BILLING_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start billing");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut address, mut token, mut database) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while (address.is_none() || token.is_none()) && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(a) = line.strip_prefix("billing is running on ") {
                address = Some(a.trim().to_owned());
            }
            if let Some(d) = line.trim().strip_prefix("database: ") {
                database = Some(d.to_owned());
            }
            if let Some(t) = line.trim().strip_prefix("export TOKEN=") {
                token = Some(t.to_owned());
            }
        }
    }
    let (address, token) = (
        address.expect("address printed"),
        token.expect("token printed"),
    );
    let r: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ me { role } }" }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(r["data"]["me"]["role"], "ADMIN", "{r}");
    let database = database.expect("database printed");
    assert!(database.starts_with(expected_database), "{database}");
}

/// Loads the demo into the database at `url`; returns the demo tenant's id.
fn demo_tenant(url: &str) -> String {
    let out = billing(&["demo"], url).output().expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Demo tenant: "))
        .expect("tenant line");
    line.split_whitespace()
        .next()
        .expect("tenant id")
        .to_owned()
}

#[test]
fn token_mints_a_jwt_that_the_configured_secret_verifies() {
    let (dir, url) = temp_db();
    let tenant = demo_tenant(&url);
    let out = billing(&["token", "--role", "owner", "--tenant", &tenant], &url)
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf8");
    let keys =
        billing::auth::AuthKeys::from_config(&billing::config::Config::default()).expect("keys");
    let actor = keys.verify(token.trim()).expect("valid token");
    assert_eq!(actor.role, billing::domain::Role::Owner);
    assert_eq!(actor.tenant.map(|t| t.to_string()), Some(tenant));
}

#[test]
fn token_refuses_a_tenant_role_without_a_tenant() {
    let (dir, url) = temp_db();
    let out = billing(&["token", "--role", "member"], &url)
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(dir);
    assert!(!out.status.success());
}

#[test]
fn token_refuses_a_tenant_that_does_not_exist() {
    let (dir, url) = temp_db();
    demo_tenant(&url);
    let ghost = billing::domain::TenantId::new().to_string();
    let out = billing(&["token", "--role", "owner", "--tenant", &ghost], &url)
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "no token printed");
    assert!(
        stderr.contains(&format!("no tenant {ghost}")),
        "the message names the tenant: {stderr}"
    );
}

#[test]
fn schema_prints_the_sdl() {
    let out = Command::new(BIN).arg("schema").output().expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).expect("utf8"),
        billing::graphql::sdl()
    );
}

#[test]
fn production_mode_refuses_to_start_without_a_real_secret() {
    let (dir, url) = temp_db();
    let out = billing(&["migrate"], &url)
        .env("BILLING_ENV", "production")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BILLING_JWT_SECRET"));
    let ok = billing(&["migrate"], &url)
        .env("BILLING_ENV", "production")
        .env(
            "BILLING_JWT_SECRET",
            "a-real-secret-of-more-than-32-characters!",
        )
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn demo_prints_a_password_that_logs_the_owner_in() {
    let (dir, url) = temp_db();
    let out = billing(&["demo"], &url).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Owner login: "))
        .expect("login line");
    let (email, password) = line.split_once(" / ").expect("email / password");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ok = rt.block_on(async {
        let config = billing::config::Config {
            database_url: url.clone(),
            ..Default::default()
        };
        let state = billing::startup::build_state(config).await.expect("state");
        billing::accounts::users::login(&state, email, password)
            .await
            .is_ok()
    });
    let _ = std::fs::remove_dir_all(dir);
    assert!(ok);
}

#[test]
fn an_invalid_billing_log_stops_start_up_naming_it_and_the_parse_error() {
    let (dir, url) = temp_db();
    let bad = "info,sqlx=loudest";
    let parse_error = tracing_subscriber::EnvFilter::try_new(bad)
        .expect_err("not a filter")
        .to_string();
    let out = billing(&["migrate"], &url)
        .env("BILLING_LOG", bad)
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with BILLING_LOG={bad}");
    assert!(stderr.contains("BILLING_LOG"), "{stderr}");
    assert!(stderr.contains(bad), "{stderr}");
    assert!(
        stderr.contains(&parse_error),
        "{parse_error:?} not in {stderr}"
    );
}

#[test]
fn an_unknown_log_format_stops_start_up_naming_it() {
    let (dir, url) = temp_db();
    let out = billing(&["migrate"], &url)
        .env("BILLING_LOG_FORMAT", "xml")
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with BILLING_LOG_FORMAT=xml");
    assert!(stderr.contains("BILLING_LOG_FORMAT"), "{stderr}");
    assert!(stderr.contains("xml"), "{stderr}");
}

/// Sends each line of `reader` to the returned channel, from a thread of its own.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_carry_the_request_id() {
    let (dir, url) = temp_db();
    let mut child = billing(&[], &url)
        .env("BILLING_LISTEN", "127.0.0.1:0")
        .env("BILLING_LOG_FORMAT", "json")
        // tower-http reports each response at debug level, inside the request's span.
        .env("BILLING_LOG", "info,tower_http=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start billing");
    let stdout = lines_of(child.stdout.take().expect("stdout"));
    let stderr = lines_of(child.stderr.take().expect("stderr"));
    let mut logs: Vec<Value> = Vec::new();
    let mut not_json: Vec<String> = Vec::new();
    let mut read_logs = |until: &dyn Fn(&Value) -> bool| -> Option<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(line) = stdout.recv_timeout(Duration::from_millis(200)) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(event) if event.is_object() => {
                        logs.push(event.clone());
                        if until(&event) {
                            return Some(event);
                        }
                    }
                    _ => not_json.push(line),
                }
            }
        }
        None
    };

    // The start-up event is JSON, with the address in its message.
    let started = read_logs(&|e| {
        e["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("billing listening on "))
    });
    let address = started.as_ref().and_then(|e| {
        e["fields"]["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("billing listening on "))
            .map(str::to_owned)
    });
    let response = match &address {
        Some(address) => reqwest::Client::new()
            .post(format!("{address}/graphql"))
            .header("x-request-id", "cli-json-req-1")
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .ok(),
        None => None,
    };
    let echoed = response.as_ref().and_then(|r| {
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    // The response event, logged inside the request's span.
    let finished = read_logs(&|e| {
        e["span"]["request_id"] == "cli-json-req-1"
            && e["target"] == "tower_http::trace::on_response"
    });
    let _ = child.kill();
    let _ = child.wait();
    let banner: Vec<String> = stderr.try_iter().collect();
    let _ = std::fs::remove_dir_all(dir);

    let started = started.unwrap_or_else(|| panic!("no start-up event in {logs:?} / {not_json:?}"));
    assert_eq!(started["level"], "INFO", "{started}");
    assert!(started["timestamp"].is_string(), "{started}");
    assert_eq!(echoed.as_deref(), Some("cli-json-req-1"));
    let finished =
        finished.unwrap_or_else(|| panic!("no response event in {logs:?} / {not_json:?}"));
    assert_eq!(finished["span"]["name"], "request", "{finished}");
    assert_eq!(finished["span"]["uri"], "/graphql", "{finished}");
    assert_eq!(finished["span"]["method"], "POST", "{finished}");
    assert!(
        not_json.is_empty(),
        "stdout lines that are not JSON: {not_json:?}"
    );
    // The banner for people went to stderr, out of the JSON stream.
    assert!(
        banner
            .iter()
            .any(|l| l.starts_with("billing is running on ")),
        "{banner:?}"
    );
}

/// `billing healthcheck` (the Docker `HEALTHCHECK`): exit 0 when `/health` answers 200 on the
/// configured address, 1 when nothing listens there.
// Multi-threaded: the in-process server answers while this thread waits for the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_for_a_live_server_and_one_for_a_dead_address() {
    let app = crate::helpers::spawn_app().await;
    let (dir, url) = temp_db();
    let live = app.address.trim_start_matches("http://").to_owned();
    let out = billing(&["healthcheck"], &url)
        .env("BILLING_LISTEN", &live)
        .output()
        .expect("run healthcheck");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .to_string();
    let out = billing(&["healthcheck", "--address", &dead], &url)
        .output()
        .expect("run healthcheck");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unhealthy"));
    let _ = std::fs::remove_dir_all(dir);
}
