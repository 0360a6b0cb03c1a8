//! Our hosted checkout page: it loads the PSP's payment form, receives the shopper's return,
//! completes the preauth and sends the browser on to Billwerk's success/error/abort URL. The
//! token in the URL is the capability; it is random and bound to one preauth.

use super::{App, Merchant, outcome};
use crate::contract::ApiError;
use crate::domain::state::{Facts, Trigger};
use crate::domain::{
    Currency, Lang, Money, PaymentErrorCode, TxError, TxKind, TxStatus, WebhookType,
};
use crate::psp::{
    CheckoutPage, CheckoutRef, MerchantPsp, Outcome, PspSettings, ReturnLeg, SHOP_NAME_SETTING,
    ShopperView, WidgetEmbed,
};
use crate::store::TransactionRecord;

/// What the browser gets next: what to show, not how (`http::checkout_page` renders it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserReply {
    /// Our payment page around the PSP's widget.
    Payment(PaymentForm),
    Redirect(String),
    /// A page for the shopper instead of the form (stale link, finished payment), with a way
    /// back to the shop when Billwerk gave one.
    Notice(Notice),
}

/// What the payment page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentForm {
    pub lang: Lang,
    /// The shop's display name.
    pub shop: String,
    /// What is due; zero for a preauth that only saves the card.
    pub amount: Money,
    /// Billwerk's reference text of the transaction, shown as "what is being paid for".
    pub reference: Option<String>,
    /// The PSP's form, made with the nonce the caller passed to [`page`].
    pub widget: WidgetEmbed,
    /// Our abort URL (the cancel link).
    pub abort_url: String,
}

/// Why the shopper sees a notice instead of the payment form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The checkout lapsed (its lifetime at the PSP) before the shopper paid.
    Expired,
    /// Paid (or waiting for the PSP's final word).
    Completed,
    /// Declined, or ended in an error.
    Failed,
    /// The shopper (or the PSP) cancelled it.
    Cancelled,
    /// No checkout has this token (or the return named another checkout).
    Unknown,
    /// The form cannot be shown (settings unusable, internal error).
    Unavailable,
}

/// A notice to show: kind, language, the shop's name and the way back, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub lang: Lang,
    /// The shop's display name, when the link is known.
    pub shop: Option<String>,
    /// Billwerk's URL back to the shop, when it gave one (only http(s) is shown).
    pub back_url: Option<String>,
}

async fn by_token(app: &App, token: &str) -> Result<(Merchant, TransactionRecord), ApiError> {
    let tx = app
        .store
        .get_by_checkout_token(token)
        .await?
        .filter(|t| t.kind == TxKind::Preauth)
        .ok_or_else(|| ApiError::not_found("checkout"))?;
    let m = app.merchant(&tx.merchant_id).await?;
    crate::telemetry::note_merchant(m.id());
    crate::telemetry::note_transaction(&tx.billwerk_id);
    Ok((m, tx))
}

/// The name shoppers see: the merchant's `ShopName` setting, else the merchant's name.
fn shop_name(m: &Merchant, settings: Option<&PspSettings>) -> String {
    settings
        .and_then(|s| s.get(SHOP_NAME_SETTING))
        .map(str::trim)
        .unwrap_or(&m.record.name)
        .to_string()
}

/// `GET /checkout/{token}`. `nonce` is the response's script nonce: every script the PSP's
/// widget puts on the page carries it.
pub async fn page(app: &App, token: &str, nonce: &str) -> Result<BrowserReply, ApiError> {
    let (m, tx) = by_token(app, token).await?;
    let lang = Lang::from_tag(tx.language.as_deref());
    // Without usable settings the shopper still gets a page in their language with a way back.
    let settings = app.settings(&m).await.ok();
    let shop = shop_name(&m, settings.as_ref());
    let (Some(checkout_id), TxStatus::Initiated) = (tx.checkout_id.clone(), tx.status) else {
        return Ok(BrowserReply::Notice(settled_notice(&tx, lang, shop)));
    };
    let back = tx.abort_url.clone().or_else(|| tx.error_url.clone());
    if tx.expires_at.is_some_and(|e| e <= app.now()) {
        return Ok(notice(NoticeKind::Expired, lang, shop, back));
    }
    let Some(psp) = settings.and_then(|s| app.bind_psp(&m, &s).ok()) else {
        return Ok(notice(NoticeKind::Unavailable, lang, shop, back));
    };
    let currency = Currency::parse(&tx.currency).ok_or_else(ApiError::internal)?;
    let amount =
        Money::new(tx.requested_amount, currency, true).map_err(|_| ApiError::internal())?;
    let base = format!("{}/checkout/{token}", app.public_base_url);
    let view = psp.shopper_view(
        &checkout_ref(&tx, &checkout_id),
        &CheckoutPage {
            return_url: format!("{base}/return"),
            language: lang.code().into(),
            nonce: nonce.into(),
        },
    );
    let widget = match view {
        Some(ShopperView::Embed(w)) => w,
        // The PSP's own page: the shopper pays there and comes back to our return URL.
        Some(ShopperView::Redirect(url)) => return Ok(BrowserReply::Redirect(url)),
        None => return Ok(notice(NoticeKind::Unavailable, lang, shop, back)),
    };
    Ok(BrowserReply::Payment(PaymentForm {
        lang,
        shop,
        amount,
        reference: tx.reference_text.clone(),
        widget,
        abort_url: format!("{base}/abort"),
    }))
}

