//! One event to one endpoint: signed POSTs with a short, bounded retry.

use std::time::Duration;

use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::WebhookSubscription;

use crate::envelope::Deliverable;
use crate::secret::SigningSecret;
use crate::signature::{sign, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::sink::WebhookSettings;

/// The error with its causes (`connection refused`, `timed out`), which `reqwest` keeps in its
/// source chain. The URL may carry a subscriber's token in its query, so it is left out.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered { attempts: u32, status: u16 },
    Exhausted { attempts: u32, last_error: String },
}

#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    max_attempts: u32,
    first_retry_delay: Duration,
}

impl Deliverer {
    /// Redirects are not followed: a subscriber's 3xx counts as a failed attempt, so a
    /// delivery never lands somewhere the subscription did not name.
    pub fn new(settings: &WebhookSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.request_timeout_ms))
            .user_agent(concat!("orderflow-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            max_attempts: settings.max_attempts.max(1),
            first_retry_delay: Duration::from_millis(settings.retry_delay_ms),
        })
    }

    /// Tries up to `max_attempts` times, doubling the pause after each failure. Every attempt
    /// is signed anew with the current time; `webhook-id` stays the event's id.
    pub async fn deliver(
        &self,
        subscription: &WebhookSubscription,
        event: &Deliverable,
    ) -> Outcome {
        let secret = match SigningSecret::parse(&subscription.secret) {
            Ok(secret) => secret,
            Err(e) => {
                return Outcome::Exhausted {
                    attempts: 0,
                    last_error: format!("subscription secret unusable: {e}"),
                }
            }
        };
        let mut delay = self.first_retry_delay;
        let mut last_error = String::new();
        for attempt in 1..=self.max_attempts {
            match self.attempt(subscription, &secret, event).await {
                Ok(status) => {
                    return Outcome::Delivered {
                        attempts: attempt,
                        status,
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        subscription_id = %subscription.subscription_id,
                        event_id = %event.event_id,
                        attempt,
                        error,
                        "webhook attempt failed"
                    );
                    last_error = error;
                }
            }
            if attempt < self.max_attempts {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        Outcome::Exhausted {
            attempts: self.max_attempts,
            last_error,
        }
    }

    async fn attempt(
        &self,
        subscription: &WebhookSubscription,
        secret: &SigningSecret,
        event: &Deliverable,
    ) -> Result<u16, String> {
        let timestamp = now_ms() / 1000;
        let signature = sign(secret, &event.event_id, timestamp, &event.body);
        let response = self
            .client
            .post(&subscription.url)
            .header(ID_HEADER, &event.event_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(event.body.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(format!("endpoint answered {status}"))
        }
    }
}
