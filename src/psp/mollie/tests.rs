//! The adapter against the Mollie simulator, in process over loopback HTTP: the card first
//! payment through the hosted test page, recurring charges, refunds (the 409 duplicate),
//! cancel, status queries and id-only webhooks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::domain::{Currency, Money, PaymentErrorCode, TxStatus};
use crate::psp::{Checkout, EventKind, Outcome, Payer, PspEvent, StoredMethod};
use crate::sim::mollie::{SANDBOX_TEST_KEY, Sim, SimConfig};

pub(super) struct T {
    pub(super) sim: Sim,
    base: String,
    pub(super) psp: Arc<dyn MerchantPsp>,
    _stop: tokio_util::sync::DropGuard,
}

/// The adapter bound to a sandbox merchant of a fresh simulator (frozen clock).
pub(super) async fn start() -> T {
    let stop = CancellationToken::new();
    let cfg = SimConfig {
        frozen_clock: true,
        ..SimConfig::default()
    };
    let h = Sim::spawn(cfg, "127.0.0.1:0".parse().unwrap(), stop.clone())
        .await
        .unwrap();
    let mollie = Mollie::new(MollieConfig {
        test_base_url: h.base_url.clone(),
        live_base_url: "http://127.0.0.1:9".into(),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    });
    let mut s = PspSettings::default();
    s.0.insert(settings::API_KEY.into(), SANDBOX_TEST_KEY.into());
    let ctx = MerchantCtx {
        merchant_id: "m1".into(),
        notification_url: "http://127.0.0.1:9/psp/mollie/hook".into(),
    };
    let psp = mollie.bind(&s, &ctx).unwrap();
    T {
        sim: h.sim,
        base: h.base_url,
        psp,
        _stop: stop.drop_guard(),
    }
}

pub(super) fn eur(a: &str) -> Money {
    Money {
        amount: a.parse().unwrap(),
        currency: Currency::parse("EUR").unwrap(),
    }
}

fn preauth(reference: &str, amount: &str) -> InitialPreauth {
    InitialPreauth {
        merchant_tx_id: reference.into(),
        amount: eur(amount),
        method: InitialMethod::Card,
        payer: Payer {
            given_name: Some("Jane".into()),
            surname: Some("Doe".into()),
            email: Some("jane@example.com".into()),
            ..Payer::default()
        },
        reference_text: Some("Order 1".into()),
        shopper_result_url: "http://127.0.0.1:9/return/tok".into(),
    }
}

/// Picks `outcome` on the simulator's hosted test page, as a tester would.
async fn pay(t: &T, checkout: &Checkout, outcome: &str) {
    let href = checkout.data.clone().unwrap();
    assert!(href.starts_with(&t.base), "{href}");
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .post(&href)
        .form(&[("outcome", outcome)])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "{}",
        r.status()
    );
}

async fn checkout(t: &T, reference: &str, amount: &str) -> Checkout {
    match t.psp.start_preauth(&preauth(reference, amount)).await {
        PreauthStart::Checkout(c) => c,
        PreauthStart::Done(r) => panic!("no checkout: {r:?}"),
    }
}

fn cref<'a>(c: &'a Checkout, reference: &'a str) -> CheckoutRef<'a> {
    CheckoutRef {
        checkout_id: &c.checkout_id,
        data: c.data.as_deref(),
        merchant_tx_id: reference,
    }
}

/// A paid first payment: the agreement's stored method.
async fn agreement(t: &T, reference: &str, amount: &str) -> (String, StoredMethod) {
    let c = checkout(t, reference, amount).await;
    pay(t, &c, "paid").await;
    let r = t.psp.complete_checkout(&cref(&c, reference)).await;
    assert_eq!(r.outcome, Outcome::Succeeded, "{r:?}");
    let cred = r.credential.expect("credential");
    (
        c.checkout_id,
        StoredMethod {
            credential: cred.credential,
            is_debit: false,
            initial_transaction_id: cred.initial_transaction_id,
        },
    )
}