fn notice(kind: NoticeKind, lang: Lang, shop: String, back_url: Option<String>) -> BrowserReply {
    BrowserReply::Notice(Notice {
        kind,
        lang,
        shop: Some(shop),
        back_url,
    })
}

/// The page for a link whose preauth already has an outcome.
fn settled_notice(tx: &TransactionRecord, lang: Lang, shop: String) -> Notice {
    let (kind, back_url) = match tx.status {
        TxStatus::Succeeded | TxStatus::Pending => (NoticeKind::Completed, tx.success_url.clone()),
        // No checkout behind it (it could not be opened): nothing to pay here.
        TxStatus::Initiated => (
            NoticeKind::Unavailable,
            tx.abort_url.clone().or_else(|| tx.error_url.clone()),
        ),
        TxStatus::Cancelled => (
            NoticeKind::Cancelled,
            tx.abort_url.clone().or_else(|| tx.error_url.clone()),
        ),
        TxStatus::Expired => (NoticeKind::Expired, tx.error_url.clone()),
        TxStatus::Failed => (NoticeKind::Failed, tx.error_url.clone()),
    };
    Notice {
        kind,
        lang,
        shop: Some(shop),
        back_url,
    }
}

/// The stored checkout of `tx` as its adapter created it.
fn checkout_ref<'a>(tx: &'a TransactionRecord, checkout_id: &'a str) -> CheckoutRef<'a> {
    CheckoutRef {
        checkout_id,
        data: tx.checkout_data.as_deref(),
        merchant_tx_id: &tx.billwerk_id,
    }
}

/// `GET|POST /checkout/{token}/return?…`: the PSP sends the shopper back here; the adapter
/// reads its own parameters ([`ReturnLeg`]).
///
/// Only a completed checkout moves the preauth: a hit that is no return from the PSP, or one
/// before the shopper paid (a link prefetcher, the PSP calling the result URL server to
/// server), leaves it `Initiated` and sends the browser back to the payment page (which, for a
/// PSP-hosted page, forwards to it). Once the preauth has an outcome, every hit (a reload, a
/// replay, any parameters) gets the same answer without asking the PSP again.
pub async fn returned(
    app: &App,
    token: &str,
    query: &[(String, String)],
) -> Result<BrowserReply, ApiError> {
    let (m, tx) = by_token(app, token).await?;
    if !matches!(tx.status, TxStatus::Initiated | TxStatus::Pending) {
        return Ok(finish(&tx));
    }
    let Some(checkout_id) = tx.checkout_id.clone() else {
        return Ok(back_to_page(app, token, &tx));
    };
    // Settings that cannot be bound show the page's own notice.
    let Ok(psp) = app.psp(&m).await else {
        return Ok(back_to_page(app, token, &tx));
    };
    match psp.return_leg(&checkout_ref(&tx, &checkout_id), query) {
        ReturnLeg::NotYet => return Ok(back_to_page(app, token, &tx)),
        ReturnLeg::Foreign { parameter } => {
            return Err(ApiError::invalid(
                parameter,
                "does not belong to this checkout",
            ));
        }
        ReturnLeg::Finished => {}
    }
    let tx = complete(app, &m, tx, true).await?;
    Ok(match tx.status {
        TxStatus::Initiated => back_to_page(app, token, &tx),
        _ => finish(&tx),
    })
}

/// The shopper has not paid yet: to the payment page (a `Pending` preauth waits for its
/// result, so the shopper sees the success page Billwerk shows for pending payments).
fn back_to_page(app: &App, token: &str, tx: &TransactionRecord) -> BrowserReply {
    match tx.status {
        TxStatus::Initiated => {
            BrowserReply::Redirect(format!("{}/checkout/{token}", app.public_base_url))
        }
        _ => finish(tx),
    }
}

