//! A TCP proxy between the app and a service (PostgreSQL or Redis) that a test can cut, stall,
//! slow and restore. Cut, it closes every open connection and drops new ones as soon as they
//! are accepted, as a database that went away would look to the app. Stalled, it keeps every
//! connection open but passes nothing, as a network that silently drops packets would. Slowed,
//! it passes everything, each chunk late by a fixed delay, as a congested network would.
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Open,
    Slow(Duration),
    Cut,
    Stalled,
}

impl Mode {
    /// Bytes flow (at once, or late).
    fn passes(self) -> bool {
        matches!(self, Mode::Open | Mode::Slow(_))
    }
}

pub struct TcpProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (mode, watching) = watch::channel(Mode::Open);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut watching = watching.clone();
                tokio::spawn(async move {
                    // Held open without a byte passed while stalled; dropped when cut.
                    let mode = watching.wait_for(|m| *m != Mode::Stalled).await.map(|m| *m);
                    if !mode.is_ok_and(Mode::passes) {
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    {
                        let (client_read, client_write) = client.split();
                        let (server_read, server_write) = server.split();
                        tokio::select! {
                            _ = pump(client_read, server_write, watching.clone()) => {}
                            _ = pump(server_read, client_write, watching.clone()) => {}
                        }
                    }
                    // Stalled: keep both ends open and silent until the stall ends.
                    let _ = watching.wait_for(|m| *m != Mode::Stalled).await;
                });
            }
        });
        Self { addr, mode }
    }

    /// Closes every connection through the proxy and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Passes nothing on any connection, old or new, and closes none, until
    /// [`Self::restore`] (which, for connections open during the stall, closes them: their
    /// protocol state is lost).
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stalled);
    }

    /// Passes everything, but holds each chunk read from either side for `delay` before
    /// writing it on, until [`Self::restore`]. Connections stay open across the change.
    pub fn slow(&self, delay: Duration) {
        self.mode.send_replace(Mode::Slow(delay));
    }

    pub fn restore(&self) {
        self.mode.send_replace(Mode::Open);
    }

    /// `url` (`postgres://user@host:port/db?...`, `redis://:password@host:port/0`) with its
    /// host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (authority, path) = rest.split_at(authority_end(rest));
        let userinfo = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"))
            .unwrap_or_default();
        format!("{scheme}://{userinfo}{}{path}", self.addr)
    }
}

/// Copies `from` to `to` chunk by chunk while the mode passes bytes, each chunk late by the
/// delay of a slow mode; returns when either side closes or the mode stops passing bytes.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.wait_for(|m| !m.passes()) => return,
        };
        let current = *mode.borrow();
        if let Mode::Slow(delay) = current {
            tokio::time::sleep(delay).await;
        }
        if !mode.borrow().passes() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Where the authority (`user@host:port`) of the part of a URL after `://` ends.
fn authority_end(rest: &str) -> usize {
    rest.find(['/', '?', '#']).unwrap_or(rest.len())
}

/// The host and port of a `postgres://` or `redis://` URL, resolved (default ports 5432 and
/// 6379).
pub async fn target_of(url: &str) -> SocketAddr {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority = &rest[..authority_end(rest)];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default_port = match scheme {
        "redis" | "rediss" => 6379,
        _ => 5432,
    };
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    };
    tokio::net::lookup_host(host_port)
        .await
        .expect("resolve the service host")
        .next()
        .expect("an address for the service host")
}
