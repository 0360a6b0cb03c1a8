//! Connections whose automatic error answers carry the error object too. hyper answers a request
//! it cannot parse (a URI over 64 KiB → 414, headers over its buffer → 431, a malformed request
//! line → 400) itself, with an empty body, before any service runs. Such an answer is a bare
//! head with `content-length: 0` and no content type, the last thing written on the connection;
//! this stream recognises exactly that and writes the contract's error object in its place.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::errors::HttpError;
use crate::domain::PaymentErrorCode;

/// A listener whose connections rewrite hyper's bodiless error answers.
pub struct ErrorBodies<L>(pub L);

impl<L: Listener> Listener for ErrorBodies<L> {
    type Io = ErrorBodyStream<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (ErrorBodyStream::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection that passes bytes through, except a bodiless error head (see the module doc).
pub struct ErrorBodyStream<S> {
    inner: S,
    pending: Vec<u8>,
    written: usize,
}

impl<S> ErrorBodyStream<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> ErrorBodyStream<S> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ErrorBodyStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ErrorBodyStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.drain(cx))?;
        if let Some(replacement) = rewrite(buf) {
            this.pending = replacement;
            // Accepted whole; whatever is not written yet goes out on the next flush.
            if let Poll::Ready(Err(e)) = this.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The error object for a request hyper refused before routing.
fn refused(status: StatusCode) -> HttpError {
    let message = match status.as_u16() {
        414 => format!(
            "path: the request URI is too long; at most {} characters are accepted",
            super::edge::MAX_URI
        ),
        431 => "headers: the request headers are too large".to_string(),
        _ => "request: is not a well-formed HTTP/1.1 request".to_string(),
    };
    HttpError::new(status, PaymentErrorCode::InvalidData, message)
}

/// The replacement for `buf` when it is exactly a bodiless 4xx head, else `None`.
fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    if buf.len() > 1024 || !(buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.0 4")) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if end != buf.len() {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?;
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let status = StatusCode::from_u16(status).ok()?;
    let lower = head.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") || lower.contains("\r\ncontent-type:") {
        return None;
    }
    let body = serde_json::to_vec(&refused(status).body).ok()?;
    let mut out = String::with_capacity(head.len() + 64);
    for line in head.trim_end_matches("\r\n").split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("content-length:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("content-type: application/json\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_error_heads_are_rewritten() {
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = rewrite(head).map(String::from_utf8);
        let Some(Ok(text)) = out else {
            panic!("rewritten")
        };
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\ndate: x\r\ncontent-type: application/json\r\ncontent-length: "));
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(body).expect("json body");
        assert_eq!(v["errorCode"], "InvalidData");
        assert!(
            v["errorMessage"]
                .as_str()
                .is_some_and(|m| m.starts_with("path: "))
        );
        let ours = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite(ours).is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nxx").is_none());
    }
}
