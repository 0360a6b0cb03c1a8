//! `psp-integrator demo --psp oppwa`: the OPPWA family's narrated tour on a throw-away SQLite
//! database. The integrator (built by `startup::Application`, like `serve`), the OPPWA simulator
//! and a recording Billwerk stand-in run in this one process on free loopback ports; every step
//! is a real HTTP call. It lives with the simulator because it drives it (cards, result codes,
//! deliveries); the family registers it in `run::SIMULATOR`.

use std::path::Path;

use reqwest::Method;
use serde_json::json;

use crate::sim::oppwa::{self as sim, WebhookConfig};
use crate::sim::tour::{
    Stage, between, card_preauth, location, new_ref, recurring_body, short, stage, tx_id, txt,
};

/// A test card the simulator approves without a 3DS challenge.
const CARD: &str = "4200000000000000";

/// [`run`] as the simulator registry holds it.
pub fn run_boxed(config_dir: &Path) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
    Box::pin(run(config_dir))
}

/// Runs the tour; `Err` names the step that went wrong.
pub async fn run(config_dir: &Path) -> Result<(), String> {
    let mut t = stage(config_dir, "oppwa", "OPPWA", |cfg| {
        // The tour delivers the PSP's notifications and our webhooks itself, step by step.
        if let Some(s) = cfg.sim.of_mut::<super::OppwaSimSection>() {
            s.auto_deliver = false;
        }
    })
    .await?;
    let outcome = walk(&mut t).await;
    t.finish(outcome).await
}

