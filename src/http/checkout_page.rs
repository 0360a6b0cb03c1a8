//! The hosted checkout's pages: texts per language, the payment and notice templates (askama,
//! HTML-escaped by default) and the responses' security policy. The flow says what to show
//! ([`BrowserReply`](crate::flows::checkout::BrowserReply)); this module says how.

use crate::domain::{Lang, format_amount};
use crate::flows::checkout::{Notice, NoticeKind, PaymentForm};
use askama::Template;

/// The phrases of `lang`.
pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
    }
}

/// Every phrase the hosted pages show, per language.
#[derive(Debug)]
pub struct Texts {
    pub pay_title: &'static str,
    pub pay_heading: &'static str,
    pub save_card_heading: &'static str,
    pub amount_label: &'static str,
    pub no_charge_label: &'static str,
    pub reference_label: &'static str,
    pub noscript: &'static str,
    pub secure_note: &'static str,
    pub cancel: &'static str,
    pub footer: &'static str,
    pub close_window: &'static str,
    pub back_to_shop: &'static str,
    pub expired_title: &'static str,
    pub expired_text: &'static str,
    pub done_title: &'static str,
    pub done_text: &'static str,
    pub failed_title: &'static str,
    pub failed_text: &'static str,
    pub cancelled_title: &'static str,
    pub cancelled_text: &'static str,
    pub unknown_title: &'static str,
    pub unknown_text: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_text: &'static str,
}

static EN: Texts = Texts {
    pay_title: "Secure payment",
    pay_heading: "Pay by card",
    save_card_heading: "Save your card",
    amount_label: "Amount due",
    no_charge_label: "Your card is saved for future payments; nothing is charged now",
    reference_label: "Reference",
    noscript: "Please enable JavaScript: the card form is provided by our payment service provider.",
    secure_note: "Your card details go directly to our payment service provider over an encrypted connection; this shop never sees them.",
    cancel: "Cancel payment and return to the shop",
    footer: "Secure checkout",
    close_window: "You can close this window.",
    back_to_shop: "Back to the shop",
    expired_title: "This payment link has expired",
    expired_text: "For your security, payment links are only valid for a limited time. Please return to the shop and start the payment again.",
    done_title: "Payment already completed",
    done_text: "This payment has already been made. There is nothing more to do here.",
    failed_title: "Payment not completed",
    failed_text: "This payment could not be completed. Please return to the shop to try again or choose another payment method.",
    cancelled_title: "Payment cancelled",
    cancelled_text: "This payment was cancelled. Nothing has been charged.",
    unknown_title: "Payment page not found",
    unknown_text: "This payment link is not valid. Please check the link or return to the shop and start again.",
    unavailable_title: "Payment page unavailable",
    unavailable_text: "The payment form cannot be shown right now. Please try again later.",
};

static DE: Texts = Texts {
    pay_title: "Sichere Zahlung",
    pay_heading: "Mit Karte bezahlen",
    save_card_heading: "Karte hinterlegen",
    amount_label: "Zu zahlender Betrag",
    no_charge_label: "Ihre Karte wird für künftige Zahlungen hinterlegt; jetzt wird nichts belastet",
    reference_label: "Referenz",
    noscript: "Bitte aktivieren Sie JavaScript: Das Kartenformular stammt von unserem Zahlungsdienstleister.",
    secure_note: "Ihre Kartendaten gehen verschlüsselt direkt an unseren Zahlungsdienstleister; dieser Shop sieht sie nie.",
    cancel: "Zahlung abbrechen und zurück zum Shop",
    footer: "Sichere Bezahlseite",
    close_window: "Sie können dieses Fenster schließen.",
    back_to_shop: "Zurück zum Shop",
    expired_title: "Dieser Zahlungslink ist abgelaufen",
    expired_text: "Zu Ihrer Sicherheit sind Zahlungslinks nur begrenzt gültig. Bitte kehren Sie zum Shop zurück und starten Sie die Zahlung erneut.",
    done_title: "Zahlung bereits abgeschlossen",
    done_text: "Diese Zahlung wurde bereits ausgeführt. Hier ist nichts mehr zu tun.",
    failed_title: "Zahlung nicht abgeschlossen",
    failed_text: "Diese Zahlung konnte nicht abgeschlossen werden. Bitte kehren Sie zum Shop zurück, um es erneut zu versuchen oder eine andere Zahlungsart zu wählen.",
    cancelled_title: "Zahlung abgebrochen",
    cancelled_text: "Diese Zahlung wurde abgebrochen. Es wurde nichts belastet.",
    unknown_title: "Zahlungsseite nicht gefunden",
    unknown_text: "Dieser Zahlungslink ist ungültig. Bitte prüfen Sie den Link oder starten Sie die Zahlung im Shop erneut.",
    unavailable_title: "Zahlungsseite nicht verfügbar",
    unavailable_text: "Das Zahlungsformular kann gerade nicht angezeigt werden. Bitte versuchen Sie es später erneut.",
};

/// The payment page around the PSP's widget.
#[derive(Template)]
#[template(path = "checkout.html")]
pub struct PaymentPage<'a> {
    /// `<html lang>`: `en` or `de`.
    pub lang: &'static str,
    pub t: &'static Texts,
    /// The shop's display name.
    pub shop: &'a str,
    /// The amount as [`format_amount`] writes it.
    pub amount: String,
    /// A zero-amount preauth: the card is saved, nothing is charged.
    pub registration: bool,
    /// Billwerk's reference text of the transaction, shown as "what is being paid for".
    pub reference: Option<&'a str>,
    /// Trusted markup from the PSP adapter ([`WidgetEmbed`](crate::psp::WidgetEmbed)), inserted unescaped.
    pub widget_head: &'a str,
    pub widget_body: &'a str,
    /// Our abort URL (the cancel link).
    pub abort_url: &'a str,
}

