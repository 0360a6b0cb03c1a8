//! A recording Billwerk stand-in: accepts webhook POSTs on any path, records each body with the
//! time and the status it answered, and answers what the test tells it to (status, Retry-After,
//! a delay before answering).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

use crate::domain::{Clock, SystemClock, Ticks};

/// One webhook the stand-in received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The JSON body (`Value::String` of the raw text if it was not JSON).
    pub body: serde_json::Value,
    /// The body exactly as sent.
    pub raw: String,
    pub path: String,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
    pub at: Ticks,
    pub status_returned: u16,
}

#[derive(Debug)]
struct Behaviour {
    status: u16,
    retry_after: Option<String>,
    delay: Option<Duration>,
}

#[derive(Debug)]
struct Shared {
    received: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
}

/// A running stand-in; it stops when the `shutdown` token given to `spawn` is cancelled.
#[derive(Debug, Clone)]
pub struct StandInHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// The stand-in's entry point.
#[derive(Debug)]
pub struct BillwerkStandIn;

impl BillwerkStandIn {
    /// Binds `addr` (port 0 for any) and serves until `shutdown` is cancelled.
    pub async fn spawn(
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<StandInHandle> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            behaviour: Mutex::new(Behaviour {
                status: 200,
                retry_after: None,
                delay: None,
            }),
        });
        let app = Router::new().fallback(record).with_state(shared.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "billwerk stand-in stopped");
            }
        });
        Ok(StandInHandle { addr, shared })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StandInHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    pub fn clear(&self) {
        lock(&self.shared.received).clear();
    }

    /// The status to answer from now on (default 200).
    pub fn set_status(&self, status: u16) {
        lock(&self.shared.behaviour).status = status;
    }

    pub fn set_retry_after(&self, value: Option<String>) {
        lock(&self.shared.behaviour).retry_after = value;
    }

    /// Wait this long (after recording) before answering.
    pub fn set_delay(&self, delay: Option<Duration>) {
        lock(&self.shared.behaviour).delay = delay;
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, retry_after, delay) = {
        let b = lock(&shared.behaviour);
        (b.status, b.retry_after.clone(), b.delay)
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let received = Received {
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone())),
        raw: text,
        path: uri.path().to_owned(),
        content_type: header_text(header::CONTENT_TYPE),
        user_agent: header_text(header::USER_AGENT),
        at: SystemClock.now(),
        status_returned: status,
    };
    lock(&shared.received).push(received);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, format!("stand-in answered {status}")).into_response();
    if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
