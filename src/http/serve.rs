//! The connection loop, with the limits `axum::serve` does not offer: at most
//! `max_connections` connections at once (more wait in the listen backlog), a request head must
//! arrive within `header_read_timeout` of the connection opening or of its first byte, and a
//! keep-alive connection with no request for `idle_timeout` is closed. Slow or idle clients
//! cannot hold the server. Shutting down stops accepting, lets the requests in flight finish,
//! and waits for every connection to close.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::Config;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(config.http_header_read_timeout_ms),
            idle_timeout: Duration::from_secs(config.http_idle_timeout_seconds),
            max_connections: config.http_max_connections,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains the connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let slots = u32::try_from(limits.max_connections.min(Semaphore::MAX_PERMITS))
        .unwrap_or(u32::MAX)
        .max(1);
    let permits = Arc::new(Semaphore::new(slots as usize));
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the cap, new connections wait in the kernel's backlog.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // back off a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, stopped).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection gives its slot back when it closes.
    let _ = permits.acquire_many(slots).await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    limits: Limits,
    mut stopped: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::start(activity.clone());
            let mut req = req.map(Body::new);
            // The peer address, for the per-IP rate limit.
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let call = router.clone().oneshot(req);
            async move {
                let response = call.await;
                drop(busy);
                response
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        // Our own timers below, which tell a slow head from an idle connection.
        .header_read_timeout(None)
        .serve_connection(io, service)
        // WebSocket (`/graphql/ws`): the upgraded connection lives on after this one ends.
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let wake = activity
            .due(&limits)
            .map_or_else(|| Instant::now() + limits.idle_timeout, |(at, _)| at);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            // A request starting or ending, or a head starting, moves the deadline.
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(wake) => {
                if let Some((at, why)) = activity.due(&limits)
                    && Instant::now() >= at
                {
                    tracing::debug!(reason = why, "closing a connection");
                    return;
                }
            }
            _ = stopped.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

const NO_HEAD: u64 = u64::MAX;

/// What a connection is doing, in milliseconds since it opened: when it last read or wrote,
/// since when it has been sending a request head (if it is), and how many requests are in
/// flight.
struct Activity {
    opened: Instant,
    last_io: AtomicU64,
    head_since: AtomicU64,
    busy: AtomicUsize,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_io: AtomicU64::new(0),
            // A new connection is expected to send its request at once.
            head_since: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.busy.load(Ordering::Acquire) == 0
            && self
                .head_since
                .compare_exchange(NO_HEAD, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// When the connection is to be closed and why; `None` while a request runs (the request
    /// timeout bounds it).
    fn due(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.head_since.load(Ordering::Acquire) {
            NO_HEAD => Some((
                self.at(self.last_io.load(Ordering::Relaxed)) + limits.idle_timeout,
                "idle timeout",
            )),
            since => Some((
                self.at(since) + limits.header_read_timeout,
                "header read timeout",
            )),
        }
    }
}

/// A request in flight on its connection, from its complete head to its response.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        activity.head_since.store(NO_HEAD, Ordering::Release);
        activity.changed.notify_one();
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// The socket, telling the connection's [`Activity`] about every read and write.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
