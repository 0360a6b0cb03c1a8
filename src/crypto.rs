//! Sealed secrets: merchant PSP settings are encrypted at rest with AES-256-GCM under the master
//! key; Integrator API tokens are stored only as SHA-256 hashes and compared in constant time;
//! each merchant's notification URL carries a token derived from the master key (HMAC-SHA256).

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Format of the first sealed blobs: `[1] ++ nonce(12) ++ ciphertext+tag` (no key id).
const V1: u8 = 1;
/// Current format: `[2] ++ key id(4) ++ nonce(12) ++ ciphertext+tag`.
const V2: u8 = 2;
const KEY_ID_LEN: usize = 4;

/// Length of a notification URL token, in hex characters (the first 128 bits of the HMAC).
pub const NOTIFICATION_TOKEN_LEN: usize = 32;

/// The label the notification URL key is derived under (never used for anything else).
const URL_KEY_LABEL: &[u8] = b"psp-integrator notification url key v1";

type HmacSha256 = Hmac<Sha256>;

/// One master key, its id (the first 4 bytes of a SHA-256 over a label and the key) and the
/// key its notification URL tokens are made with (HMAC-SHA256 of a label under the master key,
/// so a token reveals nothing about the key that seals the settings).
struct SealKey {
    id: [u8; KEY_ID_LEN],
    key: SecretBox<[u8; 32]>,
    url_key: SecretBox<[u8; 32]>,
}

impl SealKey {
    fn from_hex(hex_key: &str) -> Result<Self, SealError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| SealError::BadKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        let digest = Sha256::new()
            .chain_update(b"psp-integrator master key id\0")
            .chain_update(arr)
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let url_key: [u8; 32] = hmac_sha256(&arr, URL_KEY_LABEL);
        Ok(Self {
            id,
            key: SecretBox::new(Box::new(arr)),
            url_key: SecretBox::new(Box::new(url_key)),
        })
    }

    /// The full notification URL token of `merchant_id` under this key, as hex.
    fn notification_token(&self, merchant_id: &str) -> String {
        let mac = hmac_sha256(self.url_key.expose_secret(), merchant_id.as_bytes());
        let mut token = hex::encode(mac);
        token.truncate(NOTIFICATION_TOKEN_LEN);
        token
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.key.expose_secret()))
    }

    fn open(&self, nonce: &[u8], ct: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError::Open)?;
        self.cipher()
            .decrypt(&Nonce::from(nonce), ct)
            .map_err(|_| SealError::Open)
    }
}

/// HMAC-SHA256 of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The master key ring. Encrypts and decrypts settings blobs: seals under the current master
/// key, opens under the current key or any previous one (master key rotation:
/// `security.previous_master_keys`). Makes and checks the merchants' notification URL tokens
/// the same way: made under the current key, accepted under any key of the ring.
pub struct Sealer {
    /// The current key first.
    keys: Vec<SealKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(key id {})", self.key_id())
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
        Ok(Self {
            keys: vec![SealKey::from_hex(hex_key)?],
        })
    }

    /// The current key plus previous keys that are still accepted for opening.
    pub fn with_previous<S: AsRef<str>>(current: &str, previous: &[S]) -> Result<Self, SealError> {
        let mut keys = vec![SealKey::from_hex(current)?];
        for p in previous {
            keys.push(SealKey::from_hex(p.as_ref())?);
        }
        Ok(Self { keys })
    }

    /// The current key's id (8 hex characters); safe to print.
    pub fn key_id(&self) -> String {
        self.keys
            .first()
            .map(|k| hex::encode(k.id))
            .unwrap_or_default()
    }

    /// The id of the key a blob was sealed under, or `None` for the first format (no id).
    pub fn sealed_key_id(sealed: &[u8]) -> Option<String> {
        match sealed.first() {
            Some(&V2) if sealed.len() > 1 + KEY_ID_LEN => {
                Some(hex::encode(&sealed[1..1 + KEY_ID_LEN]))
            }
            _ => None,
        }
    }

    /// True when `sealed` is not under the current key (it should be re-sealed).
    pub fn needs_reseal(&self, sealed: &[u8]) -> bool {
        Self::sealed_key_id(sealed).as_deref() != Some(self.key_id().as_str())
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let key = self.keys.first().ok_or(SealError::Seal)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = key
            .cipher()
            .encrypt(&nonce, plaintext)
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + nonce.len() + ct.len());
        out.push(V2);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        match sealed.first() {
            Some(&V2) if sealed.len() >= 1 + KEY_ID_LEN + 12 + 16 => {
                let id = &sealed[1..1 + KEY_ID_LEN];
                let body = &sealed[1 + KEY_ID_LEN..];
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.id == id)
                    .ok_or(SealError::Open)?;
                key.open(&body[..12], &body[12..])
            }
            Some(&V1) if sealed.len() >= 1 + 12 + 16 => self
                .keys
                .iter()
                .find_map(|k| k.open(&sealed[1..13], &sealed[13..]).ok())
                .ok_or(SealError::Open),
            _ => Err(SealError::Open),
        }
    }

    /// Opens `sealed` under any accepted key and seals it again under the current one.
    pub fn reseal(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        self.seal(&self.open(sealed)?)
    }
}

