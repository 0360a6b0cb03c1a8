//! Every switchable behaviour of the simulator (§3: each *knob*), off by default. Set them per
//! test with [`super::Sim::set_knobs`] or `POST /__admin/knobs` (camelCase JSON; absent fields
//! take their defaults).

use serde::{Deserialize, Serialize};

/// What `GET` answers for a revoked mandate (§6 Q4: undocumented, so all three are offered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevokedMandateGet {
    /// The mandate with status `invalid`.
    #[default]
    Invalid,
    /// 404 "No mandate exists with token …".
    NotFound,
    /// 410 "The mandate is no longer available".
    Gone,
}

/// The simulator's knobs. Durations are sim-clock seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Knobs {
    // --- transport faults on `/v2/*` (§3.20) ---
    /// Milliseconds every `/v2` request waits before it is processed (a slow answer; a second
    /// request with the same `Idempotency-Key` meanwhile gets 409).
    pub delay_ms: u64,
    /// The next N `POST`/`DELETE` requests are processed and committed, then the connection is
    /// dropped without an answer (the lost create answer).
    pub drop_after_commit: u32,
    /// With `error_times` > 0: the next N `/v2` requests get this status (500, 502, 503, 504)
    /// with Mollie's error body, before anything is processed.
    pub error_status: u16,
    pub error_times: u32,
    /// More than this many `/v2` requests in one sim-clock second get 429; 0: no limit.
    pub rate_limit_per_sec: u32,
    /// The next N refund creates get 503 (Mollie's answer to many parallel refunds).
    pub refund_503_times: u32,
    /// From each webhook attempt for a payment on (armed as it is sent, so the receiver's own
    /// fetch sees it), the next N `GET`s of it answer 404 (mollie/mollie-api-node#295).
    pub transient_404_gets: u32,

    // --- webhooks (§3.18, §3.20) ---
    /// Payment creates send their webhook before the create answer is returned.
    pub webhook_before_answer: bool,
    /// Every webhook attempt is sent twice.
    pub duplicate_webhooks: bool,
    /// Nothing is delivered while set (the queue keeps growing).
    pub hold_webhooks: bool,
    /// A change on a payment whose webhook is still queued (not yet tried) is folded into it.
    pub fold_webhooks: bool,
    /// A payment reaching a final status gets a second, late webhook this long after; 0: off.
    pub late_webhook_secs: i64,
    /// Divides the retry schedule's waits (1 or 0: Mollie's real schedule).
    pub retry_divisor: u32,
    /// A refund cancelled through the API also fires the payment webhook (§6 Q5).
    pub refund_canceled_webhook: bool,

    // --- lifecycles (§3.10–3.16, §3.21) ---
    /// Mandates from first payments stay `pending` this long (PayPal/Belfius); 0: valid at once.
    pub mandate_pending_secs: i64,
    pub revoked_mandate_get: RevokedMandateGet,
    /// A capture stays `pending` this long; 0: it settles at the next request.
    pub capture_delay_secs: i64,
    /// Captures end `failed` (the payment stays `authorized`).
    pub capture_fails: bool,
    /// Each refund step (pending → processing → final) takes this long.
    pub refund_delay_secs: i64,
    /// Refunds end `failed` instead of `refunded`.
    pub refund_fails: bool,
    /// Refunds are created `queued` until this is switched off again.
    pub insufficient_balance: bool,
    /// Refunds are refused with 422 "The specified amount cannot be refunded" (ruby#143).
    pub insufficient_balance_422: bool,
    /// A recurring card payment stays `pending` this long; 0: it settles at the next request.
    pub card_recurring_secs: i64,
    /// Recurring card payments end `failed` (`card_declined`).
    pub card_recurring_fails: bool,
    /// A recurring direct debit stays `pending` (cancelable) this long.
    pub directdebit_settle_secs: i64,
    /// Pending direct debits end `failed` with this `bankReasonCode` (e.g. `AM04`).
    pub sepa_failure: Option<String>,
    /// Paid direct debits receive a chargeback with this reason code (e.g. `MD06`).
    pub sepa_chargeback: Option<String>,
    /// Methods the Methods API and payment creation treat as not activated.
    pub disabled_methods: Vec<String>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            delay_ms: 0,
            drop_after_commit: 0,
            error_status: 0,
            error_times: 0,
            rate_limit_per_sec: 0,
            refund_503_times: 0,
            transient_404_gets: 0,
            webhook_before_answer: false,
            duplicate_webhooks: false,
            hold_webhooks: false,
            fold_webhooks: false,
            late_webhook_secs: 0,
            retry_divisor: 1,
            refund_canceled_webhook: false,
            mandate_pending_secs: 0,
            revoked_mandate_get: RevokedMandateGet::Invalid,
            capture_delay_secs: 0,
            capture_fails: false,
            refund_delay_secs: 2 * 3600,
            refund_fails: false,
            insufficient_balance: false,
            insufficient_balance_422: false,
            card_recurring_secs: 0,
            card_recurring_fails: false,
            directdebit_settle_secs: 2 * 24 * 3600,
            sepa_failure: None,
            sepa_chargeback: None,
            disabled_methods: Vec::new(),
        }
    }
}
