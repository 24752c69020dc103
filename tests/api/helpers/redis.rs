//! A private `redis-server` a test may kill and start again on the same port, without
//! persistence or with an append-only file (so that it comes back with its old data).
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct PrivateRedis {
    pub port: u16,
    aof_dir: Option<std::path::PathBuf>,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one on a free port; `aof` turns the append-only file on (fsync on every write).
    pub async fn start(aof: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let aof_dir = aof.then(|| {
            let dir = std::env::temp_dir()
                .join(format!("billing-redis-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("AOF dir");
            dir
        });
        let mut redis = Self {
            port,
            aof_dir,
            child: None,
        };
        redis.start_again().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port, with its AOF directory if it has one, and waits
    /// until it answers.
    pub async fn start_again(&mut self) {
        let port = self.port.to_string();
        let mut args = vec![
            "--port".to_owned(),
            port,
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
        ];
        match &self.aof_dir {
            Some(dir) => args.extend([
                "--appendonly".into(),
                "yes".into(),
                "--appendfsync".into(),
                "always".into(),
                "--dir".into(),
                dir.display().to_string(),
            ]),
            None => args.extend(["--appendonly".into(), "no".into()]),
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the Redis fault tests (see .ci/run)");
        self.child = Some(child);
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.connection().await.is_some() {
                return;
            }
        }
        panic!(
            "the private redis-server on port {} did not start",
            self.port
        );
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url()).ok()?;
        let conn = tokio::time::timeout(
            Duration::from_millis(500),
            client.get_multiplexed_async_connection(),
        )
        .await
        .ok()?
        .ok()?;
        Some(conn)
    }

    /// The value stored under `key` (the full key, prefix included).
    pub async fn raw_get(&self, key: &str) -> Option<String> {
        let mut conn = self.connection().await.expect("private redis answers");
        redis::cmd("GET")
            .arg(key)
            .query_async::<Option<String>>(&mut conn)
            .await
            .expect("GET")
    }

    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut conn = self.connection().await.expect("private redis answers");
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async::<Vec<String>>(&mut conn)
            .await
            .expect("KEYS")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.aof_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
