//! Finding a transaction whose answer was lost, without Mollie's help: Mollie has no search by
//! our reference (contract/mollie.md §2.12). Within the hour the call itself was replayed with
//! its `Idempotency-Key` (`api`); after it, the transaction is looked for where it must be:
//! - a refund or capture among its payment's embedded refunds and captures;
//! - a charge on a stored agreement among the agreement customer's payments;
//! - a first payment among the payments of the customer created for it (found by the metadata
//!   we gave the customer);
//! - a reversal as the payment's `canceled` status or its `-cancel` refund;
//!
//! always matching the reference we put into `metadata`. A list longer than [`MAX_PAGES`] pages
//! is not read to its end: the answer is then `Unsupported` (the transaction stays as it is for
//! the reconciler and an operator), never "not found".

use serde_json::Value;

use super::api::Reply;
use super::ops::{payment_of, safe_id};
use super::read::{self, str_of};
use super::{Bound, follow_up_reference};
use crate::psp::{EventKind, FollowUp, Known, Lookup, Outcome, Reference};

/// Pages of a list read at most (each [`PAGE_SIZE`] items, newest first).
pub const MAX_PAGES: usize = 8;
/// Items per page: Mollie's largest `limit`.
pub const PAGE_SIZE: usize = 250;

/// What a bounded list scan found.
enum Scan {
    Found(Value),
    /// Read to its end without a match.
    Absent,
    /// More than [`MAX_PAGES`] pages.
    TooLong,
    Failed(Reply),
}

impl Bound {
    /// [`crate::psp::MerchantPsp::lookup`] for Mollie (see the module's comment).
    pub(super) async fn find(&self, reference: Reference<'_>, known: &Known) -> Lookup {
        match reference {
            Reference::CancelOf(id) => self.find_reversal(id, known).await,
            Reference::Own(id) => match known.parent_psp_id.as_deref() {
                Some(parent) => self.find_child(id, payment_of(parent)).await,
                None => self.find_payment(id, known).await,
            },
        }
    }

    /// A refund or capture among its payment's children.
    async fn find_child(&self, reference: &str, payment: &str) -> Lookup {
        let p = match self.fetch_embedded(payment).await {
            Ok(p) => p,
            Err(l) => return l,
        };
        let ours = |c: &&Value| read::reference(c).as_deref() == Some(reference);
        if let Some(r) = read::embedded(&p, "refunds").iter().find(ours) {
            return Lookup::Found(read::refund(payment, r));
        }
        if let Some(c) = read::embedded(&p, "captures").iter().find(ours) {
            return Lookup::Found(read::capture(payment, c));
        }
        Lookup::NotFound
    }

    /// The reversal of the preauth `reference`: its `-cancel` refund, or the payment cancelled
    /// (Mollie's `DELETE` acts at once, so a payment not cancelled was not reversed).
    async fn find_reversal(&self, reference: &str, known: &Known) -> Lookup {
        let Some(payment) = known.parent_psp_id.as_deref().map(payment_of) else {
            return Lookup::Unsupported;
        };
        let p = match self.fetch_embedded(payment).await {
            Ok(p) => p,
            Err(l) => return l,
        };
        let cancel_ref = follow_up_reference(&FollowUp {
            merchant_tx_id: reference.to_string(),
            cancel_of: true,
            psp_transaction_id: payment.to_string(),
            amount: None,
            merchant_initiated: false,
        });
        if let Some(r) = read::embedded(&p, "refunds")
            .iter()
            .find(|r| read::reference(r).as_deref() == Some(cancel_ref.as_str()))
        {
            // A refund, as `refund_payment` answered it: the cancel of money collected at
            // authorization (a reserved payment is cancelled, never refunded).
            return Lookup::Found(read::refund(payment, r));
        }
        if str_of(&p, "status") == Some("canceled") {
            let mut found = read::payment(&p);
            found.kind = Some(EventKind::Reversal);
            found.outcome = Outcome::Succeeded;
            return Lookup::Found(found);
        }
        Lookup::NotFound
    }

    /// A payment of ours: on the agreement's customer, or on the customer created for it.
    async fn find_payment(&self, reference: &str, known: &Known) -> Lookup {
        let customer = match known.credential.as_deref() {
            Some(c) => c.split('/').next().unwrap_or(c).to_string(),
            None => match self.scan("/v2/customers", "customers", reference).await {
                Scan::Found(c) => match str_of(&c, "id") {
                    Some(id) => id.to_string(),
                    None => return Lookup::Unsupported,
                },
                // No customer for it: the first call of the preauth never arrived.
                Scan::Absent => return Lookup::NotFound,
                Scan::TooLong => return Lookup::Unsupported,
                Scan::Failed(r) => return Lookup::Failed(read::psp_error(r)),
            },
        };
        if !safe_id(&customer) {
            return Lookup::Unsupported;
        }
        let path = format!("/v2/customers/{customer}/payments");
        match self.scan(&path, "payments", reference).await {
            Scan::Found(p) => {
                let r = read::payment(&p);
                Lookup::Found(self.with_credential(&p, r).await)
            }
            Scan::Absent => Lookup::NotFound,
            Scan::TooLong => Lookup::Unsupported,
            Scan::Failed(r) => Lookup::Failed(read::psp_error(r)),
        }
    }

