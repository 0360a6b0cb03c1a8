//! The COPYandPAY widget on our payment page (spec §3.2): the options and script tags (with
//! the page's nonce and the checkout's integrity hash) and the form the widget fills.

use askama::Template;

use crate::psp::{CheckoutPage, CheckoutRef, WidgetEmbed};

#[derive(Template)]
#[template(path = "oppwa/widget_head.html")]
struct Head<'a> {
    nonce: &'a str,
    /// `wpwlOptions` as a JSON object literal (safe inside a script element: no `<`).
    options: String,
    src: String,
    integrity: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "oppwa/widget_body.html")]
struct Body<'a> {
    action: &'a str,
    brands: &'a str,
}

/// A language tag safe for the widget's `locale` (`de`, `en-GB`); English otherwise.
fn locale(language: &str) -> &str {
    let l = language.trim();
    let ok = (2..=8).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
    if ok { l } else { "en" }
}

/// `scheme://host[:port]` of `base_url`, for the page's security policy.
fn origin(base_url: &str) -> Option<String> {
    let u = url::Url::parse(base_url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

/// The widget for one checkout; `base_url` is the OPPWA host of the merchant's environment.
/// The widget for `checkout` (its `data` is the script's integrity value, when OPPWA gave one).
pub fn render(
    base_url: &str,
    brands: &str,
    checkout: &CheckoutRef<'_>,
    page: &CheckoutPage,
) -> Option<WidgetEmbed> {
    let mut src = url::Url::parse(base_url)
        .ok()?
        .join("/v1/paymentWidgets.js")
        .ok()?;
    src.query_pairs_mut()
        .append_pair("checkoutId", checkout.checkout_id);
    let options = serde_json::json!({ "locale": locale(&page.language) })
        .to_string()
        .replace('<', "\\u003c");
    let head = Head {
        nonce: &page.nonce,
        options,
        src: src.to_string(),
        integrity: checkout.data.map(str::trim).filter(|i| !i.is_empty()),
    }
    .render()
    .ok()?;
    let body = Body {
        action: &page.return_url,
        brands,
    }
    .render()
    .ok()?;
    Some(WidgetEmbed {
        head,
        body,
        origin: origin(base_url)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03";

    fn checkout(integrity: Option<&str>) -> CheckoutRef<'_> {
        CheckoutRef {
            checkout_id: ID,
            data: integrity,
            merchant_tx_id: "tx-1",
        }
    }

    fn page() -> CheckoutPage {
        CheckoutPage {
            return_url: "https://i.example/return?tx=1&x=\"><script>".into(),
            language: "de".into(),
            nonce: "bm9uY2U=".into(),
        }
    }

    #[test]
    fn renders_widget_script_options_and_form() {
        let w = render(
            "https://eu-test.oppwa.com/",
            "VISA MASTER",
            &checkout(Some("sha384-abc")),
            &page(),
        )
        .expect("widget");
        assert_eq!(w.origin, "https://eu-test.oppwa.com");
        assert!(w.head.contains(
            "<script nonce=\"bm9uY2U=\" src=\"https://eu-test.oppwa.com/v1/paymentWidgets.js?checkoutId=\
             FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03\" integrity=\"sha384-abc\" \
             crossorigin=\"anonymous\"></script>"
        ), "{}", w.head);
        assert!(w.head.contains(
            "<script nonce=\"bm9uY2U=\">var wpwlOptions = {\"locale\":\"de\"};</script>"
        ));
        assert!(
            w.body
                .contains("class=\"paymentWidgets\" data-brands=\"VISA MASTER\"")
        );
        assert!(!w.body.contains("\"><script>"), "{}", w.body);
        assert!(
            w.body
                .contains("https://i.example/return?tx=1&#38;x=&#34;&#62;&#60;script&#62;"),
            "{}",
            w.body
        );
    }

    #[test]
    fn no_integrity_attributes_without_integrity_and_no_script_injection() {
        let mut p = page();
        p.language = "\"};alert(1)".into();
        let w = render("https://eu-test.oppwa.com", "VISA", &checkout(None), &p).expect("widget");
        assert!(!w.head.contains("integrity="));
        assert!(!w.head.contains("crossorigin"));
        assert!(!w.head.contains("alert"));
        assert!(w.head.contains("{\"locale\":\"en\"}"));
    }

    #[test]
    fn unusable_base_url_gives_no_widget() {
        assert!(render("not a url", "VISA", &checkout(None), &page()).is_none());
    }
}
