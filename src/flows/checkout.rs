//! Our hosted checkout page: it loads the PSP's payment form, receives the shopper's return,
//! completes the preauth and sends the browser on to Billwerk's success/error/abort URL. The
//! token in the URL is the capability; it is random and bound to one preauth.

use super::{App, Merchant, outcome};
use crate::contract::ApiError;
use crate::domain::state::Trigger;
use crate::domain::{Currency, Money, PaymentErrorCode, TxError, TxKind, TxStatus, WebhookType};
use crate::psp::CheckoutPage;
use crate::store::TransactionRecord;

/// What the browser gets next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserReply {
    Html(String),
    Redirect(String),
    /// A plain page for the shopper when Billwerk gave no return URL (or the link is stale).
    Message {
        title: String,
        text: String,
    },
}

async fn by_token(app: &App, token: &str) -> Result<(Merchant, TransactionRecord), ApiError> {
    let tx = app
        .store
        .get_by_checkout_token(token)
        .await?
        .filter(|t| t.kind == TxKind::Preauth)
        .ok_or_else(|| ApiError::not_found("checkout"))?;
    let m = app.merchant(&tx.merchant_id).await?;
    Ok((m, tx))
}

/// `GET /checkout/{token}`.
pub async fn page(app: &App, token: &str) -> Result<BrowserReply, ApiError> {
    let (m, tx) = by_token(app, token).await?;
    let (Some(checkout_id), TxStatus::Initiated) = (tx.checkout_id.clone(), tx.status) else {
        return Ok(finish(&tx));
    };
    if tx.expires_at.is_some_and(|e| e <= app.now()) {
        return Ok(BrowserReply::Message {
            title: "Payment link expired".into(),
            text: "This payment page has expired. Please start again.".into(),
        });
    }
    let settings = app.settings(&m).await?;
    let currency = Currency::parse(&tx.currency).ok_or_else(ApiError::internal)?;
    let amount =
        Money::new(tx.requested_amount, currency, true).map_err(|_| ApiError::internal())?;
    let base = format!("{}/checkout/{token}", app.public_base_url);
    let html = m.provider.checkout_page(
        &settings,
        &CheckoutPage {
            checkout_id,
            integrity: tx.checkout_integrity.clone(),
            return_url: format!("{base}/return"),
            abort_url: format!("{base}/abort"),
            amount,
            language: tx.language.clone(),
        },
    );
    Ok(BrowserReply::Html(html))
}

/// `GET /checkout/{token}/return?id=…`: the PSP sends the shopper back here.
pub async fn returned(
    app: &App,
    token: &str,
    checkout_id: Option<&str>,
) -> Result<BrowserReply, ApiError> {
    let (m, tx) = by_token(app, token).await?;
    if checkout_id.is_some_and(|id| Some(id) != tx.checkout_id.as_deref()) {
        return Err(ApiError::invalid("id", "does not belong to this checkout"));
    }
    let tx = complete(app, &m, tx, true).await?;
    Ok(finish(&tx))
}

/// `GET /checkout/{token}/abort`: the shopper gave up on our page.
pub async fn abort(app: &App, token: &str) -> Result<BrowserReply, ApiError> {
    let (m, tx) = by_token(app, token).await?;
    let _guard = app.locks.lock(m.id(), &tx.billwerk_id).await;
    let tx = app.find(&m, TxKind::Preauth, &tx.billwerk_id).await?;
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
                TxStatus::Cancelled,
                Trigger::Cancel,
                Some(err),
                "shopper aborted",
                Some(WebhookType::Preauth),
            )
        })
        .await?;
    Ok(finish(&tx))
}

/// Asks the PSP for the checkout's result and records it (once; later calls see the stored
/// state). `notify` queues a Billwerk webhook, since nobody is waiting for this answer.
pub async fn complete(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    notify: bool,
) -> Result<TransactionRecord, ApiError> {
    let _guard = app.locks.lock(m.id(), &tx.billwerk_id).await;
    let tx = app.find(m, TxKind::Preauth, &tx.billwerk_id).await?;
    let Some(checkout_id) = tx.checkout_id.clone() else {
        return Ok(tx);
    };
    if !matches!(tx.status, TxStatus::Initiated | TxStatus::Pending) {
        return Ok(tx);
    }
    let settings = app.settings(m).await?;
    let r = m
        .provider
        .complete_checkout(&settings, &checkout_id, &tx.billwerk_id)
        .await;
    let now = app.now();
    app.transition(tx, |t| outcome::update_for(t, &r, &app.stamp(now, notify)))
        .await
}

/// Where the shopper goes once the preauth has a state.
fn finish(tx: &TransactionRecord) -> BrowserReply {
    let url = match tx.status {
        TxStatus::Succeeded | TxStatus::Pending => tx.success_url.clone(),
        TxStatus::Cancelled => tx.abort_url.clone().or_else(|| tx.error_url.clone()),
        TxStatus::Failed | TxStatus::Expired => tx.error_url.clone(),
        TxStatus::Initiated => None,
    };
    match url {
        Some(u) => BrowserReply::Redirect(u),
        None => BrowserReply::Message {
            title: format!("Payment {}", tx.status.name().to_lowercase()),
            text: "You can close this window.".into(),
        },
    }
}
