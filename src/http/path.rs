//! Case-insensitive routes: Billwerk's reference server matches paths in any case, so the
//! literal segments of `/api/...` are rewritten to their canonical spelling before routing.
//! Ids are left exactly as sent.

use axum::extract::Request;
use axum::http::Uri;

const SEGMENTS: &[&str] = &[
    "api",
    "Preauth",
    "Payment",
    "Refund",
    "Cancel",
    "Finalize",
    "IntegrationInfo",
    "Settings",
];

/// Rewrites the request's path in place when it is under `/api`.
pub fn normalize(mut req: Request) -> Request {
    let path = req.uri().path();
    let mut parts = path.split('/');
    let (Some(""), Some(first)) = (parts.next(), parts.next()) else {
        return req;
    };
    if !first.eq_ignore_ascii_case("api") {
        return req;
    }
    let rewritten: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            let literal = i <= 2 || i == 4 || (i == 3 && seg.eq_ignore_ascii_case("Finalize"));
            let known = SEGMENTS.iter().find(|s| s.eq_ignore_ascii_case(seg));
            match known {
                Some(k) if literal => k,
                _ => seg,
            }
        })
        .collect();
    let new_path = rewritten.join("/");
    if new_path == path {
        return req;
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        let req = Request::builder()
            .uri(p)
            .body(axum::body::Body::empty())
            .expect("request");
        normalize(req).uri().to_string()
    }

    #[test]
    fn rewrites_literals_only() {
        assert_eq!(
            norm("/API/preauth/20221108-636bd596c10cfc318b1bfabb/cancel"),
            "/api/Preauth/20221108-636bd596c10cfc318b1bfabb/Cancel"
        );
        assert_eq!(norm("/api/PAYMENT/x?a=b"), "/api/Payment/x?a=b");
        assert_eq!(norm("/api/preauth/finalize"), "/api/Preauth/Finalize");
        assert_eq!(norm("/api/integrationinfo"), "/api/IntegrationInfo");
        assert_eq!(norm("/checkout/abc"), "/checkout/abc");
    }
}
