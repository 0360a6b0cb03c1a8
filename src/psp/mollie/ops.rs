//! The bound client's operations: one function per seam call, each a short sequence of Mollie
//! calls read through `read`.

use chrono::Utc;
use serde_json::{Value, json};

use super::api::{Reply, idempotency_key};
use super::read::{self, REFERENCE, str_of};
use super::{Bound, amount, follow_up_reference};
use crate::domain::{Bearer, Ticks};
use crate::psp::{
    Checkout, EventKind, FollowUp, Inbound, InitialPreauth, MethodValidity, NotificationError,
    Outcome, PaymentEvent, PreauthStart, PspError, PspEvent, PspNotification, PspResult,
    StoredCharge, StoredCredential,
};

/// Card checkouts expire after 30 minutes (Mollie "Payment status changes"); used only when
/// the answer carries no `expiresAt`.
const CARD_EXPIRY_SECS: i64 = 30 * 60;

/// Mollie's `description` maximum (characters).
const DESCRIPTION_MAX: usize = 255;
/// A refund's `description` maximum (characters).
const REFUND_DESCRIPTION_MAX: usize = 140;

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn metadata(reference: &str) -> Value {
    json!({ REFERENCE: reference })
}

/// The parent payment of one of our ids (`tr_…` or `tr_…/re_…`).
pub(super) fn payment_of(psp_id: &str) -> &str {
    psp_id.split('/').next().unwrap_or(psp_id)
}

