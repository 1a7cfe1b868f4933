//! One HTTP attempt to deliver an event to a subscription's endpoint, and what it came to.

use std::sync::Arc;
use std::time::Instant;

use orderflow_kafka::headers::TRACEPARENT_HEADER;
use orderflow_kafka::TraceContext;
use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::{AttemptResult, WebhookAttempt, WebhookSubscription};
use orderflow_schemas::{EventId, OrderId};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use url::Url;

use crate::secret::SigningSecret;
use crate::settings::WebhookSettings;
use crate::signature::{sign, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::target::{GuardedResolver, TargetError, TargetPolicy};

/// How much of an endpoint's answer is kept in the attempt record, in bytes; the rest is
/// never read, so a huge answer costs neither memory nor time.
pub const RESPONSE_BODY_MAX_BYTES: usize = 20 * 1024;

/// One delivery attempt to make: the event, where it goes and which attempt this is.
#[derive(Debug, Clone)]
pub struct Job {
    pub subscription: WebhookSubscription,
    pub event_id: EventId,
    pub event_type: String,
    pub order_id: OrderId,
    /// The exact bytes that are signed and sent.
    pub body: Arc<str>,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// When the event happened, in epoch ms: the start of its delivery latency.
    pub event_at_ms: i64,
    /// The event's trace; the request carries it with a span of its own.
    pub trace: TraceContext,
}

/// What the endpoint made of one attempt, before it becomes a [`WebhookAttempt`].
struct Answer {
    result: AttemptResult,
    status: Option<i32>,
    error: Option<String>,
    response_body: Option<String>,
    retry_after_ms: Option<i64>,
}

impl Answer {
    fn failed(result: AttemptResult, error: String) -> Self {
        Self {
            result,
            status: None,
            error: Some(error),
            response_body: None,
            retry_after_ms: None,
        }
    }
}

pub struct Attempter {
    client: reqwest::Client,
    policy: Arc<TargetPolicy>,
}

impl Attempter {
    /// Redirects are not followed: a 3xx counts as a failed attempt, so a delivery never lands
    /// somewhere the subscription did not name. Proxies from the environment are ignored, so
    /// the address checked is the address dialled.
    pub fn new(settings: &WebhookSettings, policy: Arc<TargetPolicy>) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(policy.clone())))
            .connect_timeout(settings.connect_timeout())
            .timeout(settings.request_timeout())
            .user_agent(concat!("orderflow-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, policy })
    }

    /// Makes the attempt and reports it; it never fails, every failure is a result.
    pub async fn attempt(&self, job: &Job) -> WebhookAttempt {
        let attempted_at_ms = now_ms();
        let started = Instant::now();
        let answer = self.send(job).await;
        WebhookAttempt {
            event_id: job.event_id,
            event_type: job.event_type.clone(),
            order_id: job.order_id,
            subscription_id: job.subscription.subscription_id.clone(),
            attempt: job.attempt,
            attempted_at_ms,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            result: answer.result,
            status: answer.status,
            error: answer.error,
            response_body: answer.response_body,
            retry_after_ms: answer.retry_after_ms,
        }
    }

    async fn send(&self, job: &Job) -> Answer {
        let url = match Url::parse(&job.subscription.url) {
            Ok(url) => url,
            Err(e) => return Answer::failed(AttemptResult::Refused, format!("bad URL: {e}")),
        };
        if let Err(e) = self.policy.check_literal(&url) {
            return Answer::failed(AttemptResult::Refused, e.to_string());
        }
        let signature = match signatures(&job.subscription, job, now_ms() / 1000) {
            Ok(signed) => signed,
            Err(e) => return Answer::failed(AttemptResult::Refused, e),
        };

        let response = self
            .client
            .post(url)
            .header(ID_HEADER, job.event_id.to_string())
            .header(TIMESTAMP_HEADER, signature.timestamp.to_string())
            .header(SIGNATURE_HEADER, signature.header)
            .header(CONTENT_TYPE, "application/json")
            .header(TRACEPARENT_HEADER, job.trace.child().to_string())
            .body(job.body.as_bytes().to_vec())
            .send()
            .await;
        let mut response = match response {
            Ok(response) => response,
            Err(e) => return transport_failure(e),
        };

        let status = response.status();
        let retry_after_ms = retry_after_ms(status, response.headers());
        let (response_body, read_error) = read_capped(&mut response).await;
        let (result, error) = match read_error {
            // An answer cut off midway is not an acknowledgement, whatever its status said.
            Some(e) => (AttemptResult::Failed, Some(e)),
            None if status.is_success() => (AttemptResult::Delivered, None),
            None if status == StatusCode::GONE => (
                AttemptResult::Gone,
                Some("endpoint answered 410 Gone".into()),
            ),
            None => (
                AttemptResult::Failed,
                Some(format!("endpoint answered {status}")),
            ),
        };
        Answer {
            result,
            status: Some(i32::from(status.as_u16())),
            error,
            response_body: Some(response_body),
            retry_after_ms,
        }
    }
}

