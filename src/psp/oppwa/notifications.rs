//! Inbound OPPWA notifications (spec §6): AES-256-GCM decryption with the merchant's webhook
//! secret — the GCM tag is the only proof of authenticity, so nothing is parsed before it
//! verifies — and translation of the decrypted event.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::response::{OppwaResponse, event_kind, payment_result};
use crate::domain::ChargebackReason;
use crate::psp::{ChargebackInfo, NotificationError, PaymentEvent, PspEvent, PspNotification};

fn unauthentic(msg: &str) -> NotificationError {
    NotificationError::Unauthentic(msg.to_string())
}

/// Decrypts a notification body (hex ciphertext, possibly wrapped as `{"encryptedBody": …}`).
pub fn decrypt(
    secret_hex: &str,
    iv_hex: &str,
    tag_hex: &str,
    body: &[u8],
) -> Result<Vec<u8>, NotificationError> {
    let key: [u8; 32] = hex::decode(secret_hex.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| unauthentic("webhook secret is not 64 hex characters"))?;
    let iv: [u8; 12] = hex::decode(iv_hex.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| unauthentic("X-Initialization-Vector is not 12 hex bytes"))?;
    let tag: [u8; 16] = hex::decode(tag_hex.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| unauthentic("X-Authentication-Tag is not 16 hex bytes"))?;
    let text = std::str::from_utf8(body).map_err(|_| unauthentic("body is not hex text"))?;
    let mut ct = hex::decode(body_hex(text)).map_err(|_| unauthentic("body is not hex"))?;
    ct.extend_from_slice(&tag);
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(key))
        .decrypt(&Nonce::from(iv), Payload { msg: &ct, aad: &[] })
        .map_err(|_| unauthentic("authentication tag does not match"))
}

/// The hex ciphertext, from the plain body or the JSON wrapper some set-ups use. A wrapper with
/// a property twice (also in another letter case) is ambiguous and left as it is, which is not
/// hex and so refused.
fn body_hex(text: &str) -> String {
    let t = text.trim();
    if t.starts_with('{')
        && let Ok(m) = crate::contract::wire::parse_object(t.as_bytes())
        && let Some(Value::String(s)) = m.get("encryptedBody")
    {
        return s.trim().to_string();
    }
    t.to_string()
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    payload: Value,
}

/// Translates a decrypted notification.
pub fn decode(plaintext: &[u8]) -> Result<PspNotification, NotificationError> {
    let env: Envelope = serde_json::from_slice(plaintext)
        .map_err(|e| NotificationError::Malformed(format!("not an OPPWA notification: {e}")))?;
    let kind = env.kind.to_ascii_uppercase();
    let action = env.action.clone().unwrap_or_default().to_ascii_uppercase();
    let id = env
        .payload
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let code = env
        .payload
        .pointer("/result/code")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // The full identity of the event: the same id and code with another type, amount, currency
    // or reference is another event, and must not be mistaken for a redelivery.
    let identity = [
        "paymentType",
        "amount",
        "currency",
        "referencedId",
        "merchantTransactionId",
    ]
    .map(|k| env.payload.get(k).map(Value::to_string).unwrap_or_default())
    .join("\u{1f}");
    let dedupe_key = match &id {
        Some(id) => format!(
            "{kind}:{action}:{id}:{code}:{}",
            &hex::encode(Sha256::digest(identity.as_bytes()))[..32]
        ),
        None => format!(
            "{kind}:{action}:sha256:{}",
            hex::encode(Sha256::digest(plaintext))
        ),
    };
    let event = match (kind.as_str(), action.as_str()) {
        ("TEST", _) => PspEvent::Test,
        ("PAYMENT", _) => PspEvent::Payment(Box::new(payment_event(env.payload)?)),
        ("REGISTRATION", "DELETED") => PspEvent::CredentialRevoked {
            credential: id
                .ok_or_else(|| NotificationError::Malformed("registration without id".into()))?,
        },
        (k, a) => PspEvent::Ignored(format!("{k} {a}").trim().to_string()),
    };
    Ok(PspNotification { dedupe_key, event })
}

