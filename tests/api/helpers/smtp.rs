//! A real SMTP server for the email tests: `tests/interop/smtp_sink.py` (Python's aiosmtpd) run
//! as a child process on a loopback port, which it keeps across a stop and a restart. It saves
//! what it receives into a folder; `received` parses those messages with `mail-parser`.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};

pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

/// One message as the server saved it.
#[derive(Clone, Debug)]
pub struct ReceivedEmail {
    /// The envelope recipients (`RCPT TO`).
    pub envelope_to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub content_language: String,
    pub text: String,
    pub html: String,
    /// File name and bytes of each attachment.
    pub attachments: Vec<(String, Vec<u8>)>,
}

impl SmtpSink {
    /// Starts the server on a free loopback port, with an empty folder of its own.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("smtp-sink-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("sink folder");
        let mut sink = SmtpSink {
            port,
            dir,
            child: None,
        };
        sink.restart();
        sink
    }

    /// `smtp://127.0.0.1:<port>`, for `BILLING_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server; the port refuses connections until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the SMTP sink on port {} did not stop", self.port);
    }

    /// Starts the server (again) on the same port and folder, and waits until it accepts
    /// connections. Fails with a clear message when python3 or aiosmtpd is missing.
    pub fn restart(&mut self) {
        self.stop();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 is needed for the email tests (.ci/run installs aiosmtpd with pip)");
        for _ in 0..400 {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "the SMTP sink exited ({status}); is aiosmtpd installed (pip install aiosmtpd, \
                     done by .ci/run)? {err}"
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!(
            "the SMTP sink did not listen on port {} within 20 s",
            self.port
        );
    }

    /// Addresses answered 550 from now on.
    pub fn reject(&self, addresses: &[&str]) {
        std::fs::write(self.dir.join("reject.txt"), addresses.join("\n")).expect("reject list");
    }

    /// Addresses answered 451 from now on (`"*"`: everyone; empty: nobody).
    pub fn tempfail(&self, addresses: &[&str]) {
        std::fs::write(self.dir.join("tempfail.txt"), addresses.join("\n")).expect("tempfail list");
    }

    /// Every message received so far, in no particular order.
    pub fn received(&self) -> Vec<ReceivedEmail> {
        read_folder(&self.dir)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Parses every `.eml` file in `dir`.
pub fn read_folder(dir: &Path) -> Vec<ReceivedEmail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| parse(&std::fs::read(&p).expect("read a saved email")))
        .collect()
}

/// Parses one saved message: `X-Envelope-To:` lines first (the sink's), then the message.
pub fn parse(raw: &[u8]) -> ReceivedEmail {
    let mut envelope_to = Vec::new();
    let mut rest = raw;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..line_end]);
        let Some(to) = line.strip_prefix("X-Envelope-To: ") else {
            break;
        };
        envelope_to.push(to.trim().to_lowercase());
        rest = &rest[line_end + 2..];
    }
    let msg = MessageParser::default()
        .parse(rest)
        .expect("a MIME message the parser reads");
    ReceivedEmail {
        envelope_to,
        subject: msg.subject().unwrap_or_default().to_owned(),
        message_id: msg.message_id().unwrap_or_default().to_owned(),
        content_language: msg
            .header_raw("Content-Language")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        attachments: msg
            .attachments()
            .map(|a| {
                (
                    a.attachment_name().unwrap_or_default().to_owned(),
                    a.contents().to_vec(),
                )
            })
            .collect(),
    }
}
