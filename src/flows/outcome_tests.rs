//! Issue #18: no PSP answer of another kind, amount or currency, or without a required stored
//! payment method, is trusted. Every path that reads a transaction's own outcome — the S2S
//! answer (`App::record_answer`), the checkout's result (`checkout::complete_locked`), the lookup
//! by our reference and the status query (`reconcile`, `notification::verify`) and a notification
//! (`notification::own_outcome`) — applies it through [`effect`], and a cancel's answer through
//! [`check`] with [`Asked::cancel`]; these properties hold for both.

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::domain::{Bearer, Role, TxStatus};
use crate::psp::{Outcome, PspResult, StoredCredential};

/// What the transaction under test asked the PSP for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    InitialPreauth,
    StoredPreauth,
    Capture,
    CollectedCapture,
    Charge,
    Refund,
}

fn tx(req: Request, amount: Decimal, status: TxStatus) -> TransactionRecord {
    let (kind, parent, initial, collected) = match req {
        Request::InitialPreauth => (TxKind::Preauth, None, true, false),
        Request::StoredPreauth => (TxKind::Preauth, None, false, false),
        Request::Capture => (TxKind::Payment, Some("p".to_string()), true, false),
        Request::CollectedCapture => (TxKind::Payment, Some("p".to_string()), true, true),
        Request::Charge => (TxKind::Payment, None, false, false),
        Request::Refund => (TxKind::Refund, Some("p".to_string()), false, false),
    };
    TransactionRecord {
        id: "tx".into(),
        merchant_id: "m".into(),
        kind,
        billwerk_id: "20261203-0123456789abcdef01234567".into(),
        agreement_id: Some("agr".into()),
        role: Some(Role::CreditCard),
        currency: "EUR".into(),
        requested_amount: amount,
        authorized_amount: Decimal::ZERO,
        status,
        psp_tx_id: collected.then(|| "debit".to_string()),
        webhook_target: "https://billwerk.example/hook".into(),
        parent_id: parent,
        is_initial: initial,
        expires_at: None,
        checkout_id: None,
        checkout_data: None,
        checkout_token: None,
        success_url: None,
        error_url: None,
        abort_url: None,
        language: None,
        reference_text: None,
        planned_execution_date: None,
        booking_date: None,
        error: None,
        needs_reconcile: true,
        created_at: Ticks(100),
        last_updated: Ticks(100),
        next_reconcile_at: None,
        reconcile_attempts: 0,
        collected_at_authorization: collected,
        request_id: None,
    }
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::InitialPreauth),
        Just(Request::StoredPreauth),
        Just(Request::Capture),
        Just(Request::CollectedCapture),
        Just(Request::Charge),
        Just(Request::Refund),
    ]
}

fn event_kind() -> impl Strategy<Value = Option<EventKind>> {
    prop_oneof![
        Just(None),
        Just(Some(EventKind::Authorization)),
        Just(Some(EventKind::Debit)),
        Just(Some(EventKind::Capture)),
        Just(Some(EventKind::Reversal)),
        Just(Some(EventKind::Refund)),
        Just(Some(EventKind::Chargeback)),
        Just(Some(EventKind::ChargebackReversal)),
        Just(Some(EventKind::Other("RB".into()))),
    ]
}

fn registration() -> StoredCredential {
    StoredCredential {
        credential: "reg".into(),
        bearer: Bearer::new(),
        initial_transaction_id: None,
        is_debit: false,
    }
}

/// The kind a request's own answer must have (the PSP may also not say).
fn own_kind(req: Request) -> EventKind {
    match req {
        Request::InitialPreauth | Request::StoredPreauth => EventKind::Authorization,
        Request::Capture => EventKind::Capture,
        Request::CollectedCapture | Request::Charge => EventKind::Debit,
        Request::Refund => EventKind::Refund,
    }
}

