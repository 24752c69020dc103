//! Prometheus's own tools for the observability tests: `promtool`, and a real `prometheus`
//! process scraping the test app every second with the recording rules of `grafana/` loaded.
//! Both come from Debian's `prometheus` package, which `.ci/run` installs; a missing binary
//! fails the test with a message saying so (never a skip).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository's `grafana/` folder.
pub fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana")
}

fn binary(name: &str) -> String {
    let found = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{name}` is not installed: install Debian's `prometheus` package (`.ci/run` does: \
         apt-get install prometheus)"
    );
    name.to_owned()
}

/// Runs `promtool args…` with `stdin`, returning (success, stdout + stderr).
pub fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(binary("promtool"))
        .args(args)
        .current_dir(grafana_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write to promtool");
    }
    drop(input);
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A `prometheus` server in a temporary folder, killed on drop.
pub struct PrometheusProcess {
    child: Child,
    dir: PathBuf,
    pub url: String,
    client: reqwest::Client,
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl PrometheusProcess {
    /// Starts Prometheus scraping `target` (`host:port`) every second, with the recording and
    /// alert rules of `grafana/rules/`, and waits until it is ready.
    pub async fn start(target: &str) -> PrometheusProcess {
        let bin = binary("prometheus");
        let dir =
            std::env::temp_dir().join(format!("billing-prom-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let rules = grafana_dir().join("rules");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n  - {}\n\
             scrape_configs:\n  - job_name: billing\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.join("recording.yml").display(),
            rules.join("alerts.yml").display(),
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write config");
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = PrometheusProcess {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = p
                .client
                .get(format!("{}/-/ready", p.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not get ready: {}",
                p.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `GET /api/v1/query`: the whole answer (`status`, `data`, or `errorType` and `error`).
    pub async fn query(&self, expr: &str) -> Value {
        self.client
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .expect("query prometheus")
            .json()
            .await
            .expect("JSON answer")
    }

    /// Waits until `expr` returns at least one series (Prometheus scrapes every second).
    pub async fn wait_for(&self, expr: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self.query(expr).await;
            if answer["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "{expr} returned nothing within a minute: {answer}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// (dashboard file, panel title, PromQL) of every target of every panel of every dashboard in
/// `grafana/dashboards/`.
pub fn dashboard_queries() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let dir = grafana_dir().join("dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("grafana/dashboards")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("dashboard");
        let json: Value = serde_json::from_str(&text).expect("dashboard JSON");
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut panels = json["panels"].as_array().cloned().unwrap_or_default();
        // Panels nested in rows count too.
        let nested: Vec<Value> = panels
            .iter()
            .flat_map(|p| p["panels"].as_array().cloned().unwrap_or_default())
            .collect();
        panels.extend(nested);
        for panel in panels {
            for target in panel["targets"].as_array().cloned().unwrap_or_default() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((
                        name.clone(),
                        panel["title"].as_str().unwrap_or_default().to_owned(),
                        expr.to_owned(),
                    ));
                }
            }
        }
    }
    out
}

/// A dashboard's PromQL as Grafana would send it: its interval variables made concrete.
pub fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "5m")
}
