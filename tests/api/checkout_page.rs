//! The hosted payment page and its return leg: what the shopper sees (shop name, localized
//! amount, security headers), stale links with a way back, and a return URL that acts only on
//! a completed checkout.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

const VISA: &str = "4200000000000000";

/// Starts a card preauth; returns (billwerk id, redirect URL).
async fn preauth(app: &TestApp, amount: f64, language: &str) -> (String, String) {
    let pre = tx_id();
    let mut body = targeted(
        preauth_body(&pre, &agreement_id(), amount),
        &app.hook_target(),
    );
    body["payerData"]["language"] = json!(language);
    let (s, p) = app.post("/api/Preauth", body).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Initiated");
    (pre, p["redirectUrl"].as_str().expect("redirectUrl").into())
}

async fn status_of(app: &TestApp, pre: &str) -> String {
    let (_, p) = app.get(&format!("/api/Preauth/{pre}")).await;
    p["status"].as_str().unwrap_or_default().to_string()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn payment_page_names_the_shop_formats_the_amount_and_locks_itself_down() {
    let app = TestApp::spawn().await;
    let mut settings = sandbox_settings();
    settings["merchantSettings"]
        .as_array_mut()
        .expect("settings")
        .push(json!({"keyName": "ShopName", "keyValue": "Käse & Co. <Berlin>"}));
    let (s, b) = app.put_settings(&app.token, settings).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let (_, url) = preauth(&app, 1234567.5, "EN").await;
    let res = app.client.get(&url).send().await.expect("page");
    assert_eq!(res.status(), StatusCode::OK);
    let csp = header(&res, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header(&res, "x-frame-options"), "DENY");
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(header(&res, "referrer-policy"), "no-referrer");
    let html = res.text().await.expect("html");
    let nonce = between(&csp, "'nonce-", "'").expect("nonce in the policy");
    assert!(
        csp.contains(&format!("script-src 'nonce-{nonce}' {}", app.sim.base_url)),
        "only our nonce and the widget's origin run scripts: {csp}"
    );
    assert_eq!(
        html.matches("<script").count(),
        html.matches(&format!("<script nonce=\"{nonce}\"")).count(),
        "every script carries the nonce"
    );
    assert!(
        html.contains("integrity=\"sha384-"),
        "widget loaded with SRI"
    );
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("€1,234,567.50"), "{html}");
    assert!(html.contains("Käse &#38; Co. &#60;Berlin&#62;"), "{html}");
    assert!(html.contains("name=\"viewport\""));

    let (_, url) = preauth(&app, 1234567.5, "de-DE").await;
    let html = app
        .client
        .get(&url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("<html lang=\"de\">"));
    assert!(html.contains("1.234.567,50\u{a0}€"), "{html}");
    assert!(html.contains("Zahlung abbrechen"));
    assert!(
        html.contains("{\"locale\":\"de\"}"),
        "the widget speaks German too"
    );
}

#[tokio::test]
async fn shop_name_setting_is_checked() {
    let app = TestApp::spawn().await;
    let mut settings = sandbox_settings();
    settings["merchantSettings"]
        .as_array_mut()
        .expect("settings")
        .push(json!({"keyName": "ShopName", "keyValue": "x".repeat(81)}));
    let (s, b) = app.put_settings(&app.token, settings).await;
    assert_error(s, &b, 422, "InvalidData", "ShopName");
}

#[tokio::test]
async fn early_or_parameterless_return_leaves_the_preauth_initiated_and_payment_still_works() {
    let app = TestApp::spawn().await;
    let (pre, url) = preauth(&app, 30.0, "EN").await;
    let page = app.client.get(&url).send().await.expect("page");
    let html = page.text().await.expect("html");
    let checkout = between(&html, "checkoutId=", "\"").expect("checkout id");

    // A link prefetcher: no parameters.
    let res = app
        .client
        .get(format!("{url}/return"))
        .send()
        .await
        .expect("return");
    assert!(res.status().is_redirection());
    assert_eq!(location(&res), url, "back to the payment page");
    assert_eq!(status_of(&app, &pre).await, "Initiated");

    // The PSP calling the result URL server to server before the shopper paid.
    let res = app
        .client
        .get(format!("{url}/return?id={checkout}"))
        .send()
        .await
        .expect("return");
    assert_eq!(location(&res), url, "back to the payment page");
    assert_eq!(status_of(&app, &pre).await, "Initiated");

    // The page still works, and the shopper can pay.
    let landing = app.pay_on_checkout(&url, VISA).await;
    assert_eq!(landing, "https://merchant.example/success");
    assert_eq!(status_of(&app, &pre).await, "Succeeded");
    app.drain_outbox(60).await;
    let hooks = app.webhooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["TransactionId"], pre.as_str());
}

