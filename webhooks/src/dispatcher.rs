//! Runs delivery attempts beside the sink's processing loop, within caps on requests in
//! flight, and records each attempt on the attempts topic.
//!
//! The sink's loop must never wait for an endpoint, so it only asks [`Dispatcher::try_start`]
//! to start an attempt. An attempt over its subscription's cap waits in a short queue of that
//! subscription and starts as soon as one of its requests ends; when the queue is full, or the
//! sink as a whole is at its cap, the answer is no and the delivery waits in the sink's store
//! instead of in memory. A hanging endpoint holds at most its cap of requests and its queue,
//! and nothing else.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orderflow_kafka::{EventHeaders, KafkaSettings, TraceContext};
use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::{AttemptResult, WebhookAttempt};
use orderflow_schemas::{Codec, EventId, EventType, SubscriptionId, Topics};
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
/// Attempts that may wait behind a subscription's cap, per request it may have in flight.
const QUEUED_PER_SLOT: usize = 64;
/// Longest an attempt waits in a subscription's queue. The sink gives a queued attempt its
/// lease plus this limit; one that waited longer is dropped unsent and made again when that
/// lease runs out.
pub const QUEUE_WAIT_LIMIT: Duration = Duration::from_secs(5);

/// One attempt: an event, a subscription and the attempt's number.
type AttemptKey = (EventId, SubscriptionId, i32);

fn attempt_key(job: &Job) -> AttemptKey {
    (
        job.event_id,
        job.subscription.subscription_id.clone(),
        job.attempt,
    )
}

#[derive(Default)]
struct InFlight {
    total: usize,
    per_subscription: HashMap<SubscriptionId, usize>,
    // A queued attempt carries the subscription as it was when it was asked for; one that is
    // disabled, deleted or moved meanwhile still gets the attempts queued in the 5 s before.
    queued: HashMap<SubscriptionId, VecDeque<(Instant, Job)>>,
    /// Attempts queued or in flight: a sink that rewinds after an aborted transaction asks
    /// for them again, and they must not be made twice.
    active: HashSet<AttemptKey>,
}

impl InFlight {
    fn take(&mut self, subscription: &SubscriptionId) {
        self.total += 1;
        *self
            .per_subscription
            .entry(subscription.clone())
            .or_default() += 1;
    }

    fn give_back(&mut self, subscription: &SubscriptionId) {
        self.total -= 1;
        if let Some(count) = self.per_subscription.get_mut(subscription) {
            *count -= 1;
            if *count == 0 {
                self.per_subscription.remove(subscription);
            }
        }
    }

    /// The oldest queued attempt of `subscription` that has not waited too long.
    fn next_queued(&mut self, subscription: &SubscriptionId) -> Option<Job> {
        let queue = self.queued.get_mut(subscription)?;
        let job = loop {
            match queue.pop_front() {
                Some((queued, job)) if queued.elapsed() <= QUEUE_WAIT_LIMIT => break Some(job),
                Some((_, expired)) => {
                    self.active.remove(&attempt_key(&expired));
                }
                None => break None,
            }
        };
        if queue.is_empty() {
            self.queued.remove(subscription);
        }
        job
    }
}

/// What became of an attempt the sink asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// In flight.
    Yes,
    /// Waiting behind its subscription's cap, or asked for already (and so perhaps still
    /// waiting): it starts within [`QUEUE_WAIT_LIMIT`] or not at all.
    Queued,
    /// Turned away by a cap: the sink tries again later.
    No,
}

struct Shared {
    attempter: Attempter,
    recorder: Recorder,
    runtime: Handle,
    in_flight: Mutex<InFlight>,
    idle: Notify,
    max_in_flight: usize,
    max_per_subscription: usize,
}

fn lock(in_flight: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    in_flight.lock().unwrap_or_else(|e| e.into_inner())
}

/// Releases an attempt's place under the caps when the attempt is over, however it ends, and
/// hands the place to the next attempt queued for the same subscription.
struct Slot {
    shared: Arc<Shared>,
    attempt: AttemptKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let subscription = &self.attempt.1;
        let next = {
            let mut in_flight = lock(&self.shared.in_flight);
            in_flight.active.remove(&self.attempt);
            match in_flight.next_queued(subscription) {
                Some(job) => Some(job),
                None => {
                    in_flight.give_back(subscription);
                    if in_flight.total == 0 {
                        self.shared.idle.notify_waiters();
                    }
                    None
                }
            }
        };
        if let Some(job) = next {
            run(self.shared.clone(), job);
        }
    }
}

/// Makes the attempt in the background under a place already taken for it.
fn run(shared: Arc<Shared>, job: Job) {
    let slot = Slot {
        shared: shared.clone(),
        attempt: attempt_key(&job),
    };
    shared.runtime.clone().spawn(async move {
        let attempt = shared.attempter.attempt(&job).await;
        log(&attempt, &job);
        // The place is free once the endpoint answered; recording does not hold it.
        drop(slot);
        shared.recorder.record(&attempt, &job.trace).await;
    });
}

pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    pub fn new(
        attempter: Attempter,
        recorder: Recorder,
        settings: &WebhookSettings,
        runtime: Handle,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                attempter,
                recorder,
                runtime,
                in_flight: Mutex::default(),
                idle: Notify::new(),
                max_in_flight: settings.max_in_flight,
                max_per_subscription: settings.max_in_flight_per_subscription,
            }),
        }
    }

    /// Starts the attempt in the background, or queues it behind its subscription's cap;
    /// answers [`Started::No`] at once when the sink is at its cap or the queue is full.
    pub fn try_start(&self, job: Job) -> Started {
        let subscription = job.subscription.subscription_id.clone();
        let key = attempt_key(&job);
        {
            let mut in_flight = lock(&self.shared.in_flight);
            if in_flight.active.contains(&key) {
                return Started::Queued;
            }
            let mine = in_flight
                .per_subscription
                .get(&subscription)
                .copied()
                .unwrap_or(0);
            if mine >= self.shared.max_per_subscription {
                let limit = self.shared.max_per_subscription * QUEUED_PER_SLOT;
                let queue = in_flight.queued.entry(subscription).or_default();
                if queue.len() >= limit {
                    return Started::No;
                }
                queue.push_back((Instant::now(), job));
                in_flight.active.insert(key);
                return Started::Queued;
            }
            if in_flight.total >= self.shared.max_in_flight {
                return Started::No;
            }
            in_flight.take(&subscription);
            in_flight.active.insert(key);
        }
        run(self.shared.clone(), job);
        Started::Yes
    }

    /// Drops the queued attempts (they are made again when their leases run out) and waits
    /// until no attempt is in flight, for at most `grace`; returns how many still are.
    pub async fn drain(&self, grace: Duration) -> usize {
        {
            let mut in_flight = lock(&self.shared.in_flight);
            let queued: Vec<Job> = in_flight
                .queued
                .drain()
                .flat_map(|(_, queue)| queue.into_iter().map(|(_, job)| job))
                .collect();
            for job in &queued {
                in_flight.active.remove(&attempt_key(job));
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.shared.idle.notified();
            let total = lock(&self.shared.in_flight).total;
            if total == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return lock(&self.shared.in_flight).total;
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
