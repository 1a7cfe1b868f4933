//! `orderflow webhook-listen`: a local receiver that verifies each delivery's signature the
//! way a subscriber should, and reports it.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use orderflow_schemas::clock::now_ms;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::secret::SigningSecret;
use crate::signature::{verify, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// A delivery whose signature checked out.
#[derive(Debug, Clone)]
pub struct VerifiedDelivery {
    pub webhook_id: String,
    pub event_type: String,
    pub order_id: String,
    pub body: serde_json::Value,
}

/// The secret may be set after the listener starts: a subscription's secret is known only once
/// the subscription, which names the listener's URL, has been created.
#[derive(Clone, Default)]
pub struct SharedSecret(Arc<RwLock<Option<SigningSecret>>>);

impl SharedSecret {
    pub fn set(&self, secret: SigningSecret) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(secret);
    }

    fn get(&self) -> Option<SigningSecret> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Seconds the receiver asks for in `Retry-After` when it turns a first attempt away.
const REFUSAL_RETRY_AFTER_SECS: u64 = 1;

/// Makes the receiver answer `503` with `Retry-After` to the first attempt of every `n`-th
/// event it sees, to watch the sink retry; `0` never refuses.
#[derive(Clone, Default)]
pub struct Refusals {
    every: usize,
    seen: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Refusals {
    pub fn every(n: usize) -> Self {
        Self {
            every: n,
            seen: Arc::default(),
        }
    }

    /// True for the first attempt of every `n`-th new webhook id.
    fn refuse(&self, webhook_id: &str) -> bool {
        if self.every == 0 {
            return false;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(webhook_id) {
            return false;
        }
        seen.insert(webhook_id.to_owned());
        seen.len() % self.every == 1 % self.every
    }
}

#[derive(Clone)]
struct Receiver {
    secret: SharedSecret,
    verified: mpsc::UnboundedSender<VerifiedDelivery>,
    refusals: Refusals,
}

/// Serves until `shutdown`; every verified delivery is sent to `verified`. Deliveries that fail
/// verification are answered `401` and logged.
pub async fn serve(
    listener: tokio::net::TcpListener,
    secret: SharedSecret,
    verified: mpsc::UnboundedSender<VerifiedDelivery>,
    refusals: Refusals,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new().fallback(post(receive)).with_state(Receiver {
        secret,
        verified,
        refusals,
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match check(&receiver.secret, &headers, &body) {
        Ok(delivery) if receiver.refusals.refuse(&delivery.webhook_id) => {
            let retry_after = [(RETRY_AFTER, REFUSAL_RETRY_AFTER_SECS.to_string())];
            (StatusCode::SERVICE_UNAVAILABLE, retry_after).into_response()
        }
        Ok(delivery) => {
            let _ = receiver.verified.send(delivery);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(reason) => {
            tracing::warn!(reason, "refused a delivery that did not verify");
            StatusCode::UNAUTHORIZED.into_response()
        }
    }
}

fn check(
    secret: &SharedSecret,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<VerifiedDelivery, String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("missing {name} header"))
    };
    let id = header(ID_HEADER)?;
    let timestamp: i64 = header(TIMESTAMP_HEADER)?
        .parse()
        .map_err(|_| format!("{TIMESTAMP_HEADER} is not a number"))?;
    let signatures = header(SIGNATURE_HEADER)?;
    let secret = secret.get().ok_or("no secret configured yet")?;
    verify(&secret, id, timestamp, signatures, body, now_ms() / 1000).map_err(|e| e.to_string())?;

    let parsed: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let field = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    Ok(VerifiedDelivery {
        webhook_id: id.to_owned(),
        event_type: field(&parsed["type"]),
        order_id: field(&parsed["data"]["order_id"]),
        body: parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_turn_away_only_the_first_attempt_of_every_nth_event() {
        let refusals = Refusals::every(3);
        let verdicts: Vec<bool> = ["a", "a", "b", "c", "d", "d", "e"]
            .iter()
            .map(|id| refusals.refuse(id))
            .collect();
        assert_eq!(verdicts, [true, false, false, false, true, false, false]);
        assert!(!Refusals::default().refuse("a"));
    }
}
