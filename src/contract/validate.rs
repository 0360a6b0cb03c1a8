//! Shared checks for request values: absolute URLs, IBANs, and the shapes `commands` builds.

use url::Url;

use super::error::ApiError;

/// An absolute http(s) URL with a host, written out as `http://` or `https://` (the scheme in
/// any case): the lenient forms a URL parser also reads (`http:host`, `http:\\host`) are refused.
pub fn parse_absolute(field: &str, v: &str) -> Result<Url, ApiError> {
    let written_out = ["http://", "https://"].iter().any(|p| {
        v.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    });
    if !written_out {
        return Err(ApiError::invalid(
            field,
            "must be an absolute http(s) URL such as https://host/path",
        ));
    }
    let url = Url::parse(v).map_err(|_| ApiError::invalid(field, "must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ApiError::invalid(field, "must be an absolute http(s) URL"));
    }
    Ok(url)
}

/// The three return URLs of `paymentMeansReference` (all optional, contract §7.1).
#[derive(Debug, Clone, Default)]
pub struct ReturnUrls {
    pub success: Option<Url>,
    pub error: Option<Url>,
    pub abort: Option<Url>,
}

/// A SEPA account from `initialBearer {Holder, IBAN[, BIC]}` (keys in any case).
#[derive(Clone)]
pub struct SepaAccount {
    pub holder: String,
    pub iban: String,
    pub bic: Option<String>,
}

/// ISO 13616 in electronic form (upper case, no spaces): the mod-97 check and, for the
/// countries in SWIFT's IBAN registry, the country's length and BBAN format (`iban_validate`).
pub fn iban_is_valid(iban: &str) -> bool {
    iban.parse::<iban::Iban>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_checksum() {
        assert!(iban_is_valid("DE89370400440532013000"));
        assert!(iban_is_valid("GB33BUKB20201555555555"));
        assert!(!iban_is_valid("DE89370400440532013001"));
        assert!(!iban_is_valid("DE8937"));
    }
}
