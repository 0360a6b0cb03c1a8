//! Sealed secrets: merchant PSP settings are encrypted at rest with AES-256-GCM under the master
//! key; Integrator API tokens are stored only as SHA-256 hashes and compared in constant time.

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Format version of a sealed blob: `[1] ++ nonce(12) ++ ciphertext+tag`.
const VERSION: u8 = 1;

/// Encrypts and decrypts settings blobs.
pub struct Sealer {
    key: SecretBox<[u8; 32]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("master key must be 64 hex characters (32 bytes)")]
    BadKey,
    #[error("sealed data is corrupt or was sealed under another master key")]
    Open,
    #[error("encryption failed")]
    Seal,
}

impl Sealer {
    /// From a 64-hex-character master key.
    pub fn from_hex(hex_key: &str) -> Result<Self, SealError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SealError::BadKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self {
            key: SecretBox::new(Box::new(arr)),
        })
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.key.expose_secret()))
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .cipher()
            .encrypt(&nonce, plaintext)
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(1 + nonce.len() + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + 12 + 16 || sealed[0] != VERSION {
            return Err(SealError::Open);
        }
        let nonce: [u8; 12] = sealed[1..13].try_into().map_err(|_| SealError::Open)?;
        self.cipher()
            .decrypt(&Nonce::from(nonce), &sealed[13..])
            .map_err(|_| SealError::Open)
    }
}

/// A new Integrator API token: 32 random bytes, URL-safe, with a recognizable prefix.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("pspi_{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f";

    #[test]
    fn seal_round_trip_and_tamper() {
        let s = Sealer::from_hex(KEY).expect("key");
        let sealed = s.seal(b"secret-token").expect("seal");
        assert!(!sealed.windows(12).any(|w| w == b"secret-token"));
        assert_eq!(s.open(&sealed).expect("open"), b"secret-token");
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(s.open(&bad), Err(SealError::Open));
        assert_eq!(Sealer::from_hex("abcd").err(), Some(SealError::BadKey));
    }

    #[test]
    fn tokens_hash_and_compare() {
        let t = new_token();
        assert!(t.starts_with("pspi_") && t.len() == 69);
        assert!(hashes_equal(&hash_token(&t), &hash_token(&t)));
        assert!(!hashes_equal(&hash_token(&t), &hash_token("other")));
    }
}
