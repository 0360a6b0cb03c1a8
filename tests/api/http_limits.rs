//! HTTP-layer limits against hostile requests: probes outside the concurrency limit, body
//! deadline and minimum rate, the notification endpoint checked before its body is read, an
//! announced body over the limit refused at once. Raw loopback sockets play the slow clients;
//! the connection limits are in `http_connections`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

pub(crate) fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// A request head announcing `length` body bytes, optionally with the merchant's token.
pub(crate) fn head(method: &str, path: &str, length: usize, token: Option<&str>) -> String {
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n{auth}\r\n"
    )
}

/// Reads one answer (head and `Content-Length` body); `None` if the connection closes first.
pub(crate) async fn answer(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Option<(StatusCode, Value, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head.get(9..12)?.parse().ok()?;
                let body = serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or_default();
                return Some((StatusCode::from_u16(status).ok()?, body, head));
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Sends `request` on a new connection and waits at most `within` for the answer.
pub(crate) async fn exchange(
    app: &TestApp,
    request: &str,
    within: Duration,
) -> (StatusCode, Value, String) {
    let mut s = TcpStream::connect(addr(app)).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    tokio::time::timeout(within, answer(&mut s))
        .await
        .unwrap_or_else(|_| panic!("no answer within {within:?} to {request:.60}"))
        .expect("an answer before the connection closed")
}

/// One liveness probe on a new connection, as an orchestrator makes it; status and latency.
pub(crate) async fn probe(app: &TestApp, path: &str) -> (StatusCode, Duration) {
    let started = Instant::now();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let (status, _, _) = exchange(app, &request, Duration::from_secs(5)).await;
    (status, started.elapsed())
}

/// Whether the server has closed `stream` (EOF or reset) within `within`.
pub(crate) async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 256];
    loop {
        match tokio::time::timeout(within, stream.read(&mut b)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // An answer still in the buffer; keep reading to the end.
            Ok(Ok(_)) => {}
        }
    }
}

pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn probes_answer_within_100ms_while_515_connections_trickle_notification_bodies() {
    let app = TestApp::spawn().await;
    let path = format!("/psp/oppwa/{}/notifications", app.merchant_id);
    let mut slow = Vec::new();
    for _ in 0..515 {
        let mut s = TcpStream::connect(addr(&app)).await.expect("connect");
        s.write_all(head("POST", &path, 10_000, None).as_bytes())
            .await
            .expect("head");
        s.write_all(b"0").await.expect("first byte");
        slow.push(s);
    }
    for s in &mut slow {
        s.write_all(b"0").await.expect("second byte");
    }
    let mut took = Vec::new();
    for _ in 0..5 {
        let (status, t) = probe(&app, "/health/live").await;
        assert_eq!(status, StatusCode::OK);
        took.push(t);
    }
    took.sort();
    assert!(
        took[2] < Duration::from_millis(100) && took[4] < Duration::from_secs(1),
        "liveness latencies under the flood: {took:?}"
    );
    let (status, _) = probe(&app, "/health/ready").await;
    assert_eq!(status, StatusCode::OK, "readiness answers under the flood");
    // Bodies in transit hold no request slot: the API itself still answers.
    let request = format!(
        "GET /api/IntegrationInfo HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        app.token
    );
    let (status, _, _) = exchange(&app, &request, Duration::from_secs(5)).await;
    assert_eq!(status, StatusCode::OK);
    drop(slow);
}

