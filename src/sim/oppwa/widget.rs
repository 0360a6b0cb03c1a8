//! COPYandPAY front end: `paymentWidgets.js` and the JS-free hosted card page (same fields).
//!
//! Both post a plain browser form to `POST {public_base_url}/v1/checkouts/{id}/submit` with
//! `shopperResultUrl`, `brands`, `paymentBrand`, `card.holder`, `card.number`, `card.expiryMonth`,
//! `card.expiryYear`, `card.cvv` and optionally `registrationId` (a saved card; empty = new card).

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Sim;
use super::forms::{BRANDS, Params, SEPA};
use super::respond::html;
use super::shopper::{Words, words};
use super::state::{Checkout, Instrument, State as SimState};
use super::threeds::page_in;
use super::util::{html_escape, is_web_url};
use crate::domain::Lang;

/// Card brands the widget can offer.
pub(crate) fn card_brands() -> Vec<String> {
    BRANDS
        .iter()
        .filter(|b| **b != SEPA)
        .map(|b| b.to_string())
        .collect()
}

/// Saved cards from `registrations[n].id`: (registration id, label).
pub(crate) fn saved_cards(st: &SimState, co: &Checkout) -> Vec<(String, String)> {
    co.params
        .registrations()
        .into_iter()
        .filter_map(|id| {
            let reg = st.regs.get(&id).filter(|r| !r.deregistered)?;
            let Instrument::Card(c) = &reg.instrument else {
                return None;
            };
            let last4 = c
                .number
                .get(c.number.len().saturating_sub(4)..)
                .unwrap_or("");
            let label = format!(
                "{} **** {last4} ({}/{})",
                reg.brand, c.expiry_month, c.expiry_year
            );
            Some((id, label))
        })
        .collect()
}

pub(crate) struct CardForm<'a> {
    pub submit_url: String,
    pub shopper_result_url: &'a str,
    pub brands: Vec<String>,
    pub saved: Vec<(String, String)>,
    /// A message for the shopper, already in their language.
    pub error: Option<&'a str>,
    pub lang: Lang,
    /// The checkout's amount, formatted for the shopper.
    pub amount: Option<String>,
    /// The form the shopper sent before; its non-sensitive fields are filled in again (never
    /// the card number or security code).
    pub previous: Option<&'a Params>,
    /// The shop's page hosting the widget: the way back.
    pub page_url: Option<&'a str>,
}

impl CardForm<'_> {
    pub(crate) fn page(&self) -> String {
        let w = words(self.lang);
        let kept = |name: &str| {
            self.previous
                .and_then(|p| p.get(name))
                .map(html_escape)
                .unwrap_or_default()
        };
        let mut h = String::new();
        if let Some(a) = &self.amount {
            h.push_str(&format!(
                "<p class=\"amount\">{}: <strong id=\"amount\">{}</strong></p>",
                html_escape(w.amount),
                html_escape(a)
            ));
        }
        if let Some(e) = self.error {
            h.push_str(&format!(
                "<p class=\"error\" role=\"alert\" id=\"form-error\">{}</p>",
                html_escape(e)
            ));
        }
        h.push_str(&format!(
            "<form class=\"paymentWidgets\" method=\"POST\" action=\"{}\">",
            html_escape(&self.submit_url)
        ));
        h.push_str(&hidden("shopperResultUrl", self.shopper_result_url));
        h.push_str(&hidden("brands", &self.brands.join(" ")));
        h.push_str(&hidden("locale", self.lang.code()));
        if let Some(u) = self.page_url {
            h.push_str(&hidden("pageUrl", u));
        }
        if !self.saved.is_empty() {
            h.push_str(&format!(
                "<fieldset><legend>{}</legend>",
                html_escape(w.saved)
            ));
            for (i, (id, label)) in self.saved.iter().enumerate() {
                let checked = if i == 0 { " checked" } else { "" };
                h.push_str(&format!(
                    "<label><input type=\"radio\" name=\"registrationId\" value=\"{}\"{checked}> {}</label>",
                    html_escape(id),
                    html_escape(label)
                ));
            }
            h.push_str(&format!(
                "<label><input type=\"radio\" name=\"registrationId\" value=\"\"> {}</label></fieldset>",
                html_escape(w.new_card)
            ));
        }
        let chosen = kept("paymentBrand");
        h.push_str(&format!(
            "<label for=\"card-brand\">{}</label><select id=\"card-brand\" name=\"paymentBrand\"><option value=\"\">{}</option>",
            html_escape(w.brand),
            html_escape(w.detect)
        ));
        for b in &self.brands {
            let b = html_escape(b);
            let sel = if b == chosen { " selected" } else { "" };
            h.push_str(&format!("<option value=\"{b}\"{sel}>{b}</option>"));
        }
        h.push_str("</select>");
        for f in FIELDS {
            let value = if f.keep { kept(f.name) } else { String::new() };
            h.push_str(&format!(
                "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{name}\" autocomplete=\"{ac}\"{mode} value=\"{value}\">",
                id = f.id,
                label = html_escape((f.label)(w)),
                name = f.name,
                ac = f.autocomplete,
                mode = if f.numeric { " inputmode=\"numeric\"" } else { "" },
            ));
        }
        h.push_str(&format!(
            "<button type=\"submit\">{}</button></form>",
            html_escape(w.pay)
        ));
        if let Some(u) = self.page_url.filter(|u| is_web_url(u)) {
            h.push_str(&format!(
                "<p><a id=\"back\" href=\"{}\">{}</a></p>",
                html_escape(u),
                html_escape(w.back)
            ));
        }
        page_in(self.lang, w.title, &h)
    }
}