fn payment_event(payload: Value) -> Result<PaymentEvent, NotificationError> {
    let text = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let merchant_tx_id = text("merchantTransactionId");
    let referenced_id = text("referencedId");
    let ndc = text("ndc");
    let resp: OppwaResponse = serde_json::from_value(payload.clone())
        .map_err(|e| NotificationError::Malformed(format!("payment payload: {e}")))?;
    if resp.id.is_none() || resp.result.code.is_none() {
        return Err(NotificationError::Malformed(
            "payment payload without id or result code".into(),
        ));
    }
    let psp_type = resp
        .payment_type
        .clone()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let kind = event_kind(&psp_type);
    // A reversal, or a refund done for Billwerk's cancel, carries its preauth's reference with
    // our suffix (`super::cancel_reference`).
    let merchant_tx_id = match (&kind, merchant_tx_id) {
        (crate::psp::EventKind::Reversal | crate::psp::EventKind::Refund, Some(m)) => Some(
            m.strip_suffix(super::CANCEL_SUFFIX)
                .map(str::to_string)
                .unwrap_or(m),
        ),
        (_, m) => m,
    };
    let chargeback = matches!(
        kind,
        crate::psp::EventKind::Chargeback | crate::psp::EventKind::ChargebackReversal
    )
    .then(|| chargeback_info(&resp));
    Ok(PaymentEvent {
        kind,
        psp_type,
        merchant_tx_id,
        referenced_id,
        // COPYandPAY payments carry the checkout id as `ndc`; S2S ones `<entity>_<hex>`.
        checkout_id: ndc.filter(|n| !n.contains('_')),
        result: payment_result(&resp),
        chargeback,
    })
}

fn chargeback_info(resp: &OppwaResponse) -> ChargebackInfo {
    let reason_code = resp
        .result_detail("ReasonCode")
        .or_else(|| resp.result_detail("reasonCode"));
    ChargebackInfo {
        reason: reason_code
            .as_deref()
            .map_or(ChargebackReason::Unknown, sepa_return_reason),
        reason_code,
        reason_message: resp.result.description.clone(),
    }
}