impl Sealer {
    /// The token in `merchant_id`'s notification URL: the first [`NOTIFICATION_TOKEN_LEN`] hex
    /// characters of HMAC-SHA256 over the merchant id, under a key derived from the current
    /// master key. Unguessable without the master key; the same on every replica.
    pub fn notification_token(&self, merchant_id: &str) -> String {
        self.keys
            .first()
            .map(|k| k.notification_token(merchant_id))
            .unwrap_or_default()
    }

    /// Whether `token` is `merchant_id`'s notification URL token under the current master key
    /// or a previous one (so the URLs registered at a PSP before a rotation keep working while
    /// the old key is listed). Compared in constant time; every key is tried.
    pub fn accepts_notification_token(&self, merchant_id: &str, token: &str) -> bool {
        if token.len() != NOTIFICATION_TOKEN_LEN {
            return false;
        }
        let given = token.to_ascii_lowercase();
        self.keys.iter().fold(false, |found, k| {
            let want = k.notification_token(merchant_id);
            found | bool::from(want.as_bytes().ct_eq(given.as_bytes()))
        })
    }
}

/// A new random master key: 64 hex characters (32 bytes).
pub fn new_master_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
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

    const NEW: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";

    #[test]
    fn rotation_accepts_both_keys_and_reseals_under_the_new_one() {
        let old = Sealer::from_hex(KEY).expect("old");
        let sealed_old = old.seal(b"settings").expect("seal");
        assert_eq!(Sealer::sealed_key_id(&sealed_old), Some(old.key_id()));
        let rollout = Sealer::with_previous(NEW, &[KEY]).expect("both");
        assert_ne!(rollout.key_id(), old.key_id());
        assert_eq!(
            rollout.open(&sealed_old).expect("old blob opens"),
            b"settings"
        );
        assert!(rollout.needs_reseal(&sealed_old));
        let resealed = rollout.reseal(&sealed_old).expect("reseal");
        assert!(!rollout.needs_reseal(&resealed));
        let new_only = Sealer::from_hex(NEW).expect("new");
        assert_eq!(
            new_only.open(&resealed).expect("new key alone"),
            b"settings"
        );
        assert_eq!(new_only.open(&sealed_old), Err(SealError::Open));
        assert_eq!(old.open(&resealed), Err(SealError::Open));
    }

    #[test]
    fn first_format_blobs_without_a_key_id_still_open() {
        let key = SealKey::from_hex(KEY).expect("key");
        let nonce = [7u8; 12];
        let ct = key
            .cipher()
            .encrypt(&Nonce::from(nonce), b"legacy".as_ref())
            .expect("encrypt");
        let mut v1 = vec![V1];
        v1.extend_from_slice(&nonce);
        v1.extend_from_slice(&ct);
        let s = Sealer::with_previous(NEW, &[KEY]).expect("keys");
        assert_eq!(Sealer::sealed_key_id(&v1), None);
        assert!(s.needs_reseal(&v1));
        assert_eq!(
            s.open(&v1).expect("v1 opens under a previous key"),
            b"legacy"
        );
    }

    #[test]
    fn notification_tokens_are_per_merchant_and_survive_a_rotation() {
        let old = Sealer::from_hex(KEY).expect("old");
        let t = old.notification_token("m1");
        assert_eq!(t.len(), NOTIFICATION_TOKEN_LEN);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(t, old.notification_token("m1"), "deterministic");
        assert_ne!(t, old.notification_token("m2"), "per merchant");
        assert!(old.accepts_notification_token("m1", &t));
        assert!(old.accepts_notification_token("m1", &t.to_ascii_uppercase()));
        assert!(!old.accepts_notification_token("m2", &t));
        assert!(!old.accepts_notification_token("m1", &t[..31]));
        assert!(!old.accepts_notification_token("m1", ""));
        let rollout = Sealer::with_previous(NEW, &[KEY]).expect("both");
        let fresh = rollout.notification_token("m1");
        assert_ne!(fresh, t, "made under the new key");
        assert!(
            rollout.accepts_notification_token("m1", &t),
            "old URL still works"
        );
        assert!(rollout.accepts_notification_token("m1", &fresh));
        let new_only = Sealer::from_hex(NEW).expect("new");
        assert!(
            !new_only.accepts_notification_token("m1", &t),
            "old key dropped"
        );
    }

    #[test]
    fn notification_token_matches_a_known_answer() {
        // HMAC-SHA256(HMAC-SHA256(key, label), "m1"), computed with Python's hmac module, so
        // a change of the derivation (which would break every registered URL) is seen.
        let s = Sealer::from_hex(KEY).expect("key");
        assert_eq!(
            s.notification_token("m1"),
            "9b1ad6435b82e1ce98e1fe55a05de32e"
        );
    }

    #[test]
    fn tokens_hash_and_compare() {
        let t = new_token();
        assert!(t.starts_with("pspi_") && t.len() == 69);
        assert!(hashes_equal(&hash_token(&t), &hash_token(&t)));
        assert!(!hashes_equal(&hash_token(&t), &hash_token("other")));
    }
}