/// One card field of the form.
struct Field {
    id: &'static str,
    name: &'static str,
    label: fn(&Words) -> &'static str,
    autocomplete: &'static str,
    numeric: bool,
    /// Shown again after an error (not the number or the security code).
    keep: bool,
}

const FIELDS: [Field; 5] = [
    Field {
        id: "card-holder",
        name: "card.holder",
        label: |w| w.holder,
        autocomplete: "cc-name",
        numeric: false,
        keep: true,
    },
    Field {
        id: "card-number",
        name: "card.number",
        label: |w| w.number,
        autocomplete: "cc-number",
        numeric: true,
        keep: false,
    },
    Field {
        id: "card-expiry-month",
        name: "card.expiryMonth",
        label: |w| w.month,
        autocomplete: "cc-exp-month",
        numeric: true,
        keep: true,
    },
    Field {
        id: "card-expiry-year",
        name: "card.expiryYear",
        label: |w| w.year,
        autocomplete: "cc-exp-year",
        numeric: true,
        keep: true,
    },
    Field {
        id: "card-cvv",
        name: "card.cvv",
        label: |w| w.cvv,
        autocomplete: "cc-csc",
        numeric: true,
        keep: false,
    },
];

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        html_escape(value)
    )
}

/// The checkout's amount for the shopper, from its `amount` and `currency` parameters.
pub(crate) fn checkout_amount(co: &Checkout, lang: Lang) -> Option<String> {
    let amount = co.params.get("amount")?.parse().ok()?;
    let currency = crate::domain::Currency::parse(co.params.get("currency")?)?;
    let m = crate::domain::Money::new(amount, currency, true).ok()?;
    Some(crate::domain::format_amount(&m, lang))
}

/// Brands from a space-separated list, limited to card brands; all when empty.
pub(crate) fn pick_brands(list: Option<&str>) -> Vec<String> {
    let all = card_brands();
    let wanted: Vec<String> = list
        .unwrap_or("")
        .split_whitespace()
        .filter(|b| all.iter().any(|a| a == b))
        .map(str::to_string)
        .collect();
    if wanted.is_empty() { all } else { wanted }
}

/// `GET /v1/checkouts/{id}/form?shopperResultUrl=…[&brands=VISA MASTER][&locale=de][&pageUrl=…]`.
pub(crate) async fn hosted_form(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let p = Params::from_query(q.as_deref());
    let lang = Lang::from_tag(p.get("locale"));
    let found = sim.with_state(|st, _| {
        st.checkouts
            .get(&id)
            .map(|co| (saved_cards(st, co), checkout_amount(co, lang)))
    });
    let Some((saved, amount)) = found else {
        return html(
            StatusCode::NOT_FOUND,
            page_in(
                lang,
                words(lang).title,
                &format!("<p>{}</p>", html_escape(words(lang).session_gone)),
            ),
        );
    };
    let form = CardForm {
        submit_url: format!("{}/v1/checkouts/{id}/submit", sim.config().public_base_url),
        shopper_result_url: p.get("shopperResultUrl").unwrap_or(""),
        brands: pick_brands(p.get("brands")),
        saved,
        error: None,
        lang,
        amount,
        previous: None,
        page_url: p.get("pageUrl"),
    };
    html(StatusCode::OK, form.page())
}

