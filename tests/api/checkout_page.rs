//! The hosted payment page and its return leg: what the shopper sees (shop name, localized
//! amount, security headers), stale links with a way back, and a return URL that acts only on
//! a completed checkout.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
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
        csp.contains(&format!(
            "script-src 'nonce-{nonce}' 'strict-dynamic' {};",
            app.sim.base_url
        )),
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

/// One browser (or bot) hit on a checkout link.
#[derive(Debug, Clone, Copy)]
enum Hit {
    /// The return URL without parameters (a prefetcher).
    Return,
    /// The return URL with an empty `id`.
    ReturnEmpty,
    /// The return URL with this checkout's id (the PSP server to server, or the shopper).
    ReturnOwn,
    /// The return URL with an id of another checkout.
    ReturnOther,
    Abort,
    Page,
}

fn hits(early: bool) -> impl Strategy<Value = Vec<Hit>> {
    let any_hit = prop_oneof![
        Just(Hit::Return),
        Just(Hit::ReturnEmpty),
        Just(Hit::ReturnOwn),
        Just(Hit::ReturnOther),
        Just(Hit::Abort),
        Just(Hit::Page),
    ];
    // Before payment: no abort (it is an outcome of its own) and at most one read of the
    // checkout (the PSP allows two per minute; the shopper's real return needs the other).
    let early_hit = prop_oneof![
        Just(Hit::Return),
        Just(Hit::ReturnEmpty),
        Just(Hit::ReturnOther),
        Just(Hit::Page),
    ];
    if early {
        (prop::collection::vec(early_hit, 0..5), any::<bool>())
            .prop_map(|(mut v, own)| {
                if own {
                    v.push(Hit::ReturnOwn);
                }
                v
            })
            .boxed()
    } else {
        prop::collection::vec(any_hit, 1..8).boxed()
    }
}

/// Sends one hit; returns (status, Location or body).
async fn hit(app: &TestApp, url: &str, checkout: &str, h: Hit) -> (StatusCode, String) {
    let other = "0123456789ABCDEF0123456789ABCDEF.uat01-vm-tx03";
    let target = match h {
        Hit::Return => format!("{url}/return"),
        Hit::ReturnEmpty => format!("{url}/return?id="),
        Hit::ReturnOwn => format!("{url}/return?id={checkout}"),
        Hit::ReturnOther => format!("{url}/return?id={other}"),
        Hit::Abort => format!("{url}/abort"),
        Hit::Page => url.to_string(),
    };
    let res = app.client.get(target).send().await.expect("hit");
    let status = res.status();
    if status.is_redirection() {
        (status, location(&res))
    } else {
        (status, res.text().await.expect("body"))
    }
}

/// For any sequence of hits: before payment the preauth stays `Initiated` and every return
/// leads back to the payment page; after an outcome (paid, declined, aborted) every return or
/// abort leads to that outcome's URL, the page links to it, and nothing changes any more.
#[tokio::test]
async fn any_sequence_of_hits_keeps_initiated_until_paid_and_the_outcome_after() {
    let app = TestApp::spawn().await;
    let mut runner = TestRunner::deterministic();
    for case in 0..9 {
        let early = hits(true)
            .new_tree(&mut runner)
            .expect("sequence")
            .current();
        let late = hits(false)
            .new_tree(&mut runner)
            .expect("sequence")
            .current();
        let (pre, url) = preauth(&app, 10.0, "en").await;
        let html = app
            .client
            .get(&url)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        let checkout = between(&html, "checkoutId=", "\"").expect("checkout id");
        for h in &early {
            let (s, answer) = hit(&app, &url, &checkout, *h).await;
            match h {
                Hit::Page => assert!(answer.contains("paymentWidgets"), "{h:?}: {answer}"),
                Hit::ReturnOther => assert_eq!(s, StatusCode::BAD_REQUEST, "{h:?}"),
                _ => assert_eq!(
                    answer, url,
                    "case {case} {early:?}: {h:?} leads back to the page"
                ),
            }
            assert_eq!(status_of(&app, &pre).await, "Initiated", "{early:?}");
        }
        let (landing, status) = match case % 3 {
            0 => (app.pay_on_checkout(&url, VISA).await, "Succeeded"),
            1 => {
                app.sim.sim.force_next_result("800.100.151");
                (app.pay_on_checkout(&url, VISA).await, "Failed")
            }
            _ => (hit(&app, &url, &checkout, Hit::Abort).await.1, "Cancelled"),
        };
        assert_eq!(status_of(&app, &pre).await, status);
        for h in &late {
            let (s, answer) = hit(&app, &url, &checkout, *h).await;
            match h {
                Hit::Page => {
                    assert_eq!(s, StatusCode::OK);
                    assert!(
                        answer.contains(&format!("href=\"{landing}\"")),
                        "{h:?}: {answer}"
                    );
                }
                _ => assert_eq!(answer, landing, "case {case} {late:?}: {h:?}"),
            }
        }
        assert_eq!(status_of(&app, &pre).await, status, "{late:?}");
    }
    app.drain_outbox(60).await;
    let hooks = app.webhooks();
    assert_eq!(hooks.len(), 9, "one webhook per preauth: {hooks:?}");
}
