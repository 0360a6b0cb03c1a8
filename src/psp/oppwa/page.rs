//! Our page hosting the COPYandPAY widget (spec §3.2). Every interpolated value is escaped.

use crate::html::escape;
use crate::psp::CheckoutPage;

/// A language tag safe to place inside a script literal (`de`, `en-GB`).
fn locale(language: Option<&str>) -> Option<&str> {
    language.map(str::trim).filter(|l| {
        (2..=8).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-')
    })
}

/// The full HTML page; `base_url` is the OPPWA host of the merchant's environment.
pub fn render(base_url: &str, brands: &str, page: &CheckoutPage) -> String {
    let lang = locale(page.language.as_deref());
    let widget = format!(
        "{}/v1/paymentWidgets.js?checkoutId={}",
        base_url.trim_end_matches('/'),
        page.checkout_id
    );
    let sri = page
        .integrity
        .as_deref()
        .filter(|i| !i.trim().is_empty())
        .map(|i| {
            format!(
                " integrity=\"{}\" crossorigin=\"anonymous\"",
                escape(i.trim())
            )
        })
        .unwrap_or_default();
    let options = lang
        .map(|l| format!("<script>var wpwlOptions = {{ locale: \"{l}\" }};</script>\n"))
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payment</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}.amount{{font-size:1.4rem}}</style>
{options}<script src="{widget}"{sri}></script>
</head>
<body>
<h1>Payment</h1>
<p class="amount">{amount} {currency}</p>
<form action="{action}" class="paymentWidgets" data-brands="{brands}"></form>
<p><a href="{abort}">Cancel payment</a></p>
</body>
</html>
"#,
        lang = escape(lang.unwrap_or("en")),
        widget = escape(&widget),
        amount = escape(&page.amount.fixed()),
        currency = escape(page.amount.currency.code()),
        action = escape(&page.return_url),
        brands = escape(brands),
        abort = escape(&page.abort_url),
    )
}

/// Shown instead of the widget when the merchant's settings cannot be used.
pub fn unavailable() -> String {
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Payment</title>\
     </head><body><p>The payment form is not available. Please try again later.</p>\
     </body></html>\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::psp::oppwa::transformers::tests::eur;

    fn page(integrity: Option<&str>) -> CheckoutPage {
        CheckoutPage {
            checkout_id: "FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03".into(),
            integrity: integrity.map(String::from),
            return_url: "https://i.example/return?tx=1&x=\"><script>".into(),
            abort_url: "https://i.example/abort?tx=1".into(),
            amount: eur("92"),
            language: Some("de".into()),
        }
    }

    #[test]
    fn renders_widget_form_and_cancel_link() {
        let html = render(
            "https://eu-test.oppwa.com/",
            "VISA MASTER",
            &page(Some("sha384-abc")),
        );
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(
            "<script src=\"https://eu-test.oppwa.com/v1/paymentWidgets.js?checkoutId=\
             FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03\" integrity=\"sha384-abc\" \
             crossorigin=\"anonymous\"></script>"
        ));
        assert!(html.contains(
            "<form action=\"https://i.example/return?tx=1&amp;x=&quot;&gt;&lt;script&gt;\" \
             class=\"paymentWidgets\" data-brands=\"VISA MASTER\"></form>"
        ));
        assert!(html.contains("<a href=\"https://i.example/abort?tx=1\">Cancel payment</a>"));
        assert!(html.contains("92.00 EUR"));
        assert!(html.contains("locale: \"de\""));
        assert!(!html.contains("\"><script>"));
    }

    #[test]
    fn no_integrity_attributes_without_integrity() {
        let mut p = page(None);
        p.language = Some("\"};alert(1)".into());
        let html = render("https://eu-test.oppwa.com", "VISA", &p);
        assert!(!html.contains("integrity="));
        assert!(!html.contains("crossorigin"));
        assert!(!html.contains("alert"));
    }
}
