//! The shopper's language and how shoppers of it write an amount: shared by the checkout page
//! and the simulators' pages, so neither imports the other.

use super::Money;

/// The languages the shopper-facing pages speak (ours and the simulators'). Anything else falls back to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    De,
}

impl Lang {
    /// From a language tag as Billwerk sends it in `payerData.language` (`de`, `DE`, `de-AT`,
    /// `de_CH`); unknown, missing or malformed tags give English.
    pub fn from_tag(tag: Option<&str>) -> Self {
        let primary = tag
            .unwrap_or("")
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "de" => Self::De,
            _ => Self::En,
        }
    }

    /// The BCP 47 tag for `<html lang>` and the PSP widget's locale.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }
}

/// An amount as shoppers of `lang` write it: `€1,234,567.50` (English) or `1.234.567,50 €`
/// (German), with the currency's minor digits (ISO 4217). Only EUR, GBP, USD and JPY are shown
/// by symbol; other currencies show their code (`CHF 12.00`, `12,00 CHF`).
pub fn format_amount(m: &Money, lang: Lang) -> String {
    let fixed = m.fixed();
    let (int, frac) = match fixed.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (fixed.as_str(), None),
    };
    let (group, decimal) = match lang {
        Lang::En => (',', '.'),
        Lang::De => ('.', ','),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let number = match frac {
        Some(f) => format!("{grouped}{decimal}{f}"),
        None => grouped,
    };
    let code = m.currency.code();
    // Only unambiguous symbols; the rest (CHF, SEK, CAD, …) are clearer as their code.
    let symbol = match code {
        "EUR" => "€",
        "GBP" => "£",
        "USD" => "$",
        "JPY" => "¥",
        other => other,
    };
    let spaced = symbol == code;
    match (lang, spaced) {
        (Lang::En, false) => format!("{symbol}{number}"),
        (Lang::En, true) => format!("{symbol}\u{a0}{number}"),
        (Lang::De, _) => format!("{number}\u{a0}{symbol}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn money(a: &str, c: &str) -> Money {
        Money::new(
            a.parse().expect("decimal"),
            Currency::parse(c).expect("currency"),
            true,
        )
        .expect("money")
    }

    #[test]
    fn formats_amounts_per_locale() {
        let m = money("1234567.5", "EUR");
        assert_eq!(format_amount(&m, Lang::En), "€1,234,567.50");
        assert_eq!(format_amount(&m, Lang::De), "1.234.567,50\u{a0}€");
        assert_eq!(format_amount(&money("300", "EUR"), Lang::En), "€300.00");
        assert_eq!(format_amount(&money("0", "EUR"), Lang::De), "0,00\u{a0}€");
        assert_eq!(format_amount(&money("1000", "JPY"), Lang::En), "¥1,000");
        assert_eq!(
            format_amount(&money("12", "CHF"), Lang::En),
            "CHF\u{a0}12.00"
        );
        assert_eq!(
            format_amount(&money("12", "CHF"), Lang::De),
            "12,00\u{a0}CHF"
        );
        assert_eq!(format_amount(&money("999.99", "USD"), Lang::En), "$999.99");
    }

    #[test]
    fn language_from_tag_falls_back_to_english() {
        assert_eq!(Lang::from_tag(Some("DE")), Lang::De);
        assert_eq!(Lang::from_tag(Some("de-AT")), Lang::De);
        assert_eq!(Lang::from_tag(Some("de_CH")), Lang::De);
        assert_eq!(Lang::from_tag(Some("fr")), Lang::En);
        assert_eq!(Lang::from_tag(Some("\"><script>")), Lang::En);
        assert_eq!(Lang::from_tag(None), Lang::En);
    }
}
