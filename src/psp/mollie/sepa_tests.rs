//! SEPA on Mollie, the adapter alone against the simulator over loopback HTTP: the mandate a
//! `Debit` preauth makes, the status of a SEPA preauth, and a mandate found gone (revoked,
//! invalidated; `GET` answering `invalid`, 404 or 410) when charging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::{T, eur, start};
use super::*;
use crate::domain::PaymentErrorCode;
use crate::psp::{Outcome, Payer, StoredMethod};
use crate::sim::mollie::RevokedMandateGet;

fn sepa(reference: &str, iban: &str) -> InitialPreauth {
    InitialPreauth {
        merchant_tx_id: reference.into(),
        amount: eur("0"),
        method: InitialMethod::SepaDebit {
            holder: "JOHN DOE".into(),
            iban: iban.into(),
            bic: Some("COBADEFFXXX".into()),
            mandate_id: "PSPI2026MANDATE0001".into(),
            signed_on: chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
        },
        payer: Payer {
            given_name: Some("John".into()),
            surname: Some("Doe".into()),
            ..Payer::default()
        },
        reference_text: None,
        shopper_result_url: "http://127.0.0.1:9/return/tok".into(),
    }
}

async fn mandate(t: &T, reference: &str) -> StoredMethod {
    let PreauthStart::Done(r) = t
        .psp
        .start_preauth(&sepa(reference, "DE89 3704 0044 0532 0130 00"))
        .await
    else {
        panic!("a mandate needs no checkout");
    };
    assert_eq!(r.outcome, Outcome::Succeeded, "{r:?}");
    let c = r.credential.expect("credential");
    assert!(c.is_debit);
    assert_eq!(r.psp_transaction_id.as_deref(), Some(c.credential.as_str()));
    assert_eq!(c.bearer["IBAN"], "DE89**************3000");
    assert_eq!(c.bearer["MandateId"], "PSPI2026MANDATE0001");
    StoredMethod {
        credential: c.credential,
        is_debit: true,
        initial_transaction_id: None,
    }
}

fn charge(reference: &str, stored: &StoredMethod) -> StoredCharge {
    StoredCharge {
        merchant_tx_id: reference.into(),
        amount: eur("12.50"),
        stored: stored.clone(),
        reference_text: None,
    }
}

#[tokio::test]
async fn a_mandate_from_an_iban_then_a_pending_debit() {
    let t = start().await;
    let stored = mandate(&t, "pre-1").await;
    let status = t.psp.fetch_status(&stored.credential).await.unwrap();
    assert_eq!(status.outcome, Outcome::Succeeded);
    let r = t.psp.charge_stored(&charge("pay-1", &stored)).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    assert!(!r.credential_invalid);
    // A retried preauth within Mollie's hour replays its keys: one customer, one mandate.
    let again = mandate(&t, "pre-1").await;
    assert_eq!(again.credential, stored.credential);
    let validity = t.psp.check_settings().await.unwrap();
    assert!(validity.debit && validity.credit_card);
    t.sim
        .update_knobs(|k| k.disabled_methods = vec!["directdebit".into()]);
    assert!(!t.psp.check_settings().await.unwrap().debit);
}

#[tokio::test]
async fn a_mandate_gone_is_found_when_charging_whatever_mollie_answers_for_it() {
    for answer in [
        RevokedMandateGet::Invalid,
        RevokedMandateGet::NotFound,
        RevokedMandateGet::Gone,
    ] {
        let t = start().await;
        t.sim.update_knobs(|k| k.revoked_mandate_get = answer);
        let stored = mandate(&t, "pre-2").await;
        let (_, mdt) = stored.credential.split_once('/').unwrap();
        t.sim.invalidate_mandate(mdt).unwrap();
        let r = t.psp.charge_stored(&charge("pay-2", &stored)).await;
        let Outcome::Declined(d) = &r.outcome else {
            panic!("{answer:?}: {r:?}");
        };
        assert_eq!(d.code, PaymentErrorCode::BearerInvalid, "{answer:?}");
        assert!(r.credential_invalid, "{answer:?}: {r:?}");
        let status = t.psp.fetch_status(&stored.credential).await.unwrap();
        assert!(status.credential_invalid, "{answer:?}: {status:?}");
    }
}

#[tokio::test]
async fn a_decline_with_the_mandate_still_valid_is_only_a_decline() {
    let t = start().await;
    let stored = mandate(&t, "pre-3").await;
    // Above direct debit's maximum at Mollie: refused, but the mandate is fine.
    let mut big = charge("pay-3", &stored);
    big.amount = eur("5000.00");
    let r = t.psp.charge_stored(&big).await;
    assert!(matches!(r.outcome, Outcome::Declined(_)), "{r:?}");
    assert!(!r.credential_invalid, "{r:?}");
}
