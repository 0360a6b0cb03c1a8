//! The HTTP/1.1 server loop: hyper's connection driver with the limits `axum::serve` does not
//! offer. Per connection, a watchdog closes it when a new connection has not sent a complete
//! request head within `limits.header_read_timeout_secs`, when a started head on a kept-alive
//! connection takes that long, or when a kept-alive connection waits for its next request
//! longer than `limits.idle_timeout_secs`. A request in progress is never cut here (its body
//! and its answer have their own deadlines, see `http::limits`). At most
//! `limits.max_connections` connections are open at once; further ones wait in the listen
//! backlog. Graceful shutdown: stop accepting, let requests in progress finish, close idle
//! connections.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceExt};

use super::conn::ErrorBodyStream;
use crate::config::LimitsSection;

/// The connection limits (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl From<&LimitsSection> for ConnLimits {
    fn from(l: &LimitsSection) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(l.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(l.idle_timeout_secs),
            max_connections: l.max_connections,
        }
    }
}

/// "Never" for the millisecond stamps below.
const NONE: u64 = u64::MAX;

/// What the watchdog knows of one connection; the stream and the service update it.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Requests whose answer has not been produced yet.
    in_flight: AtomicUsize,
    /// Requests started on this connection.
    served: AtomicU64,
    /// Milliseconds since `opened` when the connection last became idle (0: opened).
    idle_since: AtomicU64,
    /// Milliseconds since `opened` of the first byte read while idle (`NONE`: none yet).
    head_started: AtomicU64,
    /// Wakes the watchdog when its deadline may have moved.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            let now = self.now_ms();
            let first = self
                .head_started
                .compare_exchange(NONE, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
            if first {
                self.changed.notify_one();
            }
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.fetch_add(1, Ordering::SeqCst);
        self.head_started.store(NONE, Ordering::SeqCst);
    }

    fn request_answered(&self) {
        self.idle_since.store(self.now_ms(), Ordering::SeqCst);
        self.head_started.store(NONE, Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_one();
    }

    /// When the connection is due to be closed, if nothing changes until then (`None`: a
    /// request is in progress).
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let at = |ms: u64, limit: Duration| self.opened + Duration::from_millis(ms) + limit;
        let head = self.head_started.load(Ordering::SeqCst);
        if head != NONE {
            return Some(at(head, limits.header_read_timeout));
        }
        let idle = self.idle_since.load(Ordering::SeqCst);
        let limit = if self.served.load(Ordering::SeqCst) == 0 {
            limits.header_read_timeout
        } else {
            limits.idle_timeout
        };
        Some(at(idle, limit))
    }
}

/// Marks a request answered when dropped (also when its future is cancelled).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_answered();
    }
}

/// A connection's stream that notes when bytes arrive.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `service` on `listener` until `shutdown` is cancelled, then waits for the open
/// connections to finish their requests.
pub async fn run<S>(
    listener: TcpListener,
    service: S,
    limits: ConnLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p,
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        let stream = tokio::select! {
            s = listener.accept() => s,
            () = shutdown.cancelled() => break,
        };
        let (stream, _) = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = permit;
            connection(stream, service, limits, shutdown).await;
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Drives one connection under its watchdog.
async fn connection<S>(
    stream: tokio::net::TcpStream,
    service: S,
    limits: ConnLimits,
    shutdown: CancellationToken,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = Watched {
        inner: ErrorBodyStream::new(stream),
        activity: activity.clone(),
    };
    let counted = activity.clone();
    let svc = tower::service_fn(move |req: hyper::Request<Incoming>| {
        let service = service.clone();
        counted.request_started();
        let guard = InFlight(counted.clone());
        async move {
            let res = service.oneshot(req.map(Body::new)).await;
            drop(guard);
            res
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog keeps the head and idle deadlines; hyper's own head timeout would also cut
    // idle kept-alive connections at the head deadline.
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
    let mut conn = pin!(conn);
    let mut closing = false;
    loop {
        let due = activity.deadline(&limits);
        // A request in progress: nothing is due until it is answered (which notifies).
        let sleep =
            tokio::time::sleep_until(due.unwrap_or_else(|| Instant::now() + limits.idle_timeout));
        tokio::select! {
            () = activity.changed.notified() => {}
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = sleep => {
                if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    // Idle past its time or a head too slow: close without an answer.
                    return;
                }
            }
            () = shutdown.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
