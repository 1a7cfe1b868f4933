//! Standard Webhooks signatures: HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the
//! secret's bytes, sent as `v1,<base64>`; several space-separated signatures may be sent.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::SigningSecret;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a receiver lets a delivery's timestamp stray from its own clock, in seconds, to
/// refuse replays of old deliveries.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

fn mac(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail for a parsed secret.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.key())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for one delivery attempt.
pub fn sign(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(digest))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "timestamp {timestamp} is more than {TIMESTAMP_TOLERANCE_SECS}s away from now ({now})"
    )]
    Stale { timestamp: i64, now: i64 },
    #[error("no v1 signature in the header matches")]
    Mismatch,
}

/// Checks a delivery as a receiver must: a fresh timestamp and at least one matching `v1`
/// signature among those listed, compared in constant time.
pub fn verify(
    secret: &SigningSecret,
    id: &str,
    timestamp: i64,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    if (now - timestamp).abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(VerifyError::Stale { timestamp, now });
    }
    let matches = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|candidate| {
            mac(secret, id, timestamp, body)
                .verify_slice(&candidate)
                .is_ok()
        });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector the project checks against the reference `standardwebhooks` library.
    const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const BODY: &str = r#"{"type":"order.completed","data":{"order_id":"o_1"}}"#;
    const EXPECTED: &str = "v1,jVX/apxdfMLo/dXKe88/csQbS8slThBy9qwKWqdliQw=";

    #[test]
    fn signature_matches_the_reference_vector() {
        let secret = SigningSecret::parse(SECRET).unwrap();
        assert_eq!(secret.key(), (0u8..32).collect::<Vec<_>>().as_slice());
        assert_eq!(
            sign(&secret, "msg_test_1", 1_700_000_000, BODY.as_bytes()),
            EXPECTED
        );
    }

    #[test]
    fn verification_accepts_any_listed_signature_and_refuses_tampering() {
        let secret = SigningSecret::parse(SECRET).unwrap();
        let now = 1_700_000_010;
        let header = format!("v1,bm90LWl0 {EXPECTED}");
        assert_eq!(
            verify(
                &secret,
                "msg_test_1",
                1_700_000_000,
                &header,
                BODY.as_bytes(),
                now
            ),
            Ok(())
        );
        assert_eq!(
            verify(&secret, "msg_test_1", 1_700_000_000, EXPECTED, b"{}", now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(
                &secret,
                "msg_test_2",
                1_700_000_000,
                EXPECTED,
                BODY.as_bytes(),
                now
            ),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn stale_timestamps_are_refused() {
        let secret = SigningSecret::parse(SECRET).unwrap();
        let result = verify(
            &secret,
            "msg_test_1",
            1_700_000_000,
            EXPECTED,
            BODY.as_bytes(),
            1_700_001_000,
        );
        assert!(matches!(result, Err(VerifyError::Stale { .. })));
    }
}
