//! Webhook encryption (§6.3): AES-256-GCM, hex key, 12-byte IV, no AAD, detached 16-byte tag.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

const TAG_LEN: usize = 16;

/// One encrypted notification as sent on the wire: body, `X-Initialization-Vector`, `X-Authentication-Tag`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedNotification {
    /// Uppercase hex of the ciphertext, without the tag.
    pub body_hex: String,
    /// Uppercase hex of the 12-byte IV.
    pub iv_hex: String,
    /// Uppercase hex of the 16-byte GCM tag.
    pub tag_hex: String,
}

/// Encrypts `plaintext` with the 64-hex-character `secret_hex`; `iv = None` draws a random IV.
pub fn encrypt_notification(
    secret_hex: &str,
    plaintext: &[u8],
    iv: Option<[u8; 12]>,
) -> Result<EncryptedNotification, String> {
    let key =
        hex::decode(secret_hex.trim()).map_err(|e| format!("webhook secret is not hex: {e}"))?;
    if key.len() != 32 {
        return Err(format!(
            "webhook secret must be 32 bytes (64 hex characters), got {} bytes",
            key.len()
        ));
    }
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|e| format!("bad key: {e}"))?;
    let iv = iv.unwrap_or_else(|| {
        let mut b = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut b);
        b
    });
    let sealed = cipher
        .encrypt(&Nonce::from(iv), plaintext)
        .map_err(|e| format!("encryption failed: {e}"))?;
    // aes-gcm appends the tag; OPPWA sends it in a header instead.
    let split = sealed.len().saturating_sub(TAG_LEN);
    let (body, tag) = sealed.split_at(split);
    Ok(EncryptedNotification {
        body_hex: hex::encode_upper(body),
        iv_hex: hex::encode_upper(iv),
        tag_hex: hex::encode_upper(tag),
    })
}