/// A path segment we put into a URL: Mollie ids are letters, digits and `_`.
pub(super) fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Bound {
    /// Cheap authenticated reads: the methods usable for a first payment (card), and for
    /// recurring ones (direct debit on, so SEPA mandates can be charged).
    pub(super) async fn check(&self) -> Result<MethodValidity, PspError> {
        let key = &self.s.api_key;
        let first = match self
            .mollie
            .api
            .get(
                self.base(),
                key,
                "/v2/methods",
                &[("sequenceType", "first")],
            )
            .await
        {
            Reply::Ok(v) => v,
            other => return Err(read::psp_error(other)),
        };
        let has = |v: &Value, id: &str| {
            read::embedded(v, "methods")
                .iter()
                .any(|m| str_of(m, "id") == Some(id))
        };
        let recurring = match self
            .mollie
            .api
            .get(
                self.base(),
                key,
                "/v2/methods",
                &[("sequenceType", "recurring")],
            )
            .await
        {
            Reply::Ok(v) => v,
            other => return Err(read::psp_error(other)),
        };
        Ok(MethodValidity {
            credit_card: has(&first, "creditcard"),
            debit: has(&recurring, "directdebit"),
        })
    }

    /// A customer (so every payment can be found again by listing the customer's payments),
    /// then a `first` card payment on Mollie's hosted checkout.
    pub(super) async fn start_card(&self, req: &InitialPreauth) -> PreauthStart {
        let reference = &req.merchant_tx_id;
        let customer = match self.create_customer(req).await {
            Ok(c) => c,
            Err(r) => return PreauthStart::Done(r),
        };
        let description = req
            .reference_text
            .clone()
            .unwrap_or_else(|| format!("Payment {reference}"));
        let body = json!({
            "amount": amount::json(&req.amount),
            "description": truncate(&description, DESCRIPTION_MAX),
            "redirectUrl": req.shopper_result_url,
            "webhookUrl": self.ctx.notification_url,
            "method": "creditcard",
            "sequenceType": "first",
            "customerId": customer,
            "metadata": metadata(reference),
        });
        let p = match self
            .mollie
            .api
            .post(
                self.base(),
                &self.s.api_key,
                "/v2/payments",
                &body,
                &idempotency_key("create", reference),
            )
            .await
        {
            Reply::Ok(p) => p,
            other => return PreauthStart::Done(read::failed_call(other)),
        };
        let result = read::payment(&p);
        let href = p
            .get("_links")
            .and_then(|l| l.get("checkout"))
            .and_then(|c| c.get("href"))
            .and_then(Value::as_str);
        match (str_of(&p, "status"), str_of(&p, "id"), href) {
            (Some("open"), Some(id), Some(href)) => PreauthStart::Checkout(Checkout {
                checkout_id: id.to_string(),
                expires_at: expiry(&p),
                data: Some(href.to_string()),
            }),
            (Some("open"), _, _) => PreauthStart::Done(PspResult::unknown(
                "Mollie's answer has no payment id or checkout link",
            )),
            _ => PreauthStart::Done(self.with_credential(&p, result).await),
        }
    }

    pub(super) async fn create_customer(&self, req: &InitialPreauth) -> Result<String, PspResult> {
        let payer = &req.payer;
        let name = match (&payer.given_name, &payer.surname) {
            (Some(g), Some(s)) => Some(format!("{g} {s}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => payer.company.clone(),
        };
        let mut body = json!({ "metadata": metadata(&req.merchant_tx_id) });
        if let Some(n) = name {
            body["name"] = truncate(&n, 255).into();
        }
        if let Some(e) = &payer.email {
            body["email"] = e.clone().into();
        }
        let key = idempotency_key("customer", &req.merchant_tx_id);
        match self
            .mollie
            .api
            .post(self.base(), &self.s.api_key, "/v2/customers", &body, &key)
            .await
        {
            Reply::Ok(c) => str_of(&c, "id")
                .map(str::to_string)
                .ok_or_else(|| PspResult::unknown("Mollie's customer answer has no id")),
            other => Err(read::failed_call(other)),
        }
    }

    /// A payment's current state; for a paid or authorized `first` payment with the stored
    /// credential (customer and mandate), read now: the create answer never carries the
    /// mandate (contract/mollie.md §5 #7).
    /// A read that fails says nothing about the payment: a 404 right after creation or with a
    /// wrong-mode key (§5 #2, #3) is unknown, never a decline.
    pub(super) async fn payment_status(&self, payment_id: &str) -> PspResult {
        match self.get_payment(payment_id, false).await {
            Reply::Ok(p) => {
                let r = read::payment(&p);
                self.with_credential(&p, r).await
            }
            other => PspResult::unknown(read::psp_error(other).message),
        }
    }

    pub(super) async fn get_payment(&self, payment_id: &str, embed: bool) -> Reply {
        if !safe_id(payment_id) {
            return Reply::NoAnswer("not a Mollie payment id".into());
        }
        let path = format!("/v2/payments/{payment_id}");
        let query: &[(&str, &str)] = if embed {
            &[("embed", "refunds,chargebacks,captures")]
        } else {
            &[]
        };
        self.mollie
            .api
            .get(self.base(), &self.s.api_key, &path, query)
            .await
    }

    /// Adds the credential to a succeeded `first` payment's result. The first payment's status
    /// decides; a `pending` mandate is accepted (§5 #5, #6). Without any mandate the result
    /// carries none, and the flows fail the registration; so does a named mandate that is
    /// already `invalid`.
    pub(super) async fn with_credential(&self, p: &Value, mut r: PspResult) -> PspResult {
        if r.outcome != Outcome::Succeeded || str_of(p, "sequenceType") != Some("first") {
            return r;
        }
        let Some(customer) = str_of(p, "customerId").filter(|c| safe_id(c)) else {
            return r;
        };
        let path = format!("/v2/customers/{customer}/mandates");
        let listed = match self
            .mollie
            .api
            .get(self.base(), &self.s.api_key, &path, &[])
            .await
        {
            Reply::Ok(v) => read::embedded(&v, "mandates").to_vec(),
            // The mandate id on the payment is enough; without it we must ask again later.
            _ if str_of(p, "mandateId").is_some() => Vec::new(),
            // A failed read says nothing about the payment: unknown, never a decline.
            other => return PspResult::unknown(read::psp_error(other).message),
        };
        let usable = |m: &&Value| matches!(str_of(m, "status"), Some("valid" | "pending"));
        let mandate = match str_of(p, "mandateId") {
            Some(id) => match listed.iter().find(|m| str_of(m, "id") == Some(id)) {
                // Already invalid: no later charge could use it, so nothing is stored.
                Some(m) if str_of(m, "status") == Some("invalid") => None,
                Some(m) => Some(m.clone()),
                None => Some(json!({ "id": id })),
            },
            None => listed
                .iter()
                .filter(usable)
                .filter(|m| str_of(m, "method") == str_of(p, "method"))
                .find(|m| str_of(m, "status") == Some("valid"))
                .or_else(|| listed.iter().find(usable))
                .cloned(),
        };
        let Some(mandate) = mandate else {
            return r;
        };
        let Some(mandate_id) = str_of(&mandate, "id").map(str::to_string) else {
            return r;
        };
        r.credential = Some(StoredCredential {
            credential: format!("{customer}/{mandate_id}"),
            bearer: card_bearer(p, &mandate, &mandate_id),
            initial_transaction_id: str_of(p, "id").map(str::to_string),
            is_debit: false,
        });
        r
    }

    /// A merchant-initiated `recurring` payment on the stored customer and mandate.
    pub(super) async fn recurring(&self, req: &StoredCharge) -> PspResult {
        let Some((customer, mandate)) = req.stored.credential.split_once('/') else {
            return PspResult::bare(Outcome::Declined(crate::psp::Decline {
                code: crate::domain::PaymentErrorCode::BearerInvalid,
                status: crate::domain::TxStatus::Failed,
                psp_code: None,
                message: "the stored agreement is not a Mollie customer and mandate".into(),
            }));
        };
        let reference = &req.merchant_tx_id;
        let description = req
            .reference_text
            .clone()
            .unwrap_or_else(|| format!("Payment {reference}"));
        let body = json!({
            "amount": amount::json(&req.amount),
            "description": truncate(&description, DESCRIPTION_MAX),
            "sequenceType": "recurring",
            "customerId": customer,
            "mandateId": mandate,
            "webhookUrl": self.ctx.notification_url,
            "metadata": metadata(reference),
        });
        let r = match self
            .mollie
            .api
            .post(
                self.base(),
                &self.s.api_key,
                "/v2/payments",
                &body,
                &idempotency_key("recurring", reference),
            )
            .await
        {
            Reply::Ok(p) => read::payment(&p),
            other => read::failed_call(other),
        };
        // Mollie sends nothing when a mandate stops being valid: a refused or failed charge
        // is when we learn it (contract/mollie.md §2.10).
        self.after_declined_charge(&req.stored.credential, r).await
    }

    /// A capture of an authorized payment (`captureMode: manual`).
    pub(super) async fn capture_payment(&self, req: &FollowUp) -> PspResult {
        let payment = payment_of(&req.psp_transaction_id);
        if !safe_id(payment) {
            return PspResult::unknown("not a Mollie payment id");
        }
        let mut body = json!({ "metadata": metadata(&req.merchant_tx_id) });
        if let Some(m) = &req.amount {
            body["amount"] = amount::json(m);
        }
        let path = format!("/v2/payments/{payment}/captures");
        match self
            .mollie
            .api
            .post(
                self.base(),
                &self.s.api_key,
                &path,
                &body,
                &idempotency_key("capture", &req.merchant_tx_id),
            )
            .await
        {
            Reply::Ok(c) => read::capture(payment, &c),
            other => read::failed_call(other),
        }
    }

    /// Cancels an open or authorized payment (`DELETE`; on an authorized one Mollie releases
    /// the whole remainder). Mollie's 422 "cannot be cancelled" is a decline.
    pub(super) async fn cancel_payment(&self, req: &FollowUp) -> PspResult {
        let payment = payment_of(&req.psp_transaction_id);
        if !safe_id(payment) {
            return PspResult::unknown("not a Mollie payment id");
        }
        let path = format!("/v2/payments/{payment}");
        match self
            .mollie
            .api
            .delete(
                self.base(),
                &self.s.api_key,
                &path,
                &idempotency_key("cancel", &follow_up_reference(req)),
            )
            .await
        {
            Reply::Ok(p) => {
                let mut r = read::payment(&p);
                r.kind = Some(EventKind::Reversal);
                r.outcome = match str_of(&p, "status") {
                    Some("canceled") => Outcome::Succeeded,
                    _ => Outcome::Pending,
                };
                r
            }
            other => read::failed_call(other),
        }
    }

    /// A refund; a full one (`amount` None) refunds what Mollie says is left.
    pub(super) async fn refund_payment(&self, req: &FollowUp) -> PspResult {
        let payment = payment_of(&req.psp_transaction_id);
        if !safe_id(payment) {
            return PspResult::unknown("not a Mollie payment id");
        }
        let reference = follow_up_reference(req);
        let amount = match &req.amount {
            Some(m) => amount::json(m),
            None => match self.get_payment(payment, false).await {
                Reply::Ok(p) => match p.get("amountRemaining") {
                    Some(a) => a.clone(),
                    None => return PspResult::unknown("Mollie did not say what is left to refund"),
                },
                other => return read::failed_call(other),
            },
        };
        let body = json!({
            "amount": amount,
            "description": truncate(&format!("Refund {reference}"), REFUND_DESCRIPTION_MAX),
            "metadata": metadata(&reference),
        });
        let path = format!("/v2/payments/{payment}/refunds");
        match self
            .mollie
            .api
            .post(
                self.base(),
                &self.s.api_key,
                &path,
                &body,
                &idempotency_key("refund", &reference),
            )
            .await
        {
            Reply::Ok(r) => read::refund(payment, &r),
            other => read::failed_call(other),
        }
    }

    /// The state of a payment, refund, capture or chargeback by our id for it.
    pub(super) async fn status(&self, psp_id: &str) -> Result<PspResult, PspError> {
        // A SEPA preauth is known by its customer and mandate.
        if let Some((customer, mandate)) = super::sepa::split_credential(psp_id) {
            return self.mandate_status(customer, mandate).await;
        }
        let (payment, child) = match psp_id.split_once('/') {
            Some((p, c)) => (p, Some(c)),
            None => (psp_id, None),
        };
        if !safe_id(payment) || child.is_some_and(|c| !safe_id(c)) {
            return Err(PspError {
                code: crate::domain::PaymentErrorCode::InvalidData,
                psp_code: None,
                message: "not a Mollie id".into(),
            });
        }
        let Some(child) = child else {
            return match self.get_payment(payment, false).await {
                Reply::Ok(p) => {
                    let r = read::payment(&p);
                    let r = self.with_credential(&p, r).await;
                    match &r.outcome {
                        // The mandates could not be read: ask again later.
                        Outcome::Unknown(m) => Err(PspError {
                            code: crate::domain::PaymentErrorCode::PSPConnectionProblem,
                            psp_code: None,
                            message: m.clone(),
                        }),
                        _ => Ok(r),
                    }
                }
                other => Err(read::psp_error(other)),
            };
        };
        let (segment, read_child): (&str, fn(&str, &Value) -> PspResult) =
            match child.split('_').next() {
                Some("re") => ("refunds", read::refund),
                Some("cpt") => ("captures", read::capture),
                Some("chb") => ("chargebacks", |p, c| {
                    read::chargeback(p, c, EventKind::Chargeback).0
                }),
                _ => {
                    return Err(PspError {
                        code: crate::domain::PaymentErrorCode::InvalidData,
                        psp_code: None,
                        message: "not a Mollie refund, capture or chargeback id".into(),
                    });
                }
            };
        let path = format!("/v2/payments/{payment}/{segment}/{child}");
        match self
            .mollie
            .api
            .get(self.base(), &self.s.api_key, &path, &[])
            .await
        {
            Reply::Ok(v) => Ok(read_child(payment, &v)),
            other => Err(read::psp_error(other)),
        }
    }

    /// A classic webhook: a form body `id=tr_…`, unsigned. The payment is fetched with the
    /// merchant's key (that fetch is the authentication) with its refunds, captures and
    /// chargebacks; every state found becomes an event keyed by what was fetched, so a
    /// redelivery or a change already seen is a duplicate. A failed fetch, a plain 404
    /// included (Mollie may not know a payment a moment after its webhook, §5 #2), is
    /// `Unavailable`: Mollie delivers again. A key that cannot read the payment at all (the
    /// wrong mode's 404, 401, 403; §5 #3) is `Misconfigured`: an operator's matter, never a
    /// payment outcome.
    pub(super) async fn notification(
        &self,
        inbound: &Inbound<'_>,
    ) -> Result<Vec<PspNotification>, NotificationError> {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(inbound.body)
            .map_err(|_| NotificationError::Malformed("not a form body".into()))?;
        let ids: Vec<&str> = form
            .iter()
            .filter(|(k, _)| k == "id")
            .map(|(_, v)| v.trim())
            .collect();
        let [id] = ids.as_slice() else {
            return Err(NotificationError::Malformed(
                "expected exactly one id parameter".into(),
            ));
        };
        if !safe_id(id) {
            return Err(NotificationError::Malformed("not a Mollie id".into()));
        }
        if !id.starts_with("tr_") {
            return Ok(vec![PspNotification {
                dedupe_key: format!("mollie:ignored:{id}"),
                event: PspEvent::Ignored(format!("webhook for a non-payment resource {id}")),
            }]);
        }
        let p = match self.get_payment(id, true).await {
            Reply::Ok(p) => p,
            Reply::NoAnswer(e) => return Err(NotificationError::Unavailable(e)),
            Reply::Error(e) => {
                let why = format!("fetching the payment gave HTTP {}: {}", e.status, e.detail);
                let wrong_mode =
                    e.status == 404 && e.detail.to_ascii_lowercase().contains("wrong mode");
                return Err(if wrong_mode || matches!(e.status, 401 | 403) {
                    NotificationError::Misconfigured(why)
                } else {
                    NotificationError::Unavailable(why)
                });
            }
        };
        let result = self.with_credential(&p, read::payment(&p)).await;
        if let Outcome::Unknown(m) = &result.outcome
            && result.psp_transaction_id.is_none()
        {
            return Err(NotificationError::Unavailable(m.clone()));
        }
        let mut all = events(&p, result);
        all.extend(self.revoked_mandate(&p).await);
        Ok(all)
    }
}

/// Every state a fetched payment shows: its own, and one per refund, capture and chargeback
/// (a reversed chargeback also as a reversal).
pub(super) fn events(p: &Value, own: PspResult) -> Vec<PspNotification> {
    let id = str_of(p, "id").unwrap_or_default();
    let status = str_of(p, "status").unwrap_or_default();
    let first = str_of(p, "sequenceType") == Some("first");
    let mut out = vec![PspNotification {
        dedupe_key: read::dedupe(id, status, own.amount),
        event: PspEvent::Payment(Box::new(PaymentEvent {
            kind: read::payment_kind(p),
            psp_type: format!("payment {status}"),
            merchant_tx_id: read::reference(p),
            referenced_id: None,
            checkout_id: first.then(|| id.to_string()),
            result: own,
            chargeback: None,
        })),
    }];
    let mut child = |c: &Value, result: PspResult, kind: EventKind, state: &str, info| {
        let child_id = str_of(c, "id").unwrap_or_default();
        out.push(PspNotification {
            dedupe_key: read::dedupe(child_id, state, result.amount),
            event: PspEvent::Payment(Box::new(PaymentEvent {
                psp_type: format!("{kind:?} {state}").to_lowercase(),
                kind,
                merchant_tx_id: read::reference(c),
                referenced_id: Some(id.to_string()),
                checkout_id: None,
                result,
                chargeback: info,
            })),
        });
    };
    for r in read::embedded(p, "refunds") {
        let state = str_of(r, "status").unwrap_or_default();
        child(r, read::refund(id, r), EventKind::Refund, state, None);
    }
    for c in read::embedded(p, "captures") {
        let state = str_of(c, "status").unwrap_or_default();
        child(c, read::capture(id, c), EventKind::Capture, state, None);
    }
    for c in read::embedded(p, "chargebacks") {
        let (r, info) = read::chargeback(id, c, EventKind::Chargeback);
        child(c, r, EventKind::Chargeback, "received", Some(info));
        if str_of(c, "reversedAt").is_some() {
            let (r, info) = read::chargeback(id, c, EventKind::ChargebackReversal);
            child(c, r, EventKind::ChargebackReversal, "reversed", Some(info));
        }
    }
    out
}

/// When an open checkout lapses: `expiresAt`, else card's 30 minutes from now.
fn expiry(p: &Value) -> Ticks {
    str_of(p, "expiresAt")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| Ticks::from_datetime(t.with_timezone(&Utc)))
        .unwrap_or_else(|| Ticks::from_datetime(Utc::now()).plus_seconds(CARD_EXPIRY_SECS))
}

/// The card as Billwerk sees it: brand, last four, holder (payment details) and expiry (the
/// card mandate's `cardExpiryDate`, `YYYY-MM-DD`).
fn card_bearer(p: &Value, mandate: &Value, mandate_id: &str) -> Bearer {
    let mut b = Bearer::new();
    b.insert("RegistrationId".into(), mandate_id.to_string());
    let pd = p.get("details").unwrap_or(&Value::Null);
    let md = mandate.get("details").unwrap_or(&Value::Null);
    let pick = |k: &str| str_of(pd, k).or_else(|| str_of(md, k));
    if let Some(l) = pick("cardLabel") {
        b.insert("CardType".into(), l.to_string());
    }
    if let Some(n) = pick("cardNumber") {
        let last4: String = n.chars().filter(char::is_ascii_digit).collect();
        if last4.len() == 4 {
            b.insert("MaskedCardPan".into(), format!("************{last4}"));
            b.insert("Last4CardNumber".into(), last4);
        }
    }
    if let Some(h) = pick("cardHolder") {
        b.insert("Holder".into(), h.to_string());
    }
    if let Some(d) = str_of(md, "cardExpiryDate")
        && let Ok(date) = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
    {
        use chrono::Datelike;
        b.insert("ExpiryMonth".into(), date.month().to_string());
        b.insert("ExpiryYear".into(), date.year().to_string());
    }
    b
}