fn is_preauth(req: Request) -> bool {
    matches!(req, Request::InitialPreauth | Request::StoredPreauth)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// A success is applied only when it matches the request; and money (an authorization, a
    /// captured or collected item, a refund's booking) is recorded only from such a success.
    #[test]
    fn only_an_answer_that_matches_the_request_is_trusted(
        req in request(),
        cents in 1i64..100_000,
        amount_delta in prop_oneof![Just(None), Just(Some(0i64)), (-500i64..500).prop_map(Some)],
        currency in prop_oneof![Just(None), Just(Some("EUR")), Just(Some("eur")), Just(Some("USD")), Just(Some("CHF"))],
        kind in event_kind(),
        with_registration in any::<bool>(),
        pending in any::<bool>(),
    ) {
        let requested = Decimal::new(cents, 2);
        let status = if pending { TxStatus::Pending } else { TxStatus::Initiated };
        let t = tx(req, requested, status);
        let reported = amount_delta.map(|d| Decimal::new(cents + d, 2));
        let r = PspResult {
            outcome: Outcome::Succeeded,
            psp_transaction_id: Some("psp-1".into()),
            amount: reported,
            currency: currency.map(str::to_string),
            result_code: Some("000.000.000".into()),
            description: None,
            credential: with_registration.then(registration),
            kind: kind.clone(),
            booking_date: None,
            credential_invalid: false,
        };
        let stamp = Stamp { now: Ticks(1_000), notify: true, recheck_after: 60 };
        let same_amount = reported.is_none_or(|a| a == requested);
        let same_currency = currency.is_none_or(|c| c.eq_ignore_ascii_case("EUR"));
        let collected = is_preauth(req) && kind == Some(EventKind::Debit);
        let same_kind = kind.as_ref().is_none_or(|k| *k == own_kind(req)) || collected;
        let has_registration = with_registration || req != Request::InitialPreauth;
        let trusted = same_amount && same_currency && same_kind && has_registration;

        let u = match effect(&t, &r, &stamp) {
            Effect::Update(u) => Some(*u),
            Effect::NoChange | Effect::Contradiction(_) => None,
        };
        let succeeded = u.as_ref().and_then(|u| u.status).is_some_and(|s| s.to() == TxStatus::Succeeded);
        prop_assert_eq!(succeeded, trusted, "{:?} {:?}", req, r);
        let u = u.unwrap_or_default();
        if !trusted {
            prop_assert!(u.add_items.is_empty(), "no money booked");
            prop_assert!(u.agreement.is_none(), "no agreement stored");
            prop_assert!(u.authorized_amount.is_none_or(|a| a.is_zero()), "nothing authorized");
            prop_assert!(u.booking_date.is_none(), "no refund booked");
            // Money collected for a registration that failed its purpose is marked to be
            // given back, with the failure itself.
            let give_back = req == Request::InitialPreauth && collected && same_amount
                && same_currency && !with_registration;
            prop_assert_eq!(u.collected_at_authorization, give_back.then_some(true));
            if give_back {
                prop_assert_eq!(u.needs_reconcile, Some(true));
                prop_assert!(u.next_reconcile_at.is_some());
            }
            prop_assert!(u.next_reconcile_at.is_some() || u.status.is_some_and(|s| s.to() == TxStatus::Failed),
                "an untrusted answer is asked about again, or fails the purpose");
        } else if is_preauth(req) {
            // The money the PSP holds, as what it is: collected, or only reserved.
            prop_assert_eq!(u.authorized_amount, Some(requested));
            prop_assert_eq!(u.collected_at_authorization, collected.then_some(true));
        } else if req != Request::Refund {
            prop_assert_eq!(u.add_items.len(), 1);
            prop_assert_eq!(u.add_items[0].amount, requested);
        }
    }

    /// A cancel's answer: a reversal of an authorization, or a refund of the rest of money
    /// collected at authorization; anything else is not trusted.
    #[test]
    fn a_cancel_answer_is_trusted_only_as_asked(
        collected in any::<bool>(),
        kind in event_kind(),
        amount_delta in prop_oneof![Just(None), Just(Some(0i64)), (-500i64..500).prop_map(Some)],
        currency in prop_oneof![Just(None), Just(Some("EUR")), Just(Some("USD"))],
    ) {
        let mut t = tx(Request::InitialPreauth, Decimal::from_str("20").expect("decimal"), TxStatus::Succeeded);
        t.collected_at_authorization = collected;
        t.authorized_amount = t.requested_amount;
        let left = Decimal::from_str("8").expect("decimal");
        let r = PspResult {
            amount: amount_delta.map(|d| left + Decimal::new(d, 2)),
            currency: currency.map(str::to_string),
            kind: kind.clone(),
            ..PspResult::bare(Outcome::Succeeded)
        };
        let asked_kind = if collected { EventKind::Refund } else { EventKind::Reversal };
        let trusted = kind.as_ref().is_none_or(|k| *k == asked_kind)
            && currency.is_none_or(|c| c == "EUR")
            // A reversal names no amount; a refund must be of what is left.
            && (!collected || amount_delta.is_none_or(|d| d == 0));
        let out = check(&Asked::cancel(&t, left), &r);
        prop_assert_eq!(out.outcome == Outcome::Succeeded, trusted, "{:?}", r);
    }
}

#[test]
fn a_debit_for_a_preauth_is_money_collected_that_does_not_lapse() {
    let t = tx(
        Request::InitialPreauth,
        Decimal::from(20),
        TxStatus::Initiated,
    );
    let r = PspResult {
        psp_transaction_id: Some("debit".into()),
        amount: Some(Decimal::from(20)),
        currency: Some("EUR".into()),
        credential: Some(registration()),
        kind: Some(EventKind::Debit),
        ..PspResult::bare(Outcome::Succeeded)
    };
    let stamp = Stamp {
        now: Ticks(1_000),
        notify: false,
        recheck_after: 60,
    };
    let Effect::Update(u) = effect(&t, &r, &stamp) else {
        panic!("applied");
    };
    assert_eq!(u.collected_at_authorization, Some(true));
    assert_eq!(u.expires_at, Some(FAR_FUTURE));
    assert!(u.note.contains("collected"), "{}", u.note);
    assert!(u.agreement.is_some(), "the card is stored");
}

#[test]
fn a_history_note_reads_as_words_not_debug_text() {
    use crate::psp::Decline;
    let declined = PspResult::bare(Outcome::Declined(Decline {
        code: crate::domain::PaymentErrorCode::BearerInvalid,
        status: TxStatus::Failed,
        psp_code: Some("422".into()),
        message: "the mandate is no longer valid".into(),
    }));
    let n = note(&declined);
    assert_eq!(
        n,
        "psp declined (BearerInvalid, 422): the mandate is no longer valid"
    );
    assert_eq!(note(&PspResult::bare(Outcome::Succeeded)), "psp succeeded");
    assert_eq!(note(&PspResult::bare(Outcome::Pending)), "psp pending");
}