struct Signed {
    timestamp: i64,
    header: String,
}

/// One `v1` signature per secret that may sign now: the current one and, during a rotation's
/// overlap, the secrets it replaced, so a receiver holding either verifies the delivery.
fn signatures(
    subscription: &WebhookSubscription,
    job: &Job,
    timestamp: i64,
) -> Result<Signed, String> {
    let now = timestamp * 1000;
    let retiring = subscription
        .previous_secrets
        .iter()
        .filter(|s| s.expires_at_ms > now)
        .map(|s| s.secret.as_str());
    let mut header = Vec::new();
    for text in std::iter::once(subscription.secret.as_str()).chain(retiring) {
        let secret =
            SigningSecret::parse(text).map_err(|e| format!("subscription secret unusable: {e}"))?;
        let id = job.event_id.to_string();
        header.push(sign(&secret, &id, timestamp, job.body.as_bytes()));
    }
    Ok(Signed {
        timestamp,
        header: header.join(" "),
    })
}

/// Reads at most [`RESPONSE_BODY_MAX_BYTES`] of the answer and drops the rest unread.
async fn read_capped(response: &mut reqwest::Response) -> (String, Option<String>) {
    let mut kept: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE_BODY_MAX_BYTES - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if kept.len() >= RESPONSE_BODY_MAX_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let error = format!("reading the answer failed: {}", describe(&e));
                return (text_of(&kept), Some(error));
            }
        }
    }
    (text_of(&kept), None)
}

/// The answer's bytes as text; a character cut in two by the size limit is left out rather
/// than replaced.
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// `Retry-After` of a `429` or `503`, as seconds or as an HTTP date, in ms from now.
fn retry_after_ms(status: StatusCode, headers: &HeaderMap) -> Option<i64> {
    if !matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        return None;
    }
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return i64::try_from(seconds.saturating_mul(1000)).ok();
    }
    let at = httpdate::parse_http_date(text).ok()?;
    let wait = at.duration_since(std::time::SystemTime::now()).ok()?;
    i64::try_from(wait.as_millis()).ok()
}

fn transport_failure(error: reqwest::Error) -> Answer {
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<TargetError>() {
            return Answer::failed(AttemptResult::Refused, refused.to_string());
        }
        source = cause.source();
    }
    Answer::failed(AttemptResult::Failed, describe(&error))
}

/// The error with its causes (`connection refused`, `timed out`), which `reqwest` keeps in its
/// source chain. The URL may carry a subscriber's token in its query, so it is left out.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_schemas::events::RetiringSecret;
    use orderflow_schemas::SubscriptionId;

    fn job(subscription: WebhookSubscription) -> Job {
        Job {
            subscription,
            event_id: EventId::for_outcome(OrderId::new_v7(), "order.completed"),
            event_type: "order.completed".into(),
            order_id: OrderId::new_v7(),
            body: Arc::from("{}"),
            attempt: 1,
            event_at_ms: 0,
            trace: TraceContext::start(),
        }
    }

    fn subscription(previous: Vec<RetiringSecret>) -> WebhookSubscription {
        WebhookSubscription {
            subscription_id: SubscriptionId::generate(),
            url: "https://example.com/".into(),
            event_types: vec!["order.completed".into()],
            secret: SigningSecret::generate().unwrap().expose(),
            created_at_ms: 0,
            enabled: true,
            disabled_reason: None,
            previous_secrets: previous,
            updated_at_ms: 0,
        }
    }

    #[test]
    fn a_rotation_signs_with_every_secret_that_has_not_expired() {
        let retiring = |expires_at_ms| RetiringSecret {
            secret: SigningSecret::generate().unwrap().expose(),
            expires_at_ms,
        };
        let sub = subscription(vec![retiring(2_000_000), retiring(500_000)]);
        let signed = signatures(&sub, &job(sub.clone()), 1_000).unwrap();
        let parts: Vec<&str> = signed.header.split(' ').collect();
        assert_eq!(parts.len(), 2, "the expired secret no longer signs");
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
    }

    #[test]
    fn a_character_cut_by_the_limit_is_left_out() {
        let text = "ab🐕";
        assert_eq!(text_of(&text.as_bytes()[..4]), "ab");
        assert_eq!(text_of(text.as_bytes()), text);
        assert_eq!(text_of(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn retry_after_counts_only_for_429_and_503() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            retry_after_ms(StatusCode::TOO_MANY_REQUESTS, &headers),
            Some(7_000)
        );
        assert_eq!(
            retry_after_ms(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Some(7_000)
        );
        assert_eq!(
            retry_after_ms(StatusCode::INTERNAL_SERVER_ERROR, &headers),
            None
        );
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        headers.insert(RETRY_AFTER, httpdate::fmt_http_date(later).parse().unwrap());
        let wait = retry_after_ms(StatusCode::TOO_MANY_REQUESTS, &headers).unwrap();
        assert!((55_000..=60_000).contains(&wait), "{wait}");
    }
}
