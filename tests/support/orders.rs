//! What the gateway tests send and check: order bodies (plain, or padded with JSON whitespace
//! to an exact size), answers captured whole, and RFC 9457 problems.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

/// A valid order of one line, told apart from others by its customer.
pub fn order(customer: &str) -> Value {
    json!({
        "customer_id": customer,
        "email": "ada@example.com",
        "currency": "EUR",
        "payment_token": "tok_visa",
        "items": [{"sku": "DOG-FOOD", "quantity": 1, "unit_price": 1299}]
    })
}

/// `body` as JSON text of exactly `bytes` bytes: whitespace after the opening brace, which
/// every JSON parser skips, so the order means the same at any size.
pub fn padded(body: &Value, bytes: usize) -> String {
    let text = body.to_string();
    assert!(text.starts_with('{') && text.len() <= bytes, "cannot pad");
    format!("{{{}{}", " ".repeat(bytes - text.len()), &text[1..])
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem `type`, after checking that the answer is an RFC 9457 problem.
    pub fn problem_type(&self) -> &str {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "a {} answer that is no problem: {}",
            self.status,
            self.body
        );
        assert_eq!(self.body["status"], self.status, "{}", self.body);
        let kind = self.body["type"].as_str().unwrap_or_default();
        assert!(kind.starts_with("/problems/"), "{}", self.body);
        kind
    }
}

/// `POST`s `body` as JSON, with `Idempotency-Key: "<key>"` when a key is given.
pub async fn post(http: &reqwest::Client, url: &str, key: Option<&str>, body: &Value) -> Answer {
    let mut request = http.post(url).json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", format!("\"{key}\""));
    }
    let response = request.send().await.expect("the gateway answers");
    Answer::read(response).await
}
