//! `Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field"): a client that
//! sends a write again with the same key and body gets the first answer back and nothing is
//! written twice; the same key with another body is refused; a repeat while the first is still
//! being written is told to wait.
//!
//! It holds across gateway restarts and across gateway instances because nothing about it is
//! local: the order id is derived from the client, the key and the body's fingerprint, and the
//! key travels in the `order.created` event, from which every gateway builds its index of
//! keys. A repeat that reaches another gateway before that gateway has read the first write
//! is written again, under the same order id, which every processor ignores.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use orderflow_schemas::OrderId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::problem::{Problem, ProblemKind};

pub const HEADER: &str = "idempotency-key";
/// Longest key accepted, in characters.
pub const KEY_MAX_CHARS: usize = 255;
/// The UUIDv5 namespace of order ids derived from idempotency keys.
const ORDER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_7266_6c6f_772d_6964_656d_706f);

/// The key of a request, if it sent one. The draft writes it as a quoted string; a bare
/// value is accepted too. Visible ASCII only, 1 to 255 characters.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let invalid = |detail: &str| {
        Problem::new(
            ProblemKind::InvalidHeader,
            format!("Idempotency-Key {detail}"),
        )
    };
    let text = value
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?
        .trim();
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty() || key.chars().count() > KEY_MAX_CHARS {
        return Err(invalid(&format!("must be 1 to {KEY_MAX_CHARS} characters")));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
        return Err(invalid("must be visible ASCII without quotes inside"));
    }
    Ok(Some(key.to_owned()))
}

/// SHA-256 of the body as parsed, so that whitespace and the order of fields do not make two
/// equal requests differ.
pub fn fingerprint(body: &Value) -> String {
    let mut digest = Sha256::new();
    canonical(body, &mut digest);
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Feeds `value` to the digest with object fields sorted by name, whatever order the JSON map
/// keeps them in.
fn canonical(value: &Value, digest: &mut Sha256) {
    match value {
        Value::Object(fields) => {
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort();
            digest.update(b"{");
            for name in names {
                digest.update(Value::String(name.clone()).to_string().as_bytes());
                digest.update(b":");
                canonical(&fields[name], digest);
                digest.update(b",");
            }
            digest.update(b"}");
        }
        Value::Array(items) => {
            digest.update(b"[");
            for item in items {
                canonical(item, digest);
                digest.update(b",");
            }
            digest.update(b"]");
        }
        scalar => digest.update(scalar.to_string().as_bytes()),
    }
}

/// The order id of a keyed request: the same on every gateway for the same client, key and
/// body, and a different one for another body, so a key reused after it expired starts a new
/// order rather than being taken for the old one.
pub fn order_id(client: &str, key: &str, fingerprint: &str) -> OrderId {
    let name = format!("{client}\n{key}\n{fingerprint}");
    OrderId::from_uuid(Uuid::new_v5(&ORDER_ID_NAMESPACE, name.as_bytes()))
}

/// Keys whose first request this gateway is still writing.
#[derive(Clone, Default)]
pub struct InFlight {
    keys: Arc<Mutex<HashSet<(String, String)>>>,
}

/// Holds a key as in flight until dropped.
pub struct Claim {
    keys: Arc<Mutex<HashSet<(String, String)>>>,
    entry: (String, String),
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.remove(&self.entry);
    }
}

impl InFlight {
    /// Claims `key` of `client`, or answers `409` when a request with it is in flight here.
    pub fn claim(&self, client: &str, key: &str) -> Result<Claim, Problem> {
        let entry = (client.to_owned(), key.to_owned());
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if !keys.insert(entry.clone()) {
            return Err(Problem::new(
                ProblemKind::IdempotencyConflict,
                format!("a request with Idempotency-Key {key:?} is still in progress"),
            ));
        }
        Ok(Claim {
            keys: self.keys.clone(),
            entry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn keys_are_read_quoted_or_bare_and_checked() {
        assert_eq!(key_of(&HeaderMap::new()).unwrap(), None);
        assert_eq!(key_of(&headers("\"abc-1\"")).unwrap(), Some("abc-1".into()));
        assert_eq!(key_of(&headers("abc-1")).unwrap(), Some("abc-1".into()));
        assert!(key_of(&headers("\"\"")).is_err());
        assert!(key_of(&headers(&"k".repeat(KEY_MAX_CHARS + 1))).is_err());
        assert!(key_of(&headers("a b")).is_err());
    }

    #[test]
    fn the_fingerprint_ignores_layout_but_not_content() {
        let a: Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "b":[1,2],"a":1 }"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"a": 2, "b": [1, 2]}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn the_order_id_depends_on_client_key_and_body() {
        let id = order_id("shop", "k1", "f1");
        assert_eq!(id, order_id("shop", "k1", "f1"));
        assert_ne!(id, order_id("other-shop", "k1", "f1"));
        assert_ne!(id, order_id("shop", "k2", "f1"));
        assert_ne!(id, order_id("shop", "k1", "f2"));
    }

    #[test]
    fn a_key_in_flight_is_refused_until_released() {
        let in_flight = InFlight::default();
        let claim = in_flight.claim("shop", "k1").unwrap();
        let refused = in_flight.claim("shop", "k1").err().unwrap();
        assert_eq!(refused.kind, ProblemKind::IdempotencyConflict);
        assert!(in_flight.claim("other", "k1").is_ok());
        drop(claim);
        assert!(in_flight.claim("shop", "k1").is_ok());
    }
}
