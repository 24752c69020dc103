//! A TCP proxy between the app and a service (PostgreSQL) that a test can cut, stall and
//! restore. Cut, it closes every open connection and drops new ones as soon as they are
//! accepted, as a database that went away would look to the app. Stalled, it keeps every
//! connection open but passes nothing, as a network that silently drops packets would.
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Open,
    Cut,
    Stalled,
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
                    if !matches!(mode, Ok(Mode::Open)) {
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watching.wait_for(|m| *m != Mode::Open) => {}
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

    pub fn restore(&self) {
        self.mode.send_replace(Mode::Open);
    }

    /// `url` (`postgres://user@host:port/db?...`) with its host and port replaced by the
    /// proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let userinfo = authority
            .rsplit_once('@')
            .map(|(user, _)| format!("{user}@"))
            .unwrap_or_default();
        format!("{scheme}://{userinfo}{}{path}", self.addr)
    }
}

/// The host and port of a `postgres://` URL, resolved.
pub async fn target_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("a URL with a scheme").1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    tokio::net::lookup_host(host_port)
        .await
        .expect("resolve the database host")
        .next()
        .expect("an address for the database host")
}
