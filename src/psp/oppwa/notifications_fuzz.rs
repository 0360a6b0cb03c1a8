//! Bounded fuzzing of notification decryption and parsing: whatever arrives — random bytes,
//! random headers, or authentic ciphertext of random JSON — is either an event or a refusal,
//! never a panic.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::notifications::{decode, decrypt};

const SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Encrypts like OPPWA: hex ciphertext, hex IV, hex tag.
fn seal(plain: &[u8], iv: [u8; 12]) -> (String, String, String) {
    let key: [u8; 32] = hex::decode(SECRET)
        .ok()
        .and_then(|k| k.try_into().ok())
        .expect("32-byte key");
    let mut out = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))
        .encrypt(&Nonce::from(iv), plain)
        .expect("encrypts");
    let tag = out.split_off(out.len() - 16);
    (hex::encode(out), hex::encode(iv), hex::encode(tag))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(vec![
            "PAYMENT",
            "REGISTRATION",
            "TEST",
            "DELETED",
            "PA",
            "DB",
            "CB"
        ])
        .prop_map(|s| json!(s)),
        "[0-9]{3}\\.[0-9]{3}\\.[0-9]{3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        let keys = prop_oneof![
            prop::sample::select(vec![
                "type",
                "action",
                "payload",
                "id",
                "result",
                "code",
                "paymentType",
                "amount",
                "currency",
                "merchantTransactionId",
                "referencedId",
                "registrationId",
                "chargeback",
                "resultDetails",
            ])
            .prop_map(str::to_string),
            ".{0,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    // Failing cases are kept beside this file (`<file>.regressions`), not in a top-level folder.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn fuzz_forged_notifications_are_refused(
        body in prop::collection::vec(any::<u8>(), 0..200),
        iv in ".{0,30}",
        tag in ".{0,40}",
    ) {
        prop_assert!(decrypt(SECRET, &iv, &tag, &body).is_err());
        let hex_body = hex::encode(&body);
        prop_assert!(decrypt(SECRET, "000000000000000000000000", &"0".repeat(32), hex_body.as_bytes()).is_err());
        let _ = decode(&body);
    }

    #[test]
    fn fuzz_authentic_notifications_decode_or_refuse(v in json_value(), iv in any::<[u8; 12]>(), wrap in any::<bool>()) {
        let plain = serde_json::to_vec(&v).expect("json");
        let (ct, iv_hex, tag_hex) = seal(&plain, iv);
        let body = if wrap { json!({"encryptedBody": ct}).to_string() } else { ct };
        let opened = decrypt(SECRET, &iv_hex, &tag_hex, body.as_bytes());
        prop_assert_eq!(opened.as_deref().ok(), Some(plain.as_slice()));
        let _ = decode(&plain);
    }

    #[test]
    fn fuzz_payment_payloads(payload in json_value(), kind in prop::sample::select(vec!["PAYMENT", "payment", "REGISTRATION"])) {
        let plain = serde_json::to_vec(&json!({"type": kind, "action": "DELETED", "payload": payload})).expect("json");
        let _ = decode(&plain);
    }
}
