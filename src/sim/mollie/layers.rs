//! Middleware around `/v2`: transport faults (§3.20: 429, 5xx, drop after commit, delay) and
//! `Idempotency-Key` (§3.19: one hour, replay with `Idempotent-Replayed: true`, 400 for another
//! endpoint or body, 409 while the first request still runs).

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use sha2::{Digest, Sha256};

use super::Sim;
use super::respond::{ApiError, HAL};
use super::state::IdemEntry;

/// Idempotency keys are remembered this long (§2.12).
const IDEMPOTENCY_SECS: i64 = 3600;
/// Largest body the simulator reads.
const BODY_LIMIT: usize = 1 << 20;

pub(crate) async fn not_found() -> Response {
    ApiError::new(404, "The resource could not be found").into_response()
}

pub(crate) async fn method_not_allowed() -> Response {
    ApiError::new(405, "The method is not allowed on this resource").into_response()
}

/// What the fault knobs decide for one request, before it runs.
enum Before {
    Run { drop: bool },
    Refuse(ApiError),
}

fn decide(sim: &Sim, method: &Method) -> Before {
    sim.with_state(|st, _| {
        let sec = st.now().timestamp();
        if st.rate.0 != sec {
            st.rate = (sec, 0);
        }
        st.rate.1 += 1;
        let k = &mut st.knobs;
        if k.rate_limit_per_sec > 0 && st.rate.1 > k.rate_limit_per_sec {
            return Before::Refuse(ApiError::new(429, "Too many requests, slow down"));
        }
        if k.error_times > 0 {
            k.error_times -= 1;
            let status = if (500..600).contains(&k.error_status) {
                k.error_status
            } else {
                503
            };
            return Before::Refuse(ApiError::new(
                status,
                "The service is temporarily unavailable",
            ));
        }
        let mutating = matches!(*method, Method::POST | Method::DELETE | Method::PATCH);
        let drop = mutating && k.drop_after_commit > 0;
        if drop {
            k.drop_after_commit -= 1;
        }
        Before::Run { drop }
    })
}

pub(crate) async fn faults(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    match decide(&sim, req.method()) {
        Before::Refuse(e) => e.into_response(),
        Before::Run { drop: false } => next.run(req).await,
        Before::Run { drop: true } => {
            let res = next.run(req).await;
            // Let the body finish so the work is committed, then break the connection.
            let _ = to_bytes(res.into_body(), BODY_LIMIT).await;
            broken_response()
        }
    }
}

/// A response whose body fails at once: hyper aborts the connection mid-response.
fn broken_response() -> Response {
    let err = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "simulated drop");
    let stream = futures_util::stream::iter([Err::<Bytes, _>(err)]);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, HAL)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn delayed(sim: &Sim, req: Request, next: Next) -> Response {
    let ms = sim.with_state(|st, _| st.knobs.delay_ms);
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    next.run(req).await
}

/// What the idempotency cache says about one keyed request.
enum Cached {
    Fresh,
    Replay(u16, String),
    Refuse(ApiError),
}

fn lookup(sim: &Sim, key: &str, fingerprint: &str) -> Cached {
    sim.with_state(|st, _| {
        let now = st.now();
        let window = Duration::seconds(IDEMPOTENCY_SECS);
        if let Some(e) = st.idem.get(key).filter(|e| now - e.at < window) {
            return match (&e.answer, e.fingerprint == fingerprint) {
                (_, false) => Cached::Refuse(ApiError::new(
                    400,
                    "This Idempotency-Key has already been used",
                )),
                (None, true) => Cached::Refuse(ApiError::new(
                    409,
                    "Another request with this Idempotency-Key is already being processed",
                )),
                (Some((s, b)), true) => Cached::Replay(*s, b.clone()),
            };
        }
        if st.idem.len() % 512 == 511 {
            st.idem.retain(|_, e| now - e.at < window);
        }
        let entry = IdemEntry {
            fingerprint: fingerprint.to_string(),
            at: now,
            answer: None,
        };
        st.idem.insert(key.to_string(), entry);
        Cached::Fresh
    })
}

fn replay(status: u16, body: String) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if body.is_empty() {
        return code.into_response();
    }
    let mut r = (code, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HAL));
    r
}

pub(crate) async fn idempotency(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let idem = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (Some(idem), Method::POST) = (idem, req.method().clone()) else {
        return delayed(&sim, req, next).await;
    };
    let key = format!("{auth} {idem}");
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return ApiError::new(400, "The request body could not be read").into_response();
    };
    let fingerprint = format!(
        "POST {} {}",
        parts.uri.path(),
        hex::encode(Sha256::digest(&bytes))
    );
    match lookup(&sim, &key, &fingerprint) {
        Cached::Refuse(e) => return e.into_response(),
        Cached::Replay(status, body) => {
            let mut r = replay(status, body);
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return r;
        }
        Cached::Fresh => {}
    }
    let res = delayed(&sim, Request::from_parts(parts, Body::from(bytes)), next).await;
    let status = res.status().as_u16();
    let (rparts, rbody) = res.into_parts();
    let out = to_bytes(rbody, BODY_LIMIT).await.unwrap_or_default();
    sim.with_state(|st, _| {
        if status >= 500 {
            st.idem.remove(&key);
        } else if let Some(e) = st.idem.get_mut(&key) {
            e.answer = Some((status, String::from_utf8_lossy(&out).into_owned()));
        }
    });
    Response::from_parts(rparts, Body::from(out))
}
