//! What the simulated widget says to a shopper (English and German, like the real widget's
//! `locale` option) and how it reads a card: the brand from the number's prefix, and errors in
//! words a shopper understands instead of parameter names.

use crate::domain::Lang;

/// Form labels and messages in one language.
pub(crate) struct Words {
    pub title: &'static str,
    pub amount: &'static str,
    pub brand: &'static str,
    pub detect: &'static str,
    pub holder: &'static str,
    pub number: &'static str,
    pub month: &'static str,
    pub year: &'static str,
    pub cvv: &'static str,
    pub pay: &'static str,
    pub saved: &'static str,
    pub new_card: &'static str,
    pub back: &'static str,
    pub bad_number: &'static str,
    pub bad_expiry: &'static str,
    pub card_expired: &'static str,
    pub bad_cvv: &'static str,
    pub bad_holder: &'static str,
    pub brand_mismatch: &'static str,
    pub brand_unknown: &'static str,
    pub brand_refused: &'static str,
    pub incomplete: &'static str,
    pub session_gone: &'static str,
    pub acs_title: &'static str,
    pub acs_text: &'static str,
    pub acs_ok: &'static str,
    pub acs_fail: &'static str,
    pub acs_cancel: &'static str,
    pub acs_error: &'static str,
}

static EN: Words = Words {
    title: "Card payment",
    amount: "Amount",
    brand: "Card brand",
    detect: "Detect from card number",
    holder: "Cardholder name",
    number: "Card number",
    month: "Expiry month (MM)",
    year: "Expiry year (YYYY)",
    cvv: "Security code (CVV)",
    pay: "Pay now",
    saved: "Saved cards",
    new_card: "New card",
    back: "Back to the shop's payment page",
    bad_number: "The card number is not valid. Please check it and try again.",
    bad_expiry: "The expiry date is not valid. Please enter the month as MM and the year as YYYY.",
    card_expired: "This card has expired. Please use another card.",
    bad_cvv: "The security code must have 3 or 4 digits.",
    bad_holder: "The cardholder name is too long.",
    brand_mismatch: "The card number does not belong to the selected card brand.",
    brand_unknown: "The card brand could not be recognised from the number. Please choose it.",
    brand_refused: "This card brand is not accepted here. Please use another card.",
    incomplete: "The payment form is incomplete. Please return to the shop and start again.",
    session_gone: "This payment session has ended. Please return to the shop and start again.",
    acs_title: "3-D Secure verification",
    acs_text: "Your bank asks you to confirm this payment (simulated issuer page).",
    acs_ok: "Confirm payment",
    acs_fail: "Fail verification",
    acs_cancel: "Cancel",
    acs_error: "Simulate a technical error",
};

static DE: Words = Words {
    title: "Kartenzahlung",
    amount: "Betrag",
    brand: "Kartenmarke",
    detect: "Aus der Kartennummer erkennen",
    holder: "Name des Karteninhabers",
    number: "Kartennummer",
    month: "Ablaufmonat (MM)",
    year: "Ablaufjahr (JJJJ)",
    cvv: "Prüfnummer (CVV)",
    pay: "Jetzt bezahlen",
    saved: "Gespeicherte Karten",
    new_card: "Neue Karte",
    back: "Zurück zur Zahlungsseite des Shops",
    bad_number: "Die Kartennummer ist ungültig. Bitte prüfen Sie sie und versuchen Sie es erneut.",
    bad_expiry: "Das Ablaufdatum ist ungültig. Bitte geben Sie den Monat als MM und das Jahr als JJJJ ein.",
    card_expired: "Diese Karte ist abgelaufen. Bitte verwenden Sie eine andere Karte.",
    bad_cvv: "Die Prüfnummer muss 3 oder 4 Ziffern haben.",
    bad_holder: "Der Name des Karteninhabers ist zu lang.",
    brand_mismatch: "Die Kartennummer gehört nicht zur gewählten Kartenmarke.",
    brand_unknown: "Die Kartenmarke ist an der Nummer nicht zu erkennen. Bitte wählen Sie sie aus.",
    brand_refused: "Diese Kartenmarke wird hier nicht akzeptiert. Bitte verwenden Sie eine andere Karte.",
    incomplete: "Das Zahlungsformular ist unvollständig. Bitte kehren Sie zum Shop zurück und beginnen Sie erneut.",
    session_gone: "Diese Zahlungssitzung ist beendet. Bitte kehren Sie zum Shop zurück und beginnen Sie erneut.",
    acs_title: "3-D-Secure-Bestätigung",
    acs_text: "Ihre Bank bittet Sie, diese Zahlung zu bestätigen (simulierte Bankseite).",
    acs_ok: "Zahlung bestätigen",
    acs_fail: "Bestätigung fehlschlagen lassen",
    acs_cancel: "Abbrechen",
    acs_error: "Technischen Fehler simulieren",
};

