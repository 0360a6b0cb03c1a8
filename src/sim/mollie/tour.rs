//! `psp-integrator demo --psp mollie`: the Mollie family's narrated tour, on the shared stage
//! (`sim::tour`): a card first payment through Mollie's hosted test checkout (the simulator's
//! page, where the tester picks the outcome), a recurring charge on the stored customer and
//! mandate, a refund through its lifecycle, a SEPA mandate from an IBAN with a debit settled
//! days later, a chargeback that keeps the payment `paid` at Mollie, and the webhooks Billwerk
//! received. Mollie's id-only webhooks are delivered step by step; the simulator's clock is
//! moved on where Mollie takes hours or days. Registered in `run::SIMULATOR`.

use std::path::Path;

use reqwest::Method;
use serde_json::json;

use super::{SANDBOX_TEST_KEY, Sim};
use crate::sim::tour::{
    Stage, card_preauth, location, new_ref, recurring_body, refund_body, short, stage, tx_id, txt,
};

/// [`run`] as the simulator registry holds it.
pub fn run_boxed(config_dir: &Path) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
    Box::pin(run(config_dir))
}

/// Runs the tour; `Err` names the step that went wrong.
pub async fn run(config_dir: &Path) -> Result<(), String> {
    let mut t = stage(config_dir, "mollie", "Mollie", |cfg| {
        // The tour delivers Mollie's webhooks itself, step by step.
        if let Some(s) = cfg.sim.of_mut::<super::MollieSimSection>() {
            s.auto_deliver = false;
            s.state_file = String::new();
        }
    })
    .await?;
    let outcome = walk(&mut t).await;
    t.finish(outcome).await
}

/// Mollie delivers every webhook that is due (its id-only POSTs to our notification URL);
/// how many were answered 200.
async fn deliver(sim: &Sim) -> usize {
    let mut ok = 0;
    for _ in 0..5 {
        let attempts = sim.deliver_due().await;
        if attempts.is_empty() {
            break;
        }
        ok += attempts.iter().filter(|a| a.status == Some(200)).count();
    }
    ok
}

async fn walk(t: &mut Stage) -> Result<(), String> {
    let sim: Sim = t.simulator("mollie")?;
    let hook = t.hook.clone();
    let settings = json!({ "merchantSettings": [
        { "keyName": "ApiKey", "keyValue": SANDBOX_TEST_KEY }
    ]});
    t.onboard("mollie", settings).await?;
    t.say(
        "One key: its prefix (test_ or live_) is the mode. Mollie's webhooks carry only a payment \
         id; we fetch the payment with this key, which is what makes them authentic.",
    );

    t.title("Card first payment through Mollie's hosted test checkout");
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
    let landing = shopper_picks(t, &redirect, "paid").await?;
    t.say(format!(
        "Our page sends the shopper on to Mollie's checkout; on its test page the tester picks \
         \"paid\"; Mollie sends the browser back to us, and we to {landing}"
    ));
    let p = t
        .call(Method::GET, &format!("/api/Preauth/{pre}"), None)
        .await?;
    t.say(format!(
        "GET  /api/Preauth/{{id}}    -> {}, authorized {} EUR, card {} {} stored as Mollie customer + mandate {}",
        txt(&p["status"]),
        p["authorizedAmount"],
        txt(&p["bearer"]["CardType"]),
        txt(&p["bearer"]["MaskedCardPan"]),
        txt(&p["bearer"]["RegistrationId"])
    ));

    t.title("Recurring charge on the stored card (no shopper present)");
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
        "POST /api/Payment 30 EUR on agreement {agreement} -> {} (a Mollie `recurring` payment {})",
        txt(&r["status"]),
        txt(&r["pspTransactionId"])
    ));
    let delivered = deliver(&sim).await;
    let r = t
        .call(Method::GET, &format!("/api/Payment/{recurring}"), None)
        .await?;
    t.say(format!(
        "Mollie's webhooks ({delivered}) name only the payment; we fetch it -> {}, refundable {} EUR",
        txt(&r["status"]),
        r["refundableAmount"]
    ));

    t.title("Partial refund, through Mollie's refund lifecycle");
    let refund = tx_id();
    let f = t
        .call(
            Method::POST,
            "/api/Refund",
            Some(refund_body(&refund, &recurring, 10, &hook)),
        )
        .await?;
    t.say(format!(
        "POST /api/Refund 10 EUR    -> {} (Mollie queues refunds for about two hours)",
        txt(&f["status"])
    ));
    // Pending, then processing, then refunded: a couple of hours each.
    for _ in 0..3 {
        sim.advance_clock(3 * 3600);
        deliver(&sim).await;
    }
    let f = t
        .call(Method::GET, &format!("/api/Refund/{refund}"), None)
        .await?;
    let r = t
        .call(Method::GET, &format!("/api/Payment/{recurring}"), None)
        .await?;
    t.say(format!(
        "Hours later Mollie's webhooks report it processing, then refunded -> {}; the payment shows refunded {} EUR, refundable {} EUR",
        txt(&f["status"]),
        r["refundedAmount"],
        r["refundableAmount"]
    ));

    t.title("SEPA direct debit: a Mollie mandate from an IBAN, a debit settled days later");
    let mandate_agreement = t.sepa_mandate().await?;
    let (debit, psp_id) = t
        .sepa_debit(&mandate_agreement, "the bank has not collected it yet")
        .await?;
    sim.advance_clock(3 * 24 * 3600);
    deliver(&sim).await;
    let d = t
        .call(Method::GET, &format!("/api/Payment/{debit}"), None)
        .await?;
    t.say(format!(
        "Three days later Mollie's webhook -> {}, paid {} EUR",
        txt(&d["status"]),
        d["payments"][0]["amount"]
    ));

    t.title("A chargeback on the debit (the payment stays `paid` at Mollie)");
    sim.chargeback(&psp_id, Some("25.00"), Some("MD06"), false)?;
    deliver(&sim).await;
    let d = t
        .call(Method::GET, &format!("/api/Payment/{debit}"), None)
        .await?;
    t.say(format!(
        "The bank returns the debit (reason MD06); we find it by comparing what Mollie shows with \
         what we hold -> chargebacks: {} of {} EUR, reason {}",
        d["chargebacks"].as_array().map_or(0, Vec::len),
        d["chargebacks"][0]["amount"],
        txt(&d["chargebacks"][0]["reason"])
    ));

    let names = [
        (pre.as_str(), "card preauth"),
        (recurring.as_str(), "recurring"),
        (refund.as_str(), "refund"),
        (debit.as_str(), "SEPA debit"),
    ];
    t.webhooks_received(&names).await
}

/// Plays the shopper's browser: our page (a redirect to Mollie's checkout), the outcome picked
/// on Mollie's test page, back through our return URL; where the browser lands.
async fn shopper_picks(t: &Stage, redirect_url: &str, outcome: &str) -> Result<String, String> {
    let res = t
        .http
        .get(redirect_url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let mollie = location(&res).ok_or("our page did not send the shopper to Mollie")?;
    let res = t
        .http
        .post(&mollie)
        .form(&[("outcome", outcome)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let back = location(&res).ok_or("Mollie's test page did not send the shopper back")?;
    let res = t.http.get(&back).send().await.map_err(|e| e.to_string())?;
    location(&res).ok_or_else(|| "our return URL did not redirect".to_string())
}
