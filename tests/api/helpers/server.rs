//! The `billing` binary run as a child process on a test's database, so that a test can kill
//! it with SIGKILL (`Child::kill`) and start it again, as an operator's machine would.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use billing::config::Config;

use super::TestApp;

const BIN: &str = env!("CARGO_BIN_EXE_billing");

/// A running `billing serve` child process. Dropping it kills it.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:port`, as the process printed it.
    pub address: String,
}

/// The `BILLING_*` variables that make the binary serve `config`'s database, cache and clock,
/// on a free port, with the timers off.
fn env_of(config: &Config) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("BILLING_ENV", "test".to_owned()),
        ("BILLING_LISTEN", "127.0.0.1:0".to_owned()),
        ("BILLING_LOG", "warn".to_owned()),
        ("BILLING_DATABASE_URL", config.database_url.clone()),
        (
            "BILLING_DATABASE_ACQUIRE_TIMEOUT_MS",
            config.database_acquire_timeout_ms.to_string(),
        ),
        ("BILLING_CACHE_PREFIX", config.cache_prefix.clone()),
        (
            "BILLING_JOBS_INTERVAL_SECONDS",
            config.jobs_interval_seconds.to_string(),
        ),
        (
            "BILLING_DEFERRED_INTERVAL_SECONDS",
            config.deferred_interval_seconds.to_string(),
        ),
        // The harness's own settings file, if any, is not this process's.
        ("BILLING_CONFIG", "/nonexistent/billing.toml".to_owned()),
    ];
    if let Some(schema) = &config.database_schema {
        env.push(("BILLING_DATABASE_SCHEMA", schema.clone()));
    }
    if let Some(redis) = &config.redis_url {
        env.push(("BILLING_REDIS_URL", redis.clone()));
    }
    if let Some(start) = config.clock_start {
        env.push(("BILLING_CLOCK_START", start.to_rfc3339()));
    }
    env
}

/// Sends each line of `reader` to the returned channel, from a thread of its own.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> Receiver<String> {
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

impl ServerProcess {
    /// Starts the binary on `config`'s database and waits (up to 60 s) until it prints the
    /// address it listens on.
    pub async fn start(config: &Config) -> ServerProcess {
        let mut child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env_of(config))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the billing binary");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            match stdout.try_recv() {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("billing is running on ") {
                        // Keep draining stdout so that the process never blocks on a full pipe.
                        std::thread::spawn(move || while stdout.recv().is_ok() {});
                        std::thread::spawn(move || while stderr.recv().is_ok() {});
                        return ServerProcess {
                            child,
                            address: a.trim().to_owned(),
                        };
                    }
                    seen.push(line);
                    continue;
                }
                Err(TryRecvError::Disconnected) => {}
                Err(TryRecvError::Empty) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(TryRecvError::Empty) => {}
            }
            let _ = child.kill();
            let _ = child.wait();
            let errors: Vec<String> = stderr.try_iter().collect();
            panic!("billing did not start: stdout {seen:?}, stderr {errors:?}");
        }
    }

    /// `kill -9`: the process gets no chance to finish a request, commit or clean up.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    /// `harness` pointed at this process (see [`TestApp::pointed_at`]).
    pub fn app(&self, harness: &TestApp) -> TestApp {
        harness.pointed_at(&self.address)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
