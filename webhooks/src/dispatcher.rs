//! Runs delivery attempts beside the sink's processing loop, within caps on requests in
//! flight, and records each attempt on the attempts topic.
//!
//! The sink's loop must never wait for an endpoint, so it only asks [`Dispatcher::try_start`]
//! to start an attempt. When a cap is reached the answer is no, and the delivery waits in the
//! sink's store instead of in memory: a hanging endpoint holds at most its cap of requests and
//! nothing else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orderflow_kafka::{EventHeaders, KafkaSettings, TraceContext};
use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::{AttemptResult, WebhookAttempt};
use orderflow_schemas::{Codec, EventType, SubscriptionId, Topics};
use orderflow_telemetry::names::{
    WEBHOOK_ATTEMPTS, WEBHOOK_ATTEMPT_DURATION, WEBHOOK_DELIVERY_LATENCY,
};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::attempt::{Attempter, Job};
use crate::settings::WebhookSettings;

/// Tries at writing one attempt record before it is given up; the delivery's lease then
/// expires and the attempt is made again.
const RECORD_TRIES: u32 = 5;
const RECORD_RETRY_PAUSE: Duration = Duration::from_millis(500);

#[derive(Default)]
struct InFlight {
    total: usize,
    per_subscription: HashMap<SubscriptionId, usize>,
}

/// Releases an attempt's place under the caps when the attempt is over, however it ends.
struct Slot {
    in_flight: Arc<Mutex<InFlight>>,
    idle: Arc<Notify>,
    subscription: SubscriptionId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.in_flight);
        in_flight.total -= 1;
        if let Some(count) = in_flight.per_subscription.get_mut(&self.subscription) {
            *count -= 1;
            if *count == 0 {
                in_flight.per_subscription.remove(&self.subscription);
            }
        }
        if in_flight.total == 0 {
            self.idle.notify_waiters();
        }
    }
}

fn lock(in_flight: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    in_flight.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Dispatcher {
    attempter: Arc<Attempter>,
    recorder: Arc<Recorder>,
    runtime: Handle,
    in_flight: Arc<Mutex<InFlight>>,
    idle: Arc<Notify>,
    max_in_flight: usize,
    max_per_subscription: usize,
}

impl Dispatcher {
    pub fn new(
        attempter: Attempter,
        recorder: Recorder,
        settings: &WebhookSettings,
        runtime: Handle,
    ) -> Self {
        Self {
            attempter: Arc::new(attempter),
            recorder: Arc::new(recorder),
            runtime,
            in_flight: Arc::default(),
            idle: Arc::default(),
            max_in_flight: settings.max_in_flight,
            max_per_subscription: settings.max_in_flight_per_subscription,
        }
    }

    /// Starts the attempt in the background and returns `true`, or returns `false` at once
    /// when the sink or this subscription already has as many requests in flight as allowed.
    pub fn try_start(&self, job: Job) -> bool {
        let subscription = job.subscription.subscription_id.clone();
        {
            let mut in_flight = lock(&self.in_flight);
            let mine = in_flight
                .per_subscription
                .get(&subscription)
                .copied()
                .unwrap_or(0);
            if in_flight.total >= self.max_in_flight || mine >= self.max_per_subscription {
                return false;
            }
            in_flight.total += 1;
            *in_flight
                .per_subscription
                .entry(subscription.clone())
                .or_default() += 1;
        }
        let slot = Slot {
            in_flight: self.in_flight.clone(),
            idle: self.idle.clone(),
            subscription,
        };
        let (attempter, recorder) = (self.attempter.clone(), self.recorder.clone());
        self.runtime.spawn(async move {
            let attempt = attempter.attempt(&job).await;
            drop(slot);
            log(&attempt, &job);
            recorder.record(&attempt, &job.trace).await;
        });
        true
    }

    /// Waits until no attempt is in flight, for at most `grace`; returns how many still are.
    pub async fn drain(&self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            let total = lock(&self.in_flight).total;
            if total == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return lock(&self.in_flight).total;
            }
        }
    }
}

/// One log line and the attempt metrics, under the same words.
fn log(attempt: &WebhookAttempt, job: &Job) {
    let result = attempt.result.as_str();
    metrics::counter!(WEBHOOK_ATTEMPTS, "result" => result).increment(1);
    metrics::histogram!(WEBHOOK_ATTEMPT_DURATION).record(attempt.duration_ms as f64 / 1000.0);
    if attempt.result == AttemptResult::Delivered {
        let latency_ms = (now_ms() - job.event_at_ms).max(0);
        metrics::histogram!(WEBHOOK_DELIVERY_LATENCY).record(latency_ms as f64 / 1000.0);
    }
    let trace = &job.trace;
    let span = tracing::info_span!(
        "webhook_attempt",
        subscription_id = %attempt.subscription_id,
        event_id = %attempt.event_id,
        order_id = %attempt.order_id,
        attempt = attempt.attempt,
        trace_id = %trace.trace_id_hex(),
    );
    let _entered = span.enter();
    let (status, duration_ms) = (attempt.status, attempt.duration_ms);
    match attempt.result {
        AttemptResult::Delivered => {
            tracing::debug!(status, duration_ms, "webhook delivered")
        }
        result => tracing::warn!(
            result = result.as_str(),
            status,
            duration_ms,
            error = attempt.error.as_deref().unwrap_or_default(),
            "webhook attempt failed"
        ),
    }
}

/// Writes attempt records, idempotently and acknowledged by every in-sync replica.
pub struct Recorder {
    producer: FutureProducer,
    codec: Arc<Codec>,
    topic: String,
}

impl Recorder {
    pub fn new(
        kafka: &KafkaSettings,
        topics: &Topics,
        codec: Arc<Codec>,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        let producer = kafka
            .producer_config("orderflow-webhook-attempts")
            .create()?;
        let topic = topics.of(EventType::WebhookAttempt).to_owned();
        Ok(Self {
            producer,
            codec,
            topic,
        })
    }

    async fn record(&self, attempt: &WebhookAttempt, trace: &TraceContext) {
        let key = attempt.order_id.to_string();
        let headers = EventHeaders {
            id: format!(
                "{}/{}/{}",
                attempt.event_id, attempt.subscription_id, attempt.attempt
            ),
            event_type: EventType::WebhookAttempt,
            source: "webhooks",
            trace: trace.child(),
        };
        for tries in 1..=RECORD_TRIES {
            let written = match self.codec.encode(attempt).await {
                Ok(payload) => {
                    let record = FutureRecord::to(&self.topic)
                        .key(&key)
                        .payload(&payload)
                        .headers(headers.to_kafka());
                    self.producer
                        .send(record, Duration::ZERO)
                        .await
                        .map(|_| ())
                        .map_err(|(e, _)| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match written {
                Ok(()) => return,
                Err(error) if tries < RECORD_TRIES => {
                    tracing::warn!(topic = %self.topic, error, tries, "retrying an attempt record");
                    tokio::time::sleep(RECORD_RETRY_PAUSE).await;
                }
                Err(error) => tracing::error!(
                    topic = %self.topic,
                    subscription_id = %attempt.subscription_id,
                    event_id = %attempt.event_id,
                    error,
                    "attempt record lost; the delivery is attempted again when its lease ends"
                ),
            }
        }
    }
}