/// `GET /checkout/{token}/abort`: the shopper gave up on our page.
///
/// The shopper may have paid in another tab or before coming back here, so the PSP is asked
/// first (issue #21): a checkout it reports paid (or still being paid) keeps that outcome — it
/// is recorded, Billwerk gets a webhook, and the browser goes where that outcome leads (the
/// success URL); only a checkout the PSP holds no payment for is cancelled here.
pub async fn abort(app: &App, token: &str) -> Result<BrowserReply, ApiError> {
    let (m, tx) = by_token(app, token).await?;
    let _guard = app.locks.lock(m.id(), &tx.billwerk_id).await;
    let tx = complete_locked(app, &m, tx, true).await?;
    let now = app.now();
    let tx = app
        .transition(tx, |t| {
            if t.status != TxStatus::Initiated {
                return None;
            }
            let err = TxError {
                code: PaymentErrorCode::Canceled,
                message: "the shopper cancelled the payment".into(),
                psp_code: None,
                received_at: now,
            };
            outcome::local(
                t,
                Facts::NONE,
                TxStatus::Cancelled,
                Trigger::Cancel,
                Some(err),
                "shopper aborted",
                Some(WebhookType::Preauth),
            )
        })
        .await?;
    // The PSP could not say (unreachable): the shopper asked to leave, so they do; the
    // reconciler settles the preauth and Billwerk hears of it by webhook.
    if tx.status == TxStatus::Pending && tx.psp_tx_id.is_none() {
        let back = tx.abort_url.clone().or_else(|| tx.error_url.clone());
        if let Some(url) = back {
            return Ok(BrowserReply::Redirect(url));
        }
    }
    Ok(finish(&tx))
}

/// Asks the PSP for the checkout's result and records it (once; later calls see the stored
/// state). `notify` queues a Billwerk webhook, since nobody is waiting for this answer.
#[tracing::instrument(level = "error", name = "checkout_complete", skip_all,
    fields(transaction_id = %tx.billwerk_id, merchant_id = %m.id()))]
pub async fn complete(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    notify: bool,
) -> Result<TransactionRecord, ApiError> {
    let _guard = app.locks.lock(m.id(), &tx.billwerk_id).await;
    complete_locked(app, m, tx, notify).await
}

/// [`complete`] for a caller that holds the preauth's lock.
pub async fn complete_locked(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    notify: bool,
) -> Result<TransactionRecord, ApiError> {
    let tx = app.find(m, TxKind::Preauth, &tx.billwerk_id).await?;
    let Some(checkout_id) = tx.checkout_id.clone() else {
        return Ok(tx);
    };
    if !matches!(tx.status, TxStatus::Initiated | TxStatus::Pending) {
        return Ok(tx);
    }
    let psp = app.psp(m).await?;
    let reference = checkout_ref(&tx, &checkout_id);
    let r = super::called::timed("checkout result", psp.complete_checkout(&reference)).await;
    // An open checkout (pending, no payment behind it) is not a result: the shopper has yet
    // to pay, so the preauth stays Initiated and its page keeps working.
    if tx.status == TxStatus::Initiated
        && matches!(r.outcome, Outcome::Pending)
        && r.psp_transaction_id.is_none()
    {
        return Ok(tx);
    }
    let now = app.now();
    let tx = app
        .transition(tx, |t| {
            outcome::update_for(t, &r, &app.stamp(now, notify)).map(|u| crate::store::TxUpdate {
                psp_call: Some(r.note.clone()),
                ..u
            })
        })
        .await?;
    // Money collected for a preauth that failed its purpose goes back at once.
    Ok(super::preauth::give_back_locked(app, m, tx).await)
}

/// Where the shopper goes once the preauth has a state: Billwerk's URL for it, or (when
/// Billwerk gave none) a page saying how it ended.
fn finish(tx: &TransactionRecord) -> BrowserReply {
    let url = match tx.status {
        TxStatus::Succeeded | TxStatus::Pending => tx.success_url.clone(),
        TxStatus::Cancelled => tx.abort_url.clone().or_else(|| tx.error_url.clone()),
        TxStatus::Failed | TxStatus::Expired => tx.error_url.clone(),
        TxStatus::Initiated => None,
    };
    match url {
        Some(u) => BrowserReply::Redirect(u),
        None => {
            let lang = Lang::from_tag(tx.language.as_deref());
            let mut n = settled_notice(tx, lang, String::new());
            n.shop = None;
            BrowserReply::Notice(n)
        }
    }
}