/// SEPA return reason codes (ISO 20022) in the contract's chargeback vocabulary.
fn sepa_return_reason(code: &str) -> ChargebackReason {
    match code.trim().to_ascii_uppercase().as_str() {
        "AM04" => ChargebackReason::InsufficientBalance,
        "AC01" | "AC04" | "AC06" | "AC13" | "AG01" | "AG02" | "BE05" | "MD07" => {
            ChargebackReason::BearerInvalid
        }
        "MD06" | "MS02" => ChargebackReason::UserInitiated,
        "MD01" => ChargebackReason::Canceled,
        "RR01" | "RR02" | "RR03" | "RR04" | "SL01" | "FF01" => ChargebackReason::Rejected,
        _ => ChargebackReason::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::psp::Outcome;

    fn vectors() -> Vec<Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/oppwa/webhook-decryption-vectors.json"
        );
        let text = std::fs::read_to_string(path).expect("fixture");
        let v: Value = serde_json::from_str(&text).expect("json");
        v["vectors"].as_array().expect("vectors").clone()
    }

    #[test]
    fn documented_vectors_decrypt() {
        for v in vectors() {
            let s = |k: &str| v[k].as_str().expect("field").to_string();
            let plain = decrypt(
                &s("key_hex"),
                &s("x_initialization_vector"),
                &s("x_authentication_tag"),
                s("body_hex").as_bytes(),
            )
            .expect("decrypts");
            assert_eq!(
                String::from_utf8(plain).expect("utf8"),
                s("plaintext"),
                "vector {}",
                s("name")
            );
        }
    }

    #[test]
    fn tampered_body_tag_or_iv_is_rejected() {
        for v in vectors() {
            let s = |k: &str| v[k].as_str().expect("field").to_string();
            let flip = |h: String| {
                let mut b = hex::decode(&h).expect("hex");
                b[0] ^= 1;
                hex::encode(b)
            };
            let (k, iv, tag, body) = (
                s("key_hex"),
                s("x_initialization_vector"),
                s("x_authentication_tag"),
                s("body_hex"),
            );
            assert!(decrypt(&k, &iv, &tag, flip(body.clone()).as_bytes()).is_err());
            assert!(decrypt(&k, &iv, &flip(tag.clone()), body.as_bytes()).is_err());
            assert!(decrypt(&k, &flip(iv.clone()), &tag, body.as_bytes()).is_err());
            assert!(decrypt(&k, &iv, &tag, b"zz").is_err());
            assert!(decrypt(&k, "", &tag, body.as_bytes()).is_err());
        }
    }

    #[test]
    fn a_wrapper_with_the_body_twice_is_refused() {
        for v in vectors() {
            let s = |k: &str| v[k].as_str().expect("field").to_string();
            let (k, iv, tag, body) = (
                s("key_hex"),
                s("x_initialization_vector"),
                s("x_authentication_tag"),
                s("body_hex"),
            );
            let once = format!(r#"{{"encryptedBody": "{body}"}}"#);
            assert!(decrypt(&k, &iv, &tag, once.as_bytes()).is_ok());
            for twice in [
                format!(r#"{{"encryptedBody": "00", "encryptedBody": "{body}"}}"#),
                format!(r#"{{"encryptedBody": "{body}", "EncryptedBody": "00"}}"#),
            ] {
                assert!(decrypt(&k, &iv, &tag, twice.as_bytes()).is_err(), "{twice}");
            }
        }
    }

    #[test]
    fn payment_and_registration_events() {
        let n = decode(br#"{"type":"PAYMENT","payload":{"id":"8ac7a4a09136ba2801913706f2a221bf","paymentType":"DB","amount":"25.00","currency":"EUR","merchantTransactionId":"20261122-aaaaaaaaaaaaaaaaaaaaaaaa","result":{"code":"000.100.110","description":"ok"},"ndc":"E_1","unexpected":1}}"#).expect("decodes");
        assert!(
            n.dedupe_key
                .starts_with("PAYMENT::8ac7a4a09136ba2801913706f2a221bf:000.100.110:"),
            "{}",
            n.dedupe_key
        );
        // Another amount with the same id and code is another event.
        let other = decode(br#"{"type":"PAYMENT","payload":{"id":"8ac7a4a09136ba2801913706f2a221bf","paymentType":"DB","amount":"26.00","currency":"EUR","merchantTransactionId":"20261122-aaaaaaaaaaaaaaaaaaaaaaaa","result":{"code":"000.100.110","description":"ok"},"ndc":"E_1","unexpected":1}}"#).expect("decodes");
        assert_ne!(n.dedupe_key, other.dedupe_key);
        let PspEvent::Payment(p) = n.event else {
            panic!("payment")
        };
        assert_eq!(p.kind, crate::psp::EventKind::Debit);
        assert_eq!(p.result.outcome, Outcome::Succeeded);
        assert_eq!(p.checkout_id, None);
        let n = decode(br#"{"type":"REGISTRATION","action":"DELETED","payload":{"id":"r1"}}"#)
            .expect("decodes");
        assert_eq!(
            n.event,
            PspEvent::CredentialRevoked {
                credential: "r1".into()
            }
        );
        let n = decode(br#"{"type":"test","action":"webhook activation","payload":{"result":{"code":"000.100.110"}}}"#).expect("decodes");
        assert_eq!(n.event, PspEvent::Test);
        assert!(matches!(
            decode(b"[]"),
            Err(NotificationError::Malformed(_))
        ));
    }

    #[test]
    fn chargeback_reason_codes() {
        let n = decode(br#"{"type":"PAYMENT","payload":{"id":"c1","paymentType":"CB","amount":"5.00","currency":"EUR","referencedId":"p1","result":{"code":"000.100.200","description":"Chargeback"},"resultDetails":{"ReasonCode":"AM04"}}}"#).expect("decodes");
        let PspEvent::Payment(p) = n.event else {
            panic!("payment")
        };
        let cb = p.chargeback.expect("chargeback info");
        assert_eq!(cb.reason, ChargebackReason::InsufficientBalance);
        assert_eq!(cb.reason_code.as_deref(), Some("AM04"));
        assert_eq!(p.referenced_id.as_deref(), Some("p1"));
    }
}
