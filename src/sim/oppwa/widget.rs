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
use super::state::{Checkout, Instrument, State as SimState};
use super::threeds::page;
use super::util::html_escape;

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
    pub error: Option<&'a str>,
}

impl CardForm<'_> {
    pub(crate) fn page(&self) -> String {
        let mut h = String::new();
        if let Some(e) = self.error {
            h.push_str(&format!(
                "<p class=\"error\" role=\"alert\">{}</p>",
                html_escape(e)
            ));
        }
        h.push_str(&format!(
            "<form class=\"paymentWidgets\" method=\"POST\" action=\"{}\">",
            html_escape(&self.submit_url)
        ));
        h.push_str(&hidden("shopperResultUrl", self.shopper_result_url));
        h.push_str(&hidden("brands", &self.brands.join(" ")));
        if !self.saved.is_empty() {
            h.push_str("<fieldset><legend>Saved cards</legend>");
            for (i, (id, label)) in self.saved.iter().enumerate() {
                let checked = if i == 0 { " checked" } else { "" };
                h.push_str(&format!(
                    "<label><input type=\"radio\" name=\"registrationId\" value=\"{}\"{checked}> {}</label><br>",
                    html_escape(id),
                    html_escape(label)
                ));
            }
            h.push_str("<label><input type=\"radio\" name=\"registrationId\" value=\"\"> New card</label></fieldset>");
        }
        h.push_str("<label>Brand <select name=\"paymentBrand\">");
        for b in &self.brands {
            let b = html_escape(b);
            h.push_str(&format!("<option value=\"{b}\">{b}</option>"));
        }
        h.push_str("</select></label><br>");
        for (label, name) in FIELDS {
            h.push_str(&format!(
                "<label>{label} <input name=\"{name}\"></label><br>"
            ));
        }
        h.push_str("<button type=\"submit\">Pay now</button></form>");
        page("Payment (simulated OPPWA)", &h)
    }
}

const FIELDS: [(&str, &str); 5] = [
    ("Card holder", "card.holder"),
    ("Card number", "card.number"),
    ("Expiry month (MM)", "card.expiryMonth"),
    ("Expiry year (YYYY)", "card.expiryYear"),
    ("CVV", "card.cvv"),
];

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        html_escape(value)
    )
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

/// `GET /v1/checkouts/{id}/form?shopperResultUrl=…[&brands=VISA MASTER]`.
pub(crate) async fn hosted_form(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let p = Params::from_query(q.as_deref());
    let saved = sim.with_state(|st, _| st.checkouts.get(&id).map(|co| saved_cards(st, co)));
    let Some(saved) = saved else {
        return html(
            StatusCode::NOT_FOUND,
            page("Payment", "<p>Unknown checkout.</p>"),
        );
    };
    let form = CardForm {
        submit_url: format!("{}/v1/checkouts/{id}/submit", sim.config().public_base_url),
        shopper_result_url: p.get("shopperResultUrl").unwrap_or(""),
        brands: pick_brands(p.get("brands")),
        saved,
        error: None,
    };
    html(StatusCode::OK, form.page())
}

/// The widget script of one checkout; deterministic so its SRI hash is stable.
pub(crate) fn script_for(base: &str, checkout_id: &str, saved: &[(String, String)]) -> String {
    let saved: Vec<_> = saved
        .iter()
        .map(|(id, label)| json!({"id": id, "label": label}))
        .collect();
    let cfg = json!({
        "submitUrl": format!("{base}/v1/checkouts/{checkout_id}/submit"),
        "brands": card_brands(),
        "saved": saved,
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
  function field(label, name) { return '<label>' + label + ' <input name="' + name + '"></label><br>'; }
  function render(form) {
    var action = form.getAttribute('action') || '';
    var want = (form.getAttribute('data-brands') || '').split(/\s+/).filter(function (b) { return b; });
    var brands = cfg.brands.filter(function (b) { return want.length === 0 || want.indexOf(b) >= 0; });
    if (brands.length === 0) { brands = cfg.brands; }
    var h = hidden('shopperResultUrl', action) + hidden('brands', brands.join(' '));
    if (cfg.saved.length) {
      h += '<fieldset><legend>Saved cards</legend>';
      cfg.saved.forEach(function (s, i) {
        h += '<label><input type="radio" name="registrationId" value="' + esc(s.id) + '"' + (i === 0 ? ' checked' : '') + '> ' + esc(s.label) + '</label><br>';
      });
      h += '<label><input type="radio" name="registrationId" value=""> New card</label></fieldset>';
    }
    h += '<label>Brand <select name="paymentBrand">' + brands.map(function (b) {
      return '<option value="' + esc(b) + '">' + esc(b) + '</option>';
    }).join('') + '</select></label><br>';
    h += field('Card holder', 'card.holder') + field('Card number', 'card.number') +
      field('Expiry month (MM)', 'card.expiryMonth') + field('Expiry year (YYYY)', 'card.expiryYear') +
      field('CVV', 'card.cvv') + '<button type="submit">Pay now</button>';
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