/// A page with a title, one paragraph and, when known, a way back to the shop.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage<'a> {
    /// `<html lang>`: `en` or `de`.
    pub lang: &'static str,
    pub t: &'static Texts,
    pub shop: Option<&'a str>,
    pub title: &'a str,
    pub text: &'a str,
    /// An http(s) URL back to the shop; without one the page says the window can be closed.
    pub back_url: Option<&'a str>,
    pub back_label: &'a str,
}

/// The notice as a complete HTML document.
pub fn render_notice(n: &Notice) -> String {
    let t = texts(n.lang);
    let (title, text) = match n.kind {
        NoticeKind::Expired => (t.expired_title, t.expired_text),
        NoticeKind::Completed => (t.done_title, t.done_text),
        NoticeKind::Failed => (t.failed_title, t.failed_text),
        NoticeKind::Cancelled => (t.cancelled_title, t.cancelled_text),
        NoticeKind::Unknown => (t.unknown_title, t.unknown_text),
        NoticeKind::Unavailable => (t.unavailable_title, t.unavailable_text),
    };
    let page = NoticePage {
        lang: n.lang.code(),
        t,
        shop: n.shop.as_deref(),
        title,
        text,
        back_url: n.back_url.as_deref().filter(|u| is_web_url(u)),
        back_label: t.back_to_shop,
    };
    page.render().unwrap_or_else(|_| fallback_html())
}

/// Only http(s) links are offered as a way back (never `javascript:` and the like).
pub fn is_web_url(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
}

/// Shown if a template could not render (it cannot fail on our own data; this is a backstop).
fn fallback_html() -> String {
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Payment</title></head>\
     <body><p>The payment page is not available. Please try again later.</p></body></html>"
        .into()
}

/// The payment page of `form` as a complete HTML document.
pub fn render_form(form: &PaymentForm) -> String {
    render_payment(&PaymentPage {
        lang: form.lang.code(),
        t: texts(form.lang),
        shop: &form.shop,
        amount: format_amount(&form.amount, form.lang),
        registration: form.amount.amount.is_zero(),
        reference: form.reference.as_deref(),
        widget_head: &form.widget.head,
        widget_body: &form.widget.body,
        abort_url: &form.abort_url,
    })
}

/// The payment page as a complete HTML document.
pub fn render_payment(page: &PaymentPage<'_>) -> String {
    page.render().unwrap_or_else(|_| fallback_html())
}

/// The `Content-Security-Policy` of the payment page. Scripts run only with this response's
/// nonce (the widget's tag also pins its file by the checkout's integrity hash); with
/// `'strict-dynamic'` the scripts the widget itself adds may run too, and the widget's origin is
/// the fallback for browsers without it. Inline styles are allowed because the widget injects
/// them; frames may be the widget's own or HTTPS pages (3-D Secure method and challenge frames
/// come from issuers' domains); `frame-ancestors 'none'` keeps the page out of frames. No
/// `form-action`: the widget posts to the PSP, whose 3-D Secure redirects lead through issuer
/// domains we cannot list.
pub fn payment_csp(nonce: &str, widget_origin: &str) -> String {
    let o = widget_origin;
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}' 'strict-dynamic' {o}; \
         style-src 'unsafe-inline' {o}; img-src 'self' data: {o}; font-src {o}; connect-src {o}; \
         frame-src {o} https:; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )
}

/// The policy of every other checkout page: no scripts at all.
pub const NOTICE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A fresh random nonce for one response (base64 of 16 random bytes).
pub fn new_nonce() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_page_escapes_everything_it_interpolates() {
        let html = render_payment(&PaymentPage {
            lang: "de",
            t: texts(Lang::De),
            shop: "Tom & Jerry's <b>Shop</b>",
            amount: "1,00\u{a0}€".into(),
            registration: false,
            reference: Some("\"><script>alert(1)</script>"),
            widget_head: "<script nonce=\"n\" src=\"https://psp.example/w.js\"></script>",
            widget_body: "<form class=\"paymentWidgets\"></form>",
            abort_url: "https://i.example/abort?a=1&b=\"2\"",
        });
        assert!(html.contains("<html lang=\"de\">"));
        assert!(
            html.contains("Tom &#38; Jerry&#39;s &#60;b&#62;Shop&#60;/b&#62;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("<script nonce=\"n\" src=\"https://psp.example/w.js\"></script>"));
        assert!(html.contains("Zahlung abbrechen"));
        assert!(html.contains("name=\"viewport\""));
    }

    #[test]
    fn notices_offer_only_web_links_back() {
        let mut n = Notice {
            kind: NoticeKind::Expired,
            lang: Lang::En,
            shop: Some("Acme".into()),
            back_url: Some("https://shop.example/abort".into()),
        };
        let html = render_notice(&n);
        assert!(html.contains("This payment link has expired"));
        assert!(html.contains("href=\"https://shop.example/abort\""));
        n.back_url = Some("javascript:alert(1)".into());
        let html = render_notice(&n);
        assert!(!html.contains("javascript:"));
        assert!(html.contains("You can close this window."));
    }

    #[test]
    fn csp_allows_only_the_nonce_and_the_widget_origin() {
        let csp = payment_csp("abc", "https://widget.psp.example");
        assert!(
            csp.contains("script-src 'nonce-abc' 'strict-dynamic' https://widget.psp.example;")
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-eval"));
        assert!(!csp.contains("script-src 'unsafe-inline'"));
    }
}
