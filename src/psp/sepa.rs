//! What every PSP family shows Billwerk of a SEPA mandate: the bearer of a `Debit` agreement
//! (contract §7.2: `Holder`, the masked `IBAN`, `MandateId`, the PSP's own id) and the one way
//! an IBAN may appear outside the request that carried it (masked).

use crate::domain::Bearer;

/// The bearer of a SEPA mandate; the IBAN is masked. `registration_id` is the PSP's id of the
/// stored account (an OPPWA registration, a Mollie mandate).
pub fn sepa_bearer(holder: &str, iban: &str, mandate_id: &str, registration_id: &str) -> Bearer {
    Bearer::from([
        ("Holder".to_string(), holder.trim().to_string()),
        ("IBAN".to_string(), mask_iban(iban)),
        ("MandateId".to_string(), mandate_id.to_string()),
        ("RegistrationId".to_string(), registration_id.to_string()),
    ])
}

/// Keeps the first and last four characters; short values are masked completely.
pub fn mask_iban(iban: &str) -> String {
    let chars: Vec<char> = iban.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// An IBAN as PSPs take it: without spaces, upper case.
pub fn normalize_iban(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_ends() {
        assert_eq!(
            mask_iban("DE89370400440532013000"),
            "DE89**************3000"
        );
        assert_eq!(mask_iban("DE891234"), "********");
        assert_eq!(normalize_iban("de89 3704 0044"), "DE8937040044");
        let b = sepa_bearer(" JOHN ", "DE89370400440532013000", "M1", "mdt_1");
        assert_eq!(b.get("Holder").map(String::as_str), Some("JOHN"));
        assert!(!format!("{b:?}").contains("0532013"));
    }
}