/// The widget script of one checkout; deterministic so its SRI hash is stable.
pub(crate) fn script_for(base: &str, checkout_id: &str, saved: &[(String, String)]) -> String {
    let saved: Vec<_> = saved
        .iter()
        .map(|(id, label)| json!({"id": id, "label": label}))
        .collect();
    let labels = |w: &Words| {
        json!({
            "brand": w.brand, "detect": w.detect, "holder": w.holder, "number": w.number,
            "month": w.month, "year": w.year, "cvv": w.cvv, "pay": w.pay, "saved": w.saved,
            "newCard": w.new_card,
        })
    };
    let cfg = json!({
        "submitUrl": format!("{base}/v1/checkouts/{checkout_id}/submit"),
        "brands": card_brands(),
        "saved": saved,
        "words": {"en": labels(words(Lang::En)), "de": labels(words(Lang::De))},
    });
    let cfg = cfg.to_string().replace("</", "<\\/");
    WIDGET_JS.replace("__CFG__", &cfg)
}

/// `GET /v1/paymentWidgets.js?checkoutId=…`.
pub(crate) async fn script(State(sim): State<Sim>, RawQuery(q): RawQuery) -> Response {
    let p = Params::from_query(q.as_deref());
    let id = p.get("checkoutId").unwrap_or("").to_string();
    let base = sim.config().public_base_url.clone();
    let saved = sim.with_state(|st, _| st.checkouts.get(&id).map(|co| saved_cards(st, co)));
    let (status, body) = match saved {
        Some(saved) => (StatusCode::OK, script_for(&base, &id, &saved)),
        None => (
            StatusCode::NOT_FOUND,
            "console.error('OPPWA simulator: unknown checkoutId');".to_string(),
        ),
    };
    (
        status,
        // The merchant page loads the script cross-origin with `crossorigin="anonymous"` (SRI),
        // which browsers only allow with a CORS grant.
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

const WIDGET_JS: &str = r#"(function () {
  var cfg = __CFG__;
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c];
    });
  }
  function hidden(name, value) { return '<input type="hidden" name="' + name + '" value="' + esc(value) + '">'; }
  function field(id, label, name, ac, numeric) {
    return '<label for="' + id + '">' + esc(label) + '</label><input id="' + id + '" name="' + name +
      '" autocomplete="' + ac + '"' + (numeric ? ' inputmode="numeric"' : '') + '>';
  }
  function lang() {
    var l = (window.wpwlOptions && window.wpwlOptions.locale) || document.documentElement.lang || 'en';
    l = String(l).toLowerCase().split(/[-_]/)[0];
    return cfg.words[l] ? l : 'en';
  }
  function render(form) {
    var l = lang(), w = cfg.words[l];
    var action = form.getAttribute('action') || '';
    var want = (form.getAttribute('data-brands') || '').split(/\s+/).filter(function (b) { return b; });
    var brands = cfg.brands.filter(function (b) { return want.length === 0 || want.indexOf(b) >= 0; });
    if (brands.length === 0) { brands = cfg.brands; }
    var h = hidden('shopperResultUrl', action) + hidden('brands', brands.join(' ')) +
      hidden('locale', l) + hidden('pageUrl', window.location.href);
    if (cfg.saved.length) {
      h += '<fieldset><legend>' + esc(w.saved) + '</legend>';
      cfg.saved.forEach(function (s, i) {
        h += '<label><input type="radio" name="registrationId" value="' + esc(s.id) + '"' + (i === 0 ? ' checked' : '') + '> ' + esc(s.label) + '</label>';
      });
      h += '<label><input type="radio" name="registrationId" value=""> ' + esc(w.newCard) + '</label></fieldset>';
    }
    h += '<label for="card-brand">' + esc(w.brand) + '</label><select id="card-brand" name="paymentBrand"><option value="">' +
      esc(w.detect) + '</option>' + brands.map(function (b) {
        return '<option value="' + esc(b) + '">' + esc(b) + '</option>';
      }).join('') + '</select>';
    h += field('card-holder', w.holder, 'card.holder', 'cc-name', false) +
      field('card-number', w.number, 'card.number', 'cc-number', true) +
      field('card-expiry-month', w.month, 'card.expiryMonth', 'cc-exp-month', true) +
      field('card-expiry-year', w.year, 'card.expiryYear', 'cc-exp-year', true) +
      field('card-cvv', w.cvv, 'card.cvv', 'cc-csc', true) +
      '<button type="submit">' + esc(w.pay) + '</button>';
    form.innerHTML = h;
    form.setAttribute('action', cfg.submitUrl);
    form.setAttribute('method', 'POST');
  }
  function init() {
    var forms = document.querySelectorAll('form.paymentWidgets');
    for (var i = 0; i < forms.length; i++) { render(forms[i]); }
    if (window.wpwlOptions && typeof window.wpwlOptions.onReady === 'function') { window.wpwlOptions.onReady(); }
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', init); } else { init(); }
})();
"#;