#[tokio::test]
async fn reload_and_replay_give_the_same_outcome() {
    let app = TestApp::spawn().await;
    let (pre, url) = preauth(&app, 30.0, "EN").await;
    app.sim.sim.force_next_result("800.100.151");
    let landing = app.pay_on_checkout(&url, VISA).await;
    assert_eq!(landing, "https://merchant.example/error");
    let page = app.client.get(&url).send().await.expect("page");
    let html = page.text().await.expect("html");
    assert!(html.contains("Payment not completed"), "{html}");
    assert!(html.contains("href=\"https://merchant.example/error\""));
    for query in [
        "",
        "?id=",
        "?id=FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03",
    ] {
        let res = app
            .client
            .get(format!("{url}/return{query}"))
            .send()
            .await
            .expect("return");
        assert_eq!(
            location(&res),
            "https://merchant.example/error",
            "replay {query:?}"
        );
    }
    // A successful payment cannot be flipped by a replayed abort either.
    let (pre2, url2) = preauth(&app, 30.0, "EN").await;
    assert_eq!(
        app.pay_on_checkout(&url2, VISA).await,
        "https://merchant.example/success"
    );
    let res = app
        .client
        .get(format!("{url2}/abort"))
        .send()
        .await
        .expect("abort");
    assert_eq!(location(&res), "https://merchant.example/success");
    let res = app
        .client
        .get(format!("{url2}/return"))
        .send()
        .await
        .expect("reload");
    assert_eq!(location(&res), "https://merchant.example/success");
    assert_eq!(status_of(&app, &pre).await, "Failed");
    assert_eq!(status_of(&app, &pre2).await, "Succeeded");
}

#[tokio::test]
async fn another_checkouts_id_reads_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let other = app.second_merchant("other-shop").await;
    let (pre, url) = preauth(&app, 30.0, "EN").await;
    let pre_b = tx_id();
    let (s, b) = app
        .send(
            reqwest::Method::POST,
            "/api/Preauth",
            Some(&other),
            Some(&preauth_body(&pre_b, &agreement_id(), 12.0)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let url_b = b["redirectUrl"].as_str().expect("url");
    let html_b = app
        .client
        .get(url_b)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let checkout_b = between(&html_b, "checkoutId=", "\"").expect("checkout id");
    let res = app
        .client
        .get(format!("{url}/return?id={checkout_b}"))
        .send()
        .await
        .expect("return");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.expect("body");
    assert!(body.contains("Payment page not found"), "{body}");
    assert!(!body.contains("other-shop") && !body.contains(&pre_b));
    assert_eq!(status_of(&app, &pre).await, "Initiated");
    let (_, pb) = app
        .send(
            reqwest::Method::GET,
            &format!("/api/Preauth/{pre_b}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(pb["status"], "Initiated");
    // And merchant A's API cannot read merchant B's preauth.
    let (s, _) = app.get(&format!("/api/Preauth/{pre_b}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stale_links_show_a_clear_page_with_a_way_back() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/checkout/not-a-token", app.base))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(header(&res, "content-security-policy").contains("frame-ancestors 'none'"));
    let body = res.text().await.expect("body");
    assert!(body.contains("Payment page not found") && body.contains("<html lang=\"en\">"));

    let (_, url) = preauth(&app, 30.0, "de").await;
    let res = app
        .client
        .get(format!("{url}/abort"))
        .send()
        .await
        .expect("abort");
    assert_eq!(location(&res), "https://merchant.example/abort");
    let body = app
        .client
        .get(&url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(body.contains("Zahlung abgebrochen"), "{body}");
    assert!(
        body.contains("href=\"https://merchant.example/abort\""),
        "{body}"
    );

    let (_, url) = preauth(&app, 30.0, "en").await;
    app.pay_on_checkout(&url, VISA).await;
    let body = app
        .client
        .get(&url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(body.contains("Payment already completed"), "{body}");
    assert!(
        body.contains("href=\"https://merchant.example/success\""),
        "{body}"
    );
}