#[tokio::test]
async fn probes_do_not_wait_for_a_full_concurrency_limit() {
    let app = TestApp::spawn_with(|c| c.limits.max_concurrent_requests = 2).await;
    let (status, body) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let agr = agreement_id();
    let (s, p) = app
        .post("/api/Preauth", sepa_preauth_body(&tx_id(), &agr))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    app.fault(psp_integrator::sim::oppwa::Fault::Delay { millis: 3000 });
    // Two debits whose PSP calls take 3 s fill both slots.
    let mut busy = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = tx_id();
        let mut body = recurring_body(&id, &agr, 10.0);
        body["paymentMeansReference"]["role"] = json!("Debit");
        let (client, url, token) = (
            app.client.clone(),
            format!("{}/api/Payment", app.base),
            app.token.clone(),
        );
        busy.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
        }));
        ids.push(id);
    }
    let waited = Instant::now();
    while ids.iter().any(|id| app.psp_calls(id) == 0) {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "both debits reached the PSP"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, took) = probe(&app, "/health/live").await;
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_millis(100), "liveness took {took:?}");
    let (status, _) = probe(&app, "/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    app.fault(psp_integrator::sim::oppwa::Fault::None);
    for b in busy {
        let status = b.await.expect("joined").expect("answered");
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_body_that_trickles_is_cut_with_408() {
    // The whole-body deadline.
    let app = TestApp::spawn_with(|c| {
        c.limits.body_read_timeout_secs = 1;
        c.limits.body_min_bytes_per_sec = 1;
    })
    .await;
    let s = TcpStream::connect(addr(&app)).await.expect("connect");
    let (mut rx, mut tx) = s.into_split();
    let h = head("POST", "/api/Preauth", 10_000, Some(&app.token));
    tx.write_all(h.as_bytes()).await.expect("head");
    // One byte every 250 ms, for longer than the deadline.
    let trickle = tokio::spawn(async move {
        for _ in 0..40 {
            if tx.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let (status, e, got) = tokio::time::timeout(Duration::from_secs(5), answer(&mut rx))
        .await
        .expect("an answer within 5 s, not after the 60 s request timeout")
        .expect("answered");
    trickle.abort();
    assert_error(status, &e, 408, "InvalidData", "body: arrived too slowly");
    assert!(got.contains("connection: close"), "{got}");

    // The minimum rate: 10 bytes, then nothing, is cut after the grace period.
    let app = TestApp::spawn_with(|c| c.limits.body_min_bytes_per_sec = 1024).await;
    let (status, body) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let request = format!(
        "{}{{\"a\":\"123",
        head("POST", "/api/Preauth", 10_000, Some(&app.token))
    );
    let (status, e, _) = exchange(&app, &request, Duration::from_secs(10)).await;
    assert_error(status, &e, 408, "InvalidData", "1024 bytes per second");

    // A body sent in pieces at a fair pace is read as usual.
    let body = preauth_body(&tx_id(), &agreement_id(), 10.0).to_string();
    let mut s = TcpStream::connect(addr(&app)).await.expect("connect");
    s.write_all(head("POST", "/api/Preauth", body.len(), Some(&app.token)).as_bytes())
        .await
        .expect("head");
    for piece in body.as_bytes().chunks(body.len() / 3 + 1) {
        s.write_all(piece).await.expect("piece");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, v, _) = tokio::time::timeout(Duration::from_secs(10), answer(&mut s))
        .await
        .expect("answered in time")
        .expect("answered");
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn an_unknown_notification_endpoint_is_answered_before_its_body() {
    let app = TestApp::spawn().await;
    let known = app.merchant_id.clone();
    for path in [
        "/psp/oppwa/no-such-merchant/notifications".to_string(),
        format!("/psp/mollie/{known}/notifications"),
    ] {
        // 10,000 bytes announced, none sent: the answer cannot have waited for them.
        let (status, e, _) = exchange(
            &app,
            &head("POST", &path, 10_000, None),
            Duration::from_secs(3),
        )
        .await;
        assert_error(status, &e, 404, "InvalidData", "no notification endpoint");
    }
    // The known endpoint still reads and checks what it is sent.
    let path = format!("/psp/oppwa/{known}/notifications");
    let request = format!("{}00", head("POST", &path, 2, None));
    let (status, e, _) = exchange(&app, &request, Duration::from_secs(5)).await;
    assert_error(status, &e, 400, "InvalidData", ": ");
}

#[tokio::test]
async fn an_announced_body_over_the_limit_is_refused_at_once_with_413() {
    let app = TestApp::spawn().await;
    let notifications = format!("/psp/oppwa/{}/notifications", app.merchant_id);
    for (path, token) in [
        ("/api/Preauth", Some(app.token.as_str())),
        ("/api/Preauth", None),
        (notifications.as_str(), None),
    ] {
        let h = head("POST", path, 10_000_000, token);
        let (status, e, got) = exchange(&app, &h, Duration::from_secs(3)).await;
        assert_error(status, &e, 413, "InvalidData", "body: is too large");
        assert!(got.contains("connection: close"), "{got}");
    }
}
