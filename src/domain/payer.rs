//! The payer of a transaction and the text lengths a PSP takes, in PSP-neutral terms: the
//! contract's `payerData` is checked into a [`Payer`], and each PSP family states its
//! [`TextLimits`] in its adapter's capabilities.

/// The payer as far as a PSP needs it. Address fields are often missing (contract §7.3).
#[derive(Debug, Clone, Default)]
pub struct Payer {
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub company: Option<String>,
    pub email: Option<String>,
    /// Street and house number as one line.
    pub street: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    /// ISO 3166 alpha-2, upper case.
    pub country: Option<String>,
    /// ISO 639-1, lower case.
    pub language: Option<String>,
    pub customer_id: Option<String>,
}

/// Longest texts a PSP accepts, in characters (Unicode scalar values); longer input is refused
/// with 422 naming the field before anything is stored or sent (never cut short).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// The statement descriptor / reference text.
    pub descriptor: usize,
    /// The account holder of a bank account.
    pub holder: usize,
    /// Given name and surname, each.
    pub name: usize,
    /// Street and house number as one line.
    pub street: usize,
    pub city: usize,
    pub postcode: usize,
    pub email: usize,
    pub company: usize,
}