async fn walk(t: &mut Stage) -> Result<(), String> {
    let sim: sim::Sim = t.simulator("oppwa")?;
    let sim_url = t.simulator_url("oppwa");
    let hook = t.hook.clone();
    let settings = json!({ "merchantSettings": [
        { "keyName": "AccessToken", "keyValue": sim::SANDBOX_ACCESS_TOKEN },
        { "keyName": "EntityId", "keyValue": sim::SANDBOX_ENTITY_ID },
        { "keyName": "MitEntityId", "keyValue": sim::SANDBOX_MIT_ENTITY_ID },
        { "keyName": "WebhookSecret", "keyValue": sim::SANDBOX_WEBHOOK_SECRET },
        { "keyName": "Environment", "keyValue": "Test" }
    ]});
    t.onboard("oppwa", settings).await?;
    let notify_url = t.notification_url.clone();
    let id = sim.add_webhook(WebhookConfig {
        url: notify_url.clone(),
        secret_hex: sim::SANDBOX_WEBHOOK_SECRET.to_string(),
        entity_id: None,
        types: vec![],
        fields: "ALL".into(),
    });
    let status = sim.activate_webhook(id).await?;
    t.say(format!(
        "The PSP's notification webhook points at {notify_url} (test message: HTTP {status})"
    ));
    let psp_delivers = || async {
        let reports = sim.deliver_due().await;
        reports.iter().filter(|r| r.status == Some(200)).count()
    };

    t.title("Card preauthorization through the hosted checkout");
    let agreement = new_ref();
    let pre = tx_id();
    let p = t
        .call(
            Method::POST,
            "/api/Preauth",
            Some(card_preauth(&pre, &agreement, 120, &hook)),
        )
        .await?;
    let redirect = p["redirectUrl"].as_str().unwrap_or_default().to_string();
    t.say(format!(
        "POST /api/Preauth 120 EUR  -> {} ; Billwerk sends the shopper to {}",
        txt(&p["status"]),
        short(&redirect)
    ));
    let landing = pay_as_shopper(&t.http, &sim_url, &redirect, CARD).await?;
    t.say(format!(
        "The shopper enters card {}…{} at the PSP and returns to {landing}",
        &CARD[..4],
        &CARD[CARD.len() - 4..]
    ));
    let p = t
        .call(Method::GET, &format!("/api/Preauth/{pre}"), None)
        .await?;
    t.say(format!(
            "GET  /api/Preauth/{{id}}    -> {}, authorized {} EUR, card {} {} stored for later payments",
            txt(&p["status"]),
            p["authorizedAmount"],
            txt(&p["bearer"]["CardType"]),
            txt(&p["bearer"]["MaskedCardPan"])
        ));

    t.title("Capture part of the preauthorization");
    let capture = tx_id();
    let c = t
        .call(
            Method::POST,
            "/api/Payment",
            Some(json!({
                "transactionId": capture, "preauthTransactionId": pre,
                "agreementId": agreement, "requestedAmount": 100, "currency": "EUR",
                "webhookTarget": hook,
                "paymentMeansReference": { "role": "CreditCard" }
            })),
        )
        .await?;
    t.say(format!(
        "POST /api/Payment 100 EUR of the preauth -> {}, refundable {} EUR",
        txt(&c["status"]),
        c["refundableAmount"]
    ));

    t.title("Recurring payment on the stored card (no shopper present)");
    let recurring = tx_id();
    let r = t
        .call(
            Method::POST,
            "/api/Payment",
            Some(recurring_body(
                &recurring,
                &agreement,
                30,
                "CreditCard",
                &hook,
            )),
        )
        .await?;
    t.say(format!(
        "POST /api/Payment 30 EUR on agreement {agreement} -> {}",
        txt(&r["status"])
    ));

    t.title("Partial refund");
    let refund = tx_id();
    let f = t
        .call(
            Method::POST,
            "/api/Refund",
            Some(json!({
                "transactionId": refund, "paymentTransactionId": capture,
                "requestedAmount": 25, "currency": "EUR", "webhookTarget": hook
            })),
        )
        .await?;
    let c = t
        .call(Method::GET, &format!("/api/Payment/{capture}"), None)
        .await?;
    t.say(format!(
            "POST /api/Refund 25 EUR of the capture -> {}; the capture now shows refunded {} EUR, refundable {} EUR",
            txt(&f["status"]), c["refundedAmount"], c["refundableAmount"]
        ));

    t.title("A declined payment");
    sim.force_next_result("800.100.151");
    let declined = tx_id();
    let (status, e) = t
        .call_raw(
            Method::POST,
            "/api/Payment",
            Some(recurring_body(
                &declined,
                &agreement,
                45,
                "CreditCard",
                &hook,
            )),
        )
        .await?;
    t.say(format!(
            "POST /api/Payment 45 EUR (the PSP declines) -> HTTP {}: errorCode {}, pspErrorCode {}, \"{}\"",
            status.as_u16(),
            txt(&e["errorCode"]),
            txt(&e["pspErrorCode"]),
            e["errorMessage"].as_str().unwrap_or_default()
        ));

    t.title("SEPA direct debit, settled days later by an encrypted PSP notification");
    let mandate_agreement = t.sepa_mandate().await?;
    let (debit, psp_id) = t
        .sepa_debit(&mandate_agreement, "the bank has not confirmed yet")
        .await?;
    sim.complete(&psp_id, "000.100.110")?;
    let delivered = psp_delivers().await;
    let d = t
        .call(Method::GET, &format!("/api/Payment/{debit}"), None)
        .await?;
    t.say(format!(
            "The PSP sends its AES-GCM encrypted notifications ({delivered}: one per transaction of this tour it has not reported yet, the settled debit among them); GET /api/Payment/{{id}} -> {}, paid {} EUR",
            txt(&d["status"]),
            d["payments"][0]["amount"]
        ));

    t.title("A chargeback on the debit");
    sim.chargeback(&psp_id, "25.00", Some("MD06"))?;
    psp_delivers().await;
    let d = t
        .call(Method::GET, &format!("/api/Payment/{debit}"), None)
        .await?;
    t.say(format!(
        "The bank returns the debit (reason MD06) -> chargebacks: {} of {} EUR, reason {}",
        d["chargebacks"].as_array().map_or(0, Vec::len),
        d["chargebacks"][0]["amount"],
        txt(&d["chargebacks"][0]["reason"])
    ));

    let names = [
        (pre.as_str(), "card preauth"),
        (capture.as_str(), "capture"),
        (recurring.as_str(), "recurring"),
        (refund.as_str(), "refund"),
        (declined.as_str(), "declined"),
        (debit.as_str(), "SEPA debit"),
    ];
    t.webhooks_received(&names).await
}

/// Plays a shopper paying a hosted checkout with `card` on the simulator at `psp_base_url`: opens
/// our page at `redirect_url`, submits the PSP's card form, follows the redirect back through our
/// return URL, and returns where the browser lands (Billwerk's success, error or abort URL).
/// `http` must not follow redirects. Used by the demo and the load benchmark.
pub async fn pay_as_shopper(
    http: &reqwest::Client,
    psp_base_url: &str,
    redirect_url: &str,
    card: &str,
) -> Result<String, String> {
    let page = http
        .get(redirect_url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let checkout_id = between(&page, "checkoutId=", "\"").ok_or("no checkout id on our page")?;
    let return_url = between(&page, "action=\"", "\"")
        .ok_or("no return URL on our page")?
        .replace("&amp;", "&");
    let form = [
        ("paymentBrand", "VISA"),
        ("card.number", card),
        ("card.holder", "Jane Jones"),
        ("card.expiryMonth", "12"),
        ("card.expiryYear", "2034"),
        ("card.cvv", "123"),
        ("shopperResultUrl", return_url.as_str()),
    ];
    let res = http
        .post(format!("{psp_base_url}/v1/checkouts/{checkout_id}/submit"))
        .form(&form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let back = location(&res).ok_or("the PSP did not redirect back")?;
    let res = http.get(&back).send().await.map_err(|e| e.to_string())?;
    location(&res).ok_or_else(|| "our return URL did not redirect".to_string())
}