pub(crate) fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
    }
}

/// The card brand a number belongs to, by the schemes' published prefix ranges; `None` when
/// no scheme the simulator offers claims it.
pub(crate) fn detect_brand(number: &str) -> Option<&'static str> {
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix = |n: usize| number.get(..n).and_then(|p| p.parse::<u32>().ok());
    let in_range = |n: usize, lo: u32, hi: u32| prefix(n).is_some_and(|p| (lo..=hi).contains(&p));
    if in_range(2, 34, 34) || in_range(2, 37, 37) {
        Some("AMEX")
    } else if in_range(4, 3528, 3589) {
        Some("JCB")
    } else if in_range(3, 300, 305) || in_range(2, 36, 36) || in_range(2, 38, 39) {
        Some("DINERS")
    } else if in_range(4, 6011, 6011) || in_range(3, 644, 649) || in_range(2, 65, 65) {
        Some("DISCOVER")
    } else if in_range(2, 62, 62) {
        Some("UNIONPAY")
    } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
        Some("MASTER")
    } else if in_range(2, 50, 50)
        || in_range(2, 56, 58)
        || in_range(2, 63, 63)
        || in_range(2, 67, 67)
    {
        Some("MAESTRO")
    } else if number.starts_with('4') {
        Some("VISA")
    } else {
        None
    }
}

/// The shopper's message for a rejected card parameter (`card.number`, …).
pub(crate) fn message_for(w: &Words, param: &str, message: &str) -> &'static str {
    match param {
        "card.number" => w.bad_number,
        "card.expiryMonth" | "card.expiryYear" if message.contains("expired") => w.card_expired,
        "card.expiryMonth" | "card.expiryYear" => w.bad_expiry,
        "card.cvv" => w.bad_cvv,
        "card.holder" => w.bad_holder,
        "paymentBrand" => w.brand_refused,
        _ => w.incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_test_cards_brands() {
        for (n, b) in [
            ("4200000000000000", "VISA"),
            ("4711100000000000", "VISA"),
            ("5454545454545454", "MASTER"),
            ("5212345678901234", "MASTER"),
            ("2221000000000009", "MASTER"),
            ("377777777777770", "AMEX"),
            ("375987000000005", "AMEX"),
            ("3530111333300000", "JCB"),
            ("30569309025904", "DINERS"),
            ("6011111111111117", "DISCOVER"),
            ("6200000000000005", "UNIONPAY"),
            ("6759649826438453", "MAESTRO"),
        ] {
            assert_eq!(detect_brand(n), Some(b), "{n}");
        }
        assert_eq!(detect_brand("9999999999999995"), None);
        assert_eq!(detect_brand("42x0"), None);
    }

    #[test]
    fn messages_speak_the_shoppers_language() {
        assert!(message_for(words(Lang::De), "card.number", "").contains("Kartennummer"));
        assert!(
            message_for(words(Lang::En), "card.expiryYear", "card expired").contains("expired")
        );
        assert!(!message_for(words(Lang::En), "card.number", "").contains("card.number"));
    }
}
