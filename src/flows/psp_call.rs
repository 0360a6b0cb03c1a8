//! The one wrapper around every call into a PSP adapter: the flows never hold the bound client
//! itself, so no adapter can forget these duties. Before each operation the pooled database
//! connection is given back (a PSP may take seconds to answer); each operation is timed,
//! counted by PSP, operation and outcome, and cut off after the family's operation timeout,
//! whose outcome is then unknown (a money call stays Pending for the reconciler). The request
//! id reaches the PSP through the shared transport (`psp::transport`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::PaymentErrorCode;
use crate::psp::{
    CheckoutPage, CheckoutRef, FollowUp, Inbound, InitialPreauth, Known, Lookup, MerchantPsp,
    MethodValidity, NotificationError, Outcome, PreauthStart, PspError, PspNotification, PspResult,
    Reference, ReturnLeg, ShopperView, StoredCharge,
};

/// A bound client with the duties above.
#[derive(Debug, Clone)]
pub struct Guarded {
    inner: Arc<dyn MerchantPsp>,
    psp: &'static str,
    timeout: Duration,
}

impl Guarded {
    pub fn new(inner: Arc<dyn MerchantPsp>, psp: &'static str, timeout: Duration) -> Self {
        Self {
            inner,
            psp,
            timeout,
        }
    }

    /// Runs one operation; `None` when it timed out.
    async fn call<T, F: Future<Output = T>>(
        &self,
        operation: &'static str,
        work: F,
        outcome: impl Fn(&T) -> &'static str,
    ) -> Option<T> {
        crate::store::session::release();
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, work).await.ok();
        let label = result.as_ref().map_or("timeout", &outcome);
        crate::telemetry::psp_operation(
            self.psp,
            operation,
            label,
            started.elapsed().as_secs_f64(),
        );
        if result.is_none() {
            tracing::warn!(
                psp = self.psp,
                operation,
                timeout_ms = self.timeout.as_millis() as u64,
                "PSP operation timed out; its outcome is unknown"
            );
        }
        result
    }

    async fn money(
        &self,
        operation: &'static str,
        work: impl Future<Output = PspResult>,
    ) -> PspResult {
        self.call(operation, work, money_label)
            .await
            .unwrap_or_else(|| PspResult::unknown("the PSP operation timed out"))
    }
}

fn money_label(r: &PspResult) -> &'static str {
    match r.outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Pending => "pending",
        Outcome::Declined(_) => "declined",
        Outcome::Unknown(_) => "unknown",
    }
}

fn timed_out() -> PspError {
    PspError {
        code: PaymentErrorCode::PSPConnectionTimeout,
        psp_code: None,
        message: "the PSP operation timed out".into(),
    }
}

#[async_trait]
impl MerchantPsp for Guarded {
    async fn check_settings(&self) -> Result<MethodValidity, PspError> {
        self.call("check_settings", self.inner.check_settings(), |r| {
            if r.is_ok() { "ok" } else { "error" }
        })
        .await
        .unwrap_or_else(|| Err(timed_out()))
    }

    async fn start_preauth(&self, req: &InitialPreauth) -> PreauthStart {
        self.call(
            "start_preauth",
            self.inner.start_preauth(req),
            |s| match s {
                PreauthStart::Checkout(_) => "checkout",
                PreauthStart::Done(r) => money_label(r),
            },
        )
        .await
        .unwrap_or_else(|| PreauthStart::Done(PspResult::unknown("the PSP operation timed out")))
    }

    fn shopper_view(&self, checkout: &CheckoutRef<'_>, page: &CheckoutPage) -> Option<ShopperView> {
        self.inner.shopper_view(checkout, page)
    }

    fn return_leg(&self, checkout: &CheckoutRef<'_>, query: &[(String, String)]) -> ReturnLeg {
        self.inner.return_leg(checkout, query)
    }

    async fn complete_checkout(&self, checkout: &CheckoutRef<'_>) -> PspResult {
        self.money("complete_checkout", self.inner.complete_checkout(checkout))
            .await
    }

    async fn authorize_stored(&self, req: &StoredCharge) -> PspResult {
        self.money("authorize_stored", self.inner.authorize_stored(req))
            .await
    }

    async fn charge_stored(&self, req: &StoredCharge) -> PspResult {
        self.money("charge_stored", self.inner.charge_stored(req))
            .await
    }

    async fn capture(&self, req: &FollowUp) -> PspResult {
        self.money("capture", self.inner.capture(req)).await
    }

    async fn cancel(&self, req: &FollowUp) -> PspResult {
        self.money("cancel", self.inner.cancel(req)).await
    }

    async fn refund(&self, req: &FollowUp) -> PspResult {
        self.money("refund", self.inner.refund(req)).await
    }

    async fn fetch_status(&self, psp_transaction_id: &str) -> Result<PspResult, PspError> {
        self.call(
            "fetch_status",
            self.inner.fetch_status(psp_transaction_id),
            |r| match r {
                Ok(r) => money_label(r),
                Err(_) => "error",
            },
        )
        .await
        .unwrap_or_else(|| Err(timed_out()))
    }

    async fn lookup(&self, reference: Reference<'_>, known: &Known) -> Lookup {
        self.call("lookup", self.inner.lookup(reference, known), |l| match l {
            Lookup::Found(_) => "found",
            Lookup::NotFound => "not_found",
            Lookup::Unsupported => "unsupported",
            Lookup::Failed(_) => "error",
        })
        .await
        .unwrap_or_else(|| Lookup::Failed(timed_out()))
    }

    async fn receive(
        &self,
        inbound: &Inbound<'_>,
    ) -> Result<Vec<PspNotification>, NotificationError> {
        self.call("receive", self.inner.receive(inbound), |r| match r {
            Ok(_) => "ok",
            Err(NotificationError::Unauthentic(_)) => "unauthentic",
            Err(NotificationError::Malformed(_)) => "malformed",
            Err(NotificationError::Unavailable(_)) => "unavailable",
            Err(NotificationError::Misconfigured(_)) => "misconfigured",
        })
        .await
        .unwrap_or_else(|| {
            Err(NotificationError::Unavailable(
                "the PSP operation timed out".into(),
            ))
        })
    }
}