#[tokio::test]
async fn card_first_payment_through_the_hosted_page() {
    let t = start().await;
    let c = checkout(&t, "BW-1", "12.50").await;
    assert!(c.checkout_id.starts_with("tr_"));
    let page = CheckoutPage {
        return_url: "http://x/return".into(),
        language: "en".into(),
        nonce: "n".into(),
    };
    assert_eq!(
        t.psp.shopper_view(&cref(&c, "BW-1"), &page),
        Some(ShopperView::Redirect(c.data.clone().unwrap()))
    );
    assert_eq!(
        t.psp.return_leg(&cref(&c, "BW-1"), &[]),
        ReturnLeg::Finished
    );
    // Not paid yet: still pending, no credential.
    let open = t.psp.complete_checkout(&cref(&c, "BW-1")).await;
    assert_eq!(open.outcome, Outcome::Pending);
    assert!(open.credential.is_none());

    pay(&t, &c, "paid").await;
    let r = t.psp.complete_checkout(&cref(&c, "BW-1")).await;
    assert_eq!(r.outcome, Outcome::Succeeded, "{r:?}");
    assert_eq!(r.amount, Some("12.50".parse().unwrap()));
    assert_eq!(r.currency.as_deref(), Some("EUR"));
    assert_eq!(
        r.kind,
        Some(EventKind::Debit),
        "collected, not reserved (README)"
    );
    let cred = r.credential.expect("credential");
    let (cst, mdt) = cred.credential.split_once('/').expect("customer/mandate");
    assert!(
        cst.starts_with("cst_") && mdt.starts_with("mdt_"),
        "{}",
        cred.credential
    );
    assert_eq!(cred.bearer.get("Last4CardNumber").map(String::len), Some(4));
    assert!(cred.bearer.contains_key("CardType"));
    assert!(!cred.is_debit);
    // Our reference travelled as metadata; exactly one payment carries it.
    let n = t
        .sim
        .count_payments_with_metadata(&serde_json::json!({"transactionId": "BW-1"}));
    assert_eq!(n, 1);
}