    async fn fetch_embedded(&self, payment: &str) -> Result<Value, Lookup> {
        if !safe_id(payment) {
            return Err(Lookup::Unsupported);
        }
        match self.get_payment(payment, true).await {
            Reply::Ok(p) => Ok(p),
            other => Err(Lookup::Failed(read::psp_error(other))),
        }
    }

    /// Reads the list at `path` (newest first) page by page until an item carries
    /// `reference` in its metadata, for at most [`MAX_PAGES`] pages.
    async fn scan(&self, path: &str, name: &str, reference: &str) -> Scan {
        self.scan_pages(path, name, reference, PAGE_SIZE, MAX_PAGES)
            .await
    }

    async fn scan_pages(
        &self,
        path: &str,
        name: &str,
        reference: &str,
        page_size: usize,
        max_pages: usize,
    ) -> Scan {
        let limit = page_size.to_string();
        let mut from: Option<String> = None;
        for _ in 0..max_pages {
            let mut query = vec![("limit", limit.as_str())];
            if let Some(f) = &from {
                query.push(("from", f.as_str()));
            }
            let page = match self
                .mollie
                .api
                .get(self.base(), &self.s.api_key, path, &query)
                .await
            {
                Reply::Ok(v) => v,
                other => return Scan::Failed(other),
            };
            if let Some(hit) = read::embedded(&page, name)
                .iter()
                .find(|v| read::reference(v).as_deref() == Some(reference))
            {
                return Scan::Found(hit.clone());
            }
            match next_cursor(&page) {
                Some(next) => from = Some(next),
                None => return Scan::Absent,
            }
        }
        Scan::TooLong
    }
}

/// The `from` cursor of a list page's `_links.next`, when there is a next page.
fn next_cursor(page: &Value) -> Option<String> {
    let href = page.get("_links")?.get("next")?.get("href")?.as_str()?;
    let url = url::Url::parse(href).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "from")
        .map(|(_, v)| v.into_owned())
        .filter(|v| safe_id(v))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::psp::mollie::settings::{self, MollieSettings};
    use crate::psp::mollie::{Mollie, MollieConfig};
    use crate::psp::{MerchantCtx, PspSettings};
    use crate::sim::mollie::{SANDBOX_TEST_KEY, Sim, SimConfig};

    /// A list longer than the bound is never read to its end: `TooLong` (the lookup answers
    /// `Unsupported`), never "absent"; within the bound an item is found on any page.
    #[tokio::test]
    async fn the_scan_is_bounded() {
        let stop = tokio_util::sync::CancellationToken::new();
        let cfg = SimConfig {
            frozen_clock: true,
            ..SimConfig::default()
        };
        let h = Sim::spawn(cfg, "127.0.0.1:0".parse().unwrap(), stop.clone())
            .await
            .unwrap();
        let _stop = stop.drop_guard();
        let client = reqwest::Client::new();
        for i in 0..5 {
            let r = client
                .post(format!("{}/v2/customers", h.base_url))
                .bearer_auth(SANDBOX_TEST_KEY)
                .json(&serde_json::json!({"metadata": {read::REFERENCE: format!("X-{i}")}}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        let mut s = PspSettings::default();
        s.0.insert(settings::API_KEY.into(), SANDBOX_TEST_KEY.into());
        let b = Bound {
            mollie: Mollie::new(MollieConfig {
                test_base_url: h.base_url.clone(),
                ..MollieConfig::default()
            }),
            s: MollieSettings::parse(&s).unwrap(),
            ctx: MerchantCtx {
                merchant_id: "m1".into(),
                notification_url: "http://127.0.0.1:9/h".into(),
            },
        };
        let scan = |reference: &'static str, pages: usize| {
            let b = &b;
            async move {
                b.scan_pages("/v2/customers", "customers", reference, 2, pages)
                    .await
            }
        };
        // Newest first, two a page: X-0 is on the third page.
        assert!(matches!(scan("X-0", 2).await, Scan::TooLong));
        assert!(matches!(scan("X-0", 3).await, Scan::Found(_)));
        assert!(matches!(scan("X-4", 1).await, Scan::Found(_)));
        assert!(matches!(scan("X-9", 3).await, Scan::Absent));
        assert!(matches!(scan("X-9", 2).await, Scan::TooLong));
    }

    #[test]
    fn reads_the_next_cursor() {
        let page = serde_json::json!({"_links": {"next": {"href": "https://api.mollie.com/v2/customers/cst_1/payments?from=tr_abc&limit=250"}}});
        assert_eq!(next_cursor(&page).as_deref(), Some("tr_abc"));
        let last = serde_json::json!({"_links": {"next": null}});
        assert_eq!(next_cursor(&last), None);
    }
}
