//! Where emails go: an SMTP server (`BILLING_SMTP_URL`, lettre's async transport with a time
//! limit), or `.eml` files in `BILLING_EMAIL_DIR` when none is set. Each email has one
//! envelope recipient, so each address gets its own outcome.
use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;
use crate::error::{Error, Result};

/// How one address's email ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server accepted it (or the file was written).
    Sent,
    /// Refused for good (an SMTP 5xx): not tried again.
    Rejected { code: Option<u16>, error: String },
    /// Worth trying again later: a 4xx, a server that is down or slow.
    Retry(String),
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Transport {
    /// The transport the configuration names. No connection is opened yet.
    pub fn from_config(config: &Config) -> Result<Self> {
        match &config.smtp_url {
            Some(url) => {
                let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| Error::internal(format!("BILLING_SMTP_URL is not usable: {e}")))?
                    .timeout(Some(Duration::from_millis(config.smtp_timeout_ms)))
                    .build();
                Ok(Transport::Smtp(smtp))
            }
            None => Ok(Transport::Files(PathBuf::from(&config.email_dir))),
        }
    }

    /// Sends `message`; `file_stem` names its `.eml` file (deterministic, so sending the same
    /// email again overwrites the same file instead of adding one).
    pub async fn send(&self, message: Message, file_stem: &str) -> Outcome {
        match self {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Outcome::Sent,
                Err(e) if e.is_permanent() => Outcome::Rejected {
                    code: e.status().map(u16::from),
                    error: e.to_string(),
                },
                Err(e) => Outcome::Retry(e.to_string()),
            },
            Transport::Files(dir) => {
                let dir = dir.clone();
                let name = format!("{file_stem}.eml");
                let bytes = message.formatted();
                let written = tokio::task::spawn_blocking(move || write_file(&dir, &name, &bytes))
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|r| r);
                match written {
                    Ok(()) => Outcome::Sent,
                    Err(e) => Outcome::Retry(format!("cannot write the email file: {e}")),
                }
            }
        }
    }
}

/// Writes to a temporary name and renames, so a reader never sees half a file.
fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))
}