#[tokio::test]
async fn declined_expired_and_cancelled_checkouts() {
    let t = start().await;
    for (outcome, status) in [
        ("failed", TxStatus::Failed),
        ("canceled", TxStatus::Cancelled),
        ("expired", TxStatus::Expired),
    ] {
        let reference = format!("BW-{outcome}");
        let c = checkout(&t, &reference, "1011.00").await;
        pay(&t, &c, outcome).await;
        let r = t.psp.complete_checkout(&cref(&c, &reference)).await;
        match r.outcome {
            Outcome::Declined(d) => assert_eq!(d.status, status, "{outcome}"),
            other => panic!("{outcome}: {other:?}"),
        }
        // A cancelled first payment may leave a pending mandate: never an agreement (§5 #6).
        assert!(r.credential.is_none(), "{outcome}");
    }
    // Magic amount 1011.00 forced to failed: card_declined → Rejected.
    let c = checkout(&t, "BW-magic", "1007.00").await;
    pay(&t, &c, "failed").await;
    match t.psp.complete_checkout(&cref(&c, "BW-magic")).await.outcome {
        Outcome::Declined(d) => {
            assert_eq!(d.code, PaymentErrorCode::InsufficientBalance);
            assert_eq!(d.psp_code.as_deref(), Some("insufficient_funds"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn recurring_charges_refunds_and_the_duplicate_refund() {
    let t = start().await;
    let (_, stored) = agreement(&t, "BW-2", "0").await;
    let charge = StoredCharge {
        merchant_tx_id: "BW-3".into(),
        amount: eur("20.00"),
        stored: stored.clone(),
        reference_text: None,
    };
    let r = t.psp.charge_stored(&charge).await;
    assert!(
        matches!(r.outcome, Outcome::Succeeded | Outcome::Pending),
        "{r:?}"
    );
    let tr = r.psp_transaction_id.clone().expect("id");
    // The same reference again is Mollie's idempotent replay: still one payment.
    let again = t.psp.charge_stored(&charge).await;
    assert_eq!(again.psp_transaction_id.as_deref(), Some(tr.as_str()));
    // A card recurring payment may settle at once or stay pending first (§6 Q3).
    if t.psp.fetch_status(&tr).await.expect("status").outcome == Outcome::Pending {
        let paid = t.sim.set_payment_status(&tr, "paid");
        assert!(paid.is_ok(), "{paid:?}");
    }
    let s = t.psp.fetch_status(&tr).await.expect("status");
    assert_eq!(s.outcome, Outcome::Succeeded);

    let refund = |id: &str| FollowUp {
        merchant_tx_id: id.into(),
        cancel_of: false,
        psp_transaction_id: tr.clone(),
        amount: Some(eur("5.00")),
        merchant_initiated: true,
    };
    let rf = t.psp.refund(&refund("BW-4")).await;
    assert!(
        matches!(rf.outcome, Outcome::Pending | Outcome::Succeeded),
        "{rf:?}"
    );
    let rf_id = rf.psp_transaction_id.clone().expect("refund id");
    assert!(rf_id.starts_with(&format!("{tr}/re_")), "{rf_id}");
    let st = t.psp.fetch_status(&rf_id).await.expect("refund status");
    assert_eq!(st.kind, Some(EventKind::Refund));
    // The same amount within the hour: Mollie's 409, a clear 422 for Billwerk (§5 #9).
    match t.psp.refund(&refund("BW-5")).await.outcome {
        Outcome::Declined(d) => {
            assert_eq!(d.code, PaymentErrorCode::InvalidData);
            assert_eq!(
                crate::http::errors::status_of(crate::contract::Failure::of(d.code)).as_u16(),
                422
            );
            assert!(d.message.contains("duplicate"), "{}", d.message);
        }
        other => panic!("{other:?}"),
    }

    // A stored method that is not ours is refused without a call.
    let bad = StoredCharge {
        stored: StoredMethod {
            credential: "nonsense".into(),
            ..stored
        },
        ..charge
    };
    assert!(matches!(
        t.psp.charge_stored(&bad).await.outcome,
        Outcome::Declined(_)
    ));
}

#[tokio::test]
async fn webhooks_fetch_and_report_every_state() {
    let t = start().await;
    let (tr, _) = agreement(&t, "BW-6", "30.00").await;
    let hook = |body: &'static [u8]| Inbound {
        headers: &[],
        body,
        query: "",
    };
    let body = format!("id={tr}").into_bytes().leak();
    let first = t.psp.receive(&hook(body)).await.expect("events");
    assert_eq!(first.len(), 1);
    let PspEvent::Payment(e) = &first[0].event else {
        panic!("{first:?}")
    };
    assert_eq!(e.merchant_tx_id.as_deref(), Some("BW-6"));
    assert_eq!(e.checkout_id.as_deref(), Some(tr.as_str()));
    assert!(e.result.credential.is_some());
    // The same state again: the same key (dedupe on the fetched state, not on the bytes).
    let again = t.psp.receive(&hook(body)).await.expect("events");
    assert_eq!(again[0].dedupe_key, first[0].dedupe_key);

    // A refund made at Mollie (no reference of ours) and a chargeback: one event each, the
    // payment itself stays `paid` (§5 #8).
    let rf = t
        .psp
        .refund(&FollowUp {
            merchant_tx_id: "BW-7".into(),
            cancel_of: false,
            psp_transaction_id: tr.clone(),
            amount: Some(eur("10.00")),
            merchant_initiated: false,
        })
        .await;
    assert!(rf.psp_transaction_id.is_some());
    let c = reqwest::Client::new();
    let cb = c
        .post(format!("{}/__admin/payments/{tr}/chargebacks", t.base))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(cb.status().is_success(), "{}", cb.status());
    let later = t.psp.receive(&hook(body)).await.expect("events");
    let kinds: Vec<EventKind> = later
        .iter()
        .filter_map(|n| match &n.event {
            PspEvent::Payment(e) => Some(e.kind.clone()),
            _ => None,
        })
        .collect();
    assert!(kinds.contains(&EventKind::Refund), "{kinds:?}");
    assert!(kinds.contains(&EventKind::Chargeback), "{kinds:?}");
    assert_eq!(
        later[0].dedupe_key, first[0].dedupe_key,
        "payment still paid"
    );
    let refund_event = later
        .iter()
        .find_map(|n| match &n.event {
            PspEvent::Payment(e) if e.kind == EventKind::Refund => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(refund_event.merchant_tx_id.as_deref(), Some("BW-7"));
    assert_eq!(refund_event.referenced_id.as_deref(), Some(tr.as_str()));

    // Unknown id: 404 is "not now", never a failed payment (§5 #2).
    let unknown = t.psp.receive(&hook(b"id=tr_doesNotExist")).await;
    assert!(
        matches!(unknown, Err(NotificationError::Unavailable(_))),
        "{unknown:?}"
    );
    for bad in [&b""[..], b"id=tr_a&id=tr_b", b"id=tr_%2F..%2Fx", b"foo=bar"] {
        assert!(
            matches!(
                t.psp.receive(&hook(bad)).await,
                Err(NotificationError::Malformed(_))
            ),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[tokio::test]
async fn settings_check_and_cancel() {
    let t = start().await;
    let v = t.psp.check_settings().await.expect("valid key");
    assert!(v.credit_card);
    // A well-formed key the simulator does not know: 401 → LoginError.
    let mollie = Mollie::new(MollieConfig {
        test_base_url: t.base.clone(),
        ..MollieConfig::default()
    });
    let mut s = PspSettings::default();
    s.0.insert(
        settings::API_KEY.into(),
        "test_unknownKey000000000000000000".into(),
    );
    let ctx = MerchantCtx {
        merchant_id: "m2".into(),
        notification_url: "http://127.0.0.1:9/h".into(),
    };
    let other = mollie.bind(&s, &ctx).unwrap();
    let e = other.check_settings().await.expect_err("unknown key");
    assert_eq!(e.code, PaymentErrorCode::LoginError);
    // A key of the wrong form never binds.
    s.0.insert(settings::API_KEY.into(), "sk_wrong".into());
    assert_eq!(
        mollie.bind(&s, &ctx).err().map(|e| e.key).as_deref(),
        Some("ApiKey")
    );

    // An open checkout can be cancelled at Mollie.
    let c = checkout(&t, "BW-8", "5.00").await;
    let r = t
        .psp
        .cancel(&FollowUp {
            merchant_tx_id: "BW-8".into(),
            cancel_of: true,
            psp_transaction_id: c.checkout_id.clone(),
            amount: None,
            merchant_initiated: false,
        })
        .await;
    assert_eq!(r.outcome, Outcome::Succeeded, "{r:?}");
    assert_eq!(r.kind, Some(EventKind::Reversal));
    // Its reversal is found again by the payment's status (a lost cancel answer).
    let known = Known {
        parent_psp_id: Some(c.checkout_id.clone()),
        credential: None,
    };
    match t.psp.lookup(Reference::CancelOf("BW-8"), &known).await {
        Lookup::Found(r) => {
            assert_eq!(r.outcome, Outcome::Succeeded, "{r:?}");
            assert_eq!(r.kind, Some(EventKind::Reversal));
        }
        other => panic!("{other:?}"),
    }
    // The first payment itself, by the customer created for it, without any id.
    match t
        .psp
        .lookup(Reference::Own("BW-8"), &Known::default())
        .await
    {
        Lookup::Found(r) => assert_eq!(
            r.psp_transaction_id.as_deref(),
            Some(c.checkout_id.as_str())
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        t.psp
            .lookup(Reference::Own("BW-none"), &Known::default())
            .await,
        Lookup::NotFound
    );
}

#[test]
fn amounts_mollie_cannot_carry_are_refused_before_any_call() {
    let m = Mollie::new(MollieConfig::default());
    assert!(m.check_amount(&eur("10.5")).is_ok());
    let jpy = Money {
        amount: "10.5".parse().unwrap(),
        currency: Currency::parse("JPY").unwrap(),
    };
    assert!(m.check_amount(&jpy).is_err());
    let bhd = Money {
        amount: "10".parse().unwrap(),
        currency: Currency::parse("BHD").unwrap(),
    };
    assert!(m.check_amount(&bhd).unwrap_err().contains("BHD"));
}

#[tokio::test]
async fn a_wrong_mode_key_and_zero_decimal_currencies() {
    let t = start().await;
    // JPY travels without decimals (§5 #10).
    let mut req = preauth("BW-jpy", "0");
    req.amount = Money {
        amount: "1500".parse().unwrap(),
        currency: Currency::parse("JPY").unwrap(),
    };
    let c = match t.psp.start_preauth(&req).await {
        PreauthStart::Checkout(c) => c,
        PreauthStart::Done(r) => panic!("{r:?}"),
    };
    pay(&t, &c, "paid").await;
    let r = t.psp.complete_checkout(&cref(&c, "BW-jpy")).await;
    assert_eq!(r.outcome, Outcome::Succeeded, "{r:?}");
    assert_eq!(r.amount, Some("1500".parse().unwrap()));
    assert_eq!(r.currency.as_deref(), Some("JPY"));

    // The same profile's live key cannot see a test payment: Mollie's wrong-mode 404 is never
    // a payment outcome (§5 #3), the webhook is not accepted.
    let mollie = Mollie::new(MollieConfig {
        live_base_url: t.base.clone(),
        ..MollieConfig::default()
    });
    let mut s = PspSettings::default();
    s.0.insert(
        settings::API_KEY.into(),
        crate::sim::mollie::SANDBOX_LIVE_KEY.into(),
    );
    let ctx = MerchantCtx {
        merchant_id: "m1".into(),
        notification_url: "http://127.0.0.1:9/h".into(),
    };
    let live = mollie.bind(&s, &ctx).unwrap();
    let body = format!("id={}", c.checkout_id);
    let got = live
        .receive(&Inbound {
            headers: &[],
            body: body.as_bytes(),
            query: "",
        })
        .await;
    assert!(
        matches!(got, Err(NotificationError::Misconfigured(_))),
        "{got:?}"
    );
    let read = live.complete_checkout(&cref(&c, "BW-jpy")).await;
    assert!(matches!(read.outcome, Outcome::Unknown(_)), "{read:?}");
    let status = live.fetch_status(&c.checkout_id).await;
    assert!(status.is_err(), "{status:?}");
}

/// Issue 19: for every number of lost answers (dropped after Mollie committed, or 5xx before
/// it did), a recurring charge is one payment at Mollie. With at most `api::REPLAYS` lost
/// answers the replay brings Mollie's first answer; with more the outcome is unknown, never a
/// decline, and the lookup finds the one payment by the agreement's customer.
#[tokio::test]
async fn every_number_of_lost_answers_gives_one_charge() {
    let t = start().await;
    let (_, stored) = agreement(&t, "BW-L0", "0").await;
    for lost in 0..=(api::REPLAYS as u32 + 2) {
        for drop in [true, false] {
            let reference = format!("BW-L{lost}-{drop}");
            t.sim.update_knobs(|k| {
                if drop {
                    k.drop_after_commit = lost;
                } else {
                    k.error_status = 503;
                    k.error_times = lost;
                }
            });
            let charge = StoredCharge {
                merchant_tx_id: reference.clone(),
                amount: eur("7.00"),
                stored: stored.clone(),
                reference_text: None,
            };
            let r = t.psp.charge_stored(&charge).await;
            t.sim.update_knobs(|k| {
                k.drop_after_commit = 0;
                k.error_times = 0;
            });
            let metadata = serde_json::json!({ "transactionId": reference });
            let charged = t.sim.count_payments_with_metadata(&metadata);
            if lost as usize <= api::REPLAYS {
                assert_eq!(charged, 1, "{reference}");
                assert!(r.psp_transaction_id.is_some(), "{reference}: {r:?}");
                assert!(!matches!(r.outcome, Outcome::Unknown(_)), "{r:?}");
            } else {
                assert!(
                    matches!(r.outcome, Outcome::Unknown(_)),
                    "{reference}: {r:?}"
                );
                // A 5xx before Mollie acted leaves nothing; a dropped answer one payment.
                assert_eq!(charged, usize::from(drop), "{reference}");
                let known = Known {
                    parent_psp_id: None,
                    credential: Some(stored.credential.clone()),
                };
                let found = t.psp.lookup(Reference::Own(&reference), &known).await;
                match (drop, found) {
                    (true, Lookup::Found(f)) => assert!(f.psp_transaction_id.is_some()),
                    (false, Lookup::NotFound) => {}
                    (_, other) => panic!("{reference}: {other:?}"),
                }
            }
        }
    }
}
