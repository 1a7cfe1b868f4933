//! The webhook sink: a processor on the exactly-once runtime that turns outcome events into
//! deliveries and keeps every unsettled delivery in its store until it is settled.
//!
//! Its inputs are co-partitioned by order id: `order.completed` and `order.failed` (new
//! events), `webhook.attempt` (results of attempts, written by the [`Dispatcher`] beside the
//! loop) and `webhook.delivery-requested` (replays). A delivery is settled when an attempt
//! delivered it, when its subscription is gone, or when its last attempt failed and it went
//! to `webhook.delivery-failed`, the sink's dead-letter topic.
//!
//! Delivery is at-least-once: the HTTP request is made before the transaction that records
//! it commits, so a crash in between repeats it. Subscribers deduplicate by `webhook-id`.

mod pending;

use std::sync::Arc;

use orderflow_kafka::TraceContext;
use orderflow_processors::runtime::{Context, ProcessError, Processor, Topology};
use orderflow_schemas::events::{
    AnyEvent, AttemptResult, DisableReason, WebhookAttempt, WebhookDeliveryFailed,
    WebhookDeliveryRequested, WebhookSubscription, WebhookSubscriptionDisabled,
};
use orderflow_schemas::{EventId, EventType, OrderId, SubscriptionId};
use orderflow_telemetry::names::WEBHOOK_SUBSCRIPTIONS_DISABLED;

use crate::attempt::Job;
use crate::dispatcher::{Dispatcher, Started, QUEUE_WAIT_LIMIT};
use crate::envelope::deliverable;
use crate::registry::SubscriptionRegistry;
use crate::schedule::RetrySchedule;
use crate::settings::WebhookSettings;
use pending::{
    due_key, due_until, health_key, parse_due_key, pending_key, Health, Pending, DUE_PREFIX,
};

/// How long an attempt in flight may take before the delivery is looked at again, beyond the
/// request timeout, in ms: time for the attempt record to be written and read back.
const LEASE_MARGIN_MS: i64 = 10_000;
/// When a cap on requests in flight turned an attempt away, it is tried again this much
/// later, in ms.
const DEFER_MS: i64 = 1_000;
/// Due deliveries looked at per partition per punctuation; the rest wait for the next one.
const DUE_PER_PUNCTUATION: usize = 1_000;

/// What the sink reads and writes; its inputs are co-partitioned by order id.
pub const TOPOLOGY: Topology = Topology {
    name: "webhooks",
    stateless_inputs: &[],
    stateful_inputs: &[
        EventType::OrderCompleted,
        EventType::OrderFailed,
        EventType::WebhookAttempt,
        EventType::WebhookDeliveryRequested,
    ],
    store: "deliveries",
    outputs: &[
        EventType::WebhookDeliveryFailed,
        EventType::WebhookSubscription,
        EventType::WebhookSubscriptionDisabled,
    ],
};

pub struct WebhookSink {
    registry: SubscriptionRegistry,
    dispatcher: Arc<Dispatcher>,
    schedule: RetrySchedule,
    lease_ms: i64,
    disable_after_failing_ms: i64,
}

/// One delivery being started or moved on: which event, to whom.
struct Delivery<'a> {
    event_id: EventId,
    subscription: &'a WebhookSubscription,
}

impl WebhookSink {
    pub fn new(
        registry: SubscriptionRegistry,
        dispatcher: Arc<Dispatcher>,
        settings: &WebhookSettings,
    ) -> Self {
        let lease_ms = i64::try_from(settings.request_timeout_ms).unwrap_or(i64::MAX);
        Self {
            registry,
            dispatcher,
            schedule: RetrySchedule::new(settings),
            lease_ms: lease_ms.saturating_add(LEASE_MARGIN_MS),
            disable_after_failing_ms: i64::try_from(settings.disable_after_failing_ms)
                .unwrap_or(i64::MAX),
        }
    }

    /// A new event, or a replay: the first attempt starts at once unless the subscription is
    /// disabled, in which case the event goes straight to the dead letters, to be replayed
    /// once it is enabled again. An event already on its way is left as it is.
    fn start(
        &self,
        delivery: Delivery<'_>,
        pending: Pending,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let key = pending_key(&delivery.event_id, &delivery.subscription.subscription_id);
        if ctx.store()?.get::<Pending>(&key)?.is_some() {
            return Ok(());
        }
        self.begin(&delivery, pending, ctx)
    }

    /// A replay or resend: the event is delivered again from its first attempt, now. When an
    /// attempt is in flight, it starts over once that attempt is settled, so a resend asked
    /// for right after a delivery is not lost to the delivery's own bookkeeping.
    fn restart(
        &self,
        delivery: Delivery<'_>,
        pending: Pending,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let key = pending_key(&delivery.event_id, &delivery.subscription.subscription_id);
        match ctx.store()?.get::<Pending>(&key)? {
            Some(mut current) if current.in_flight => {
                current.again = true;
                Ok(ctx.store()?.put(&key, &current)?)
            }
            Some(current) => {
                let fresh = Pending {
                    attempts: 0,
                    last_error: None,
                    ..current
                };
                self.begin(&delivery, fresh, ctx)
            }
            None => self.begin(&delivery, pending, ctx),
        }
    }

    fn begin(
        &self,
        delivery: &Delivery<'_>,
        pending: Pending,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        if !delivery.subscription.enabled {
            return self.dead_letter(delivery, &pending, "subscription disabled", ctx);
        }
        self.dispatch(delivery, pending, ctx)
    }

    /// Hands the next attempt to the dispatcher and parks the delivery in the due index: for
    /// the lease when the attempt started, for a short pause when a cap turned it away.
    fn dispatch(
        &self,
        delivery: &Delivery<'_>,
        mut pending: Pending,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let job = Job {
            subscription: delivery.subscription.clone(),
            event_id: delivery.event_id,
            event_type: pending.event_type.clone(),
            order_id: pending.order_id,
            body: Arc::from(pending.body.as_str()),
            attempt: pending.attempts + 1,
            event_at_ms: pending.event_at_ms,
            trace: pending
                .trace
                .as_deref()
                .and_then(TraceContext::parse)
                .unwrap_or_else(TraceContext::start),
        };
        let started = self.dispatcher.try_start(job);
        pending.in_flight = started != Started::No;
        let wait = match started {
            Started::Yes => self.lease_ms,
            // A queued attempt may start up to the queue's limit later.
            Started::Queued => self.lease_ms + QUEUE_WAIT_LIMIT.as_millis() as i64,
            Started::No => DEFER_MS,
        };
        let due = ctx.now_ms() + wait;
        self.park(delivery, &mut pending, due, ctx)
    }

    fn park(
        &self,
        delivery: &Delivery<'_>,
        pending: &mut Pending,
        due_ms: i64,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let subscription = &delivery.subscription.subscription_id;
        let store = ctx.store()?;
        store.delete(&due_key(pending.due_ms, &delivery.event_id, subscription));
        pending.due_ms = due_ms;
        store.put(&due_key(due_ms, &delivery.event_id, subscription), &())?;
        store.put(&pending_key(&delivery.event_id, subscription), pending)?;
        Ok(())
    }

    fn forget(
        &self,
        event_id: &EventId,
        subscription: &SubscriptionId,
        pending: &Pending,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let store = ctx.store()?;
        store.delete(&due_key(pending.due_ms, event_id, subscription));
        store.delete(&pending_key(event_id, subscription));
        Ok(())
    }

    fn dead_letter(
        &self,
        delivery: &Delivery<'_>,
        pending: &Pending,
        reason: &str,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let subscription_id = &delivery.subscription.subscription_id;
        tracing::warn!(
            subscription_id = %subscription_id,
            event_id = %delivery.event_id,
            order_id = %pending.order_id,
            attempts = pending.attempts,
            reason,
            "webhook delivery failed for good"
        );
        ctx.emit(&WebhookDeliveryFailed {
            event_id: delivery.event_id,
            event_type: pending.event_type.clone(),
            order_id: pending.order_id,
            subscription_id: subscription_id.clone(),
            event_at_ms: pending.event_at_ms,
            attempts: pending.attempts,
            reason: reason.to_owned(),
            failed_at_ms: ctx.now_ms(),
            body: pending.body.clone(),
        })?;
        self.forget(&delivery.event_id, subscription_id, pending, ctx)
    }

    fn on_outcome(&self, event: &AnyEvent, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let Some(outgoing) = deliverable(event) else {
            return Ok(());
        };
        let order_id: OrderId = outgoing
            .order_id
            .parse()
            .map_err(|e| ProcessError::Rejected(format!("outcome with a bad order id: {e}")))?;
        let event_id: EventId = outgoing
            .event_id
            .parse()
            .map_err(|e| ProcessError::Rejected(format!("outcome with a bad event id: {e}")))?;
        let body = String::from_utf8(outgoing.body)
            .map_err(|e| ProcessError::Rejected(format!("envelope is not UTF-8: {e}")))?;
        for subscription in self.registry.matching(outgoing.event_type) {
            let pending = Pending::first(
                outgoing.event_type.as_str().to_owned(),
                order_id,
                outgoing.at_ms,
                body.clone(),
                ctx.trace().to_string(),
            );
            let delivery = Delivery {
                event_id,
                subscription: &subscription,
            };
            self.start(delivery, pending, ctx)?;
        }
        Ok(())
    }

    fn on_request(
        &self,
        request: WebhookDeliveryRequested,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let Some(subscription) = self.registry.get(&request.subscription_id) else {
            tracing::info!(subscription_id = %request.subscription_id, "replay for a deleted subscription ignored");
            return Ok(());
        };
        let pending = Pending::first(
            request.event_type,
            request.order_id,
            request.event_at_ms,
            request.body,
            ctx.trace().to_string(),
        );
        let delivery = Delivery {
            event_id: request.event_id,
            subscription: &subscription,
        };
        self.restart(delivery, pending, ctx)
    }

    /// Moves a delivery on by an attempt's result. Results of attempts that are not the
    /// delivery's next (repeats after a restart, an attempt made twice when its lease ran out)
    /// are ignored, so each attempt counts once.
    fn on_attempt(
        &self,
        attempt: WebhookAttempt,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let key = pending_key(&attempt.event_id, &attempt.subscription_id);
        let Some(mut pending) = ctx.store()?.get::<Pending>(&key)? else {
            return Ok(());
        };
        if attempt.attempt != pending.attempts + 1 {
            return Ok(());
        }
        pending.attempts = attempt.attempt;
        pending.last_error = attempt.error.clone();
        pending.in_flight = false;
        self.track_health(&attempt, ctx)?;

        let Some(subscription) = self.registry.get(&attempt.subscription_id) else {
            return self.forget(&attempt.event_id, &attempt.subscription_id, &pending, ctx);
        };
        let delivery = Delivery {
            event_id: attempt.event_id,
            subscription: &subscription,
        };
        let error = attempt.error.as_deref().unwrap_or("failed");
        match attempt.result {
            // A replay asked for while this attempt was in flight starts the event over.
            AttemptResult::Delivered | AttemptResult::Failed if pending.again => {
                let fresh = Pending {
                    attempts: 0,
                    again: false,
                    ..pending
                };
                self.begin(&delivery, fresh, ctx)
            }
            AttemptResult::Delivered => {
                self.forget(&attempt.event_id, &attempt.subscription_id, &pending, ctx)
            }
            AttemptResult::Gone => {
                self.disable(&subscription, DisableReason::Gone, error, None, ctx)?;
                self.dead_letter(&delivery, &pending, error, ctx)
            }
            AttemptResult::Refused => self.dead_letter(&delivery, &pending, error, ctx),
            AttemptResult::Failed => {
                let failed_at = attempt.attempted_at_ms + attempt.duration_ms;
                match self
                    .schedule
                    .next_due_ms(attempt.attempt, failed_at, attempt.retry_after_ms)
                {
                    Some(due) => self.park(&delivery, &mut pending, due, ctx),
                    None => {
                        let reason =
                            format!("{} attempts failed; the last: {error}", attempt.attempt);
                        self.dead_letter(&delivery, &pending, &reason, ctx)
                    }
                }
            }
        }
    }

    /// Keeps, per subscription, since when every attempt from this partition failed, and
    /// disables a subscription that kept failing for longer than allowed. Each partition
    /// judges from its own attempts, so a subscription is disabled once any partition saw
    /// nothing but failures for that long.
    fn track_health(
        &self,
        attempt: &WebhookAttempt,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        let key = health_key(&attempt.subscription_id);
        let health = ctx.store()?.get::<Health>(&key)?;
        if attempt.result == AttemptResult::Delivered {
            if health.is_some() {
                ctx.store()?.delete(&key);
            }
            return Ok(());
        }
        let Some(health) = health else {
            let health = Health {
                failing_since_ms: attempt.attempted_at_ms,
            };
            return Ok(ctx.store()?.put(&key, &health)?);
        };
        let failing_for = attempt.attempted_at_ms - health.failing_since_ms;
        if failing_for < self.disable_after_failing_ms {
            return Ok(());
        }
        let Some(subscription) = self.registry.get(&attempt.subscription_id) else {
            return Ok(());
        };
        ctx.store()?.delete(&key);
        let detail = format!(
            "every attempt failed for {} s; the last: {}",
            failing_for / 1000,
            attempt.error.as_deref().unwrap_or("failed")
        );
        let since = Some(health.failing_since_ms);
        self.disable(&subscription, DisableReason::Failing, &detail, since, ctx)
    }

    /// Disables a subscription (the record on the subscriptions topic says so) and announces
    /// it with an operational event.
    fn disable(
        &self,
        subscription: &WebhookSubscription,
        reason: DisableReason,
        detail: &str,
        failing_since_ms: Option<i64>,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        if !subscription.enabled {
            return Ok(());
        }
        let mut disabled = subscription.clone();
        disabled.enabled = false;
        disabled.disabled_reason = Some(format!("{}: {detail}", reason.as_str()));
        disabled.updated_at_ms = ctx.now_ms();
        ctx.emit(&disabled)?;
        ctx.emit(&WebhookSubscriptionDisabled {
            subscription_id: subscription.subscription_id.clone(),
            url: subscription.url.clone(),
            reason,
            detail: detail.to_owned(),
            failing_since_ms,
            disabled_at_ms: ctx.now_ms(),
        })?;
        tracing::warn!(
            subscription_id = %subscription.subscription_id,
            reason = reason.as_str(),
            detail,
            "webhook subscription disabled"
        );
        metrics::counter!(WEBHOOK_SUBSCRIPTIONS_DISABLED, "reason" => reason.as_str()).increment(1);
        // Later deliveries of this partition see it at once, before the record comes back.
        self.registry.upsert(disabled);
        Ok(())
    }

    /// Starts the attempts that are due: retries whose time came, attempts a cap turned away
    /// and attempts whose lease ran out without a result.
    fn fire_due(&self, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let until = due_until(ctx.now_ms());
        let due: Vec<(String, ())> = ctx
            .store()?
            .range(DUE_PREFIX, &until, DUE_PER_PUNCTUATION)?;
        for (key, ()) in due {
            let Some((due_ms, event_id, subscription_id)) = parse_due_key(&key) else {
                ctx.store()?.delete(&key);
                continue;
            };
            let pending = ctx
                .store()?
                .get::<Pending>(&pending_key(&event_id, &subscription_id))?;
            let Some(pending) = pending.filter(|p| p.due_ms == due_ms) else {
                ctx.store()?.delete(&key);
                continue;
            };
            let Some(subscription) = self.registry.get(&subscription_id) else {
                tracing::info!(subscription_id = %subscription_id, event_id = %event_id, "subscription deleted; delivery dropped");
                self.forget(&event_id, &subscription_id, &pending, ctx)?;
                continue;
            };
            let delivery = Delivery {
                event_id,
                subscription: &subscription,
            };
            if subscription.enabled {
                self.dispatch(&delivery, pending, ctx)?;
            } else {
                self.dead_letter(&delivery, &pending, "subscription disabled", ctx)?;
            }
        }
        Ok(())
    }
}

impl Processor for WebhookSink {
    fn topology(&self) -> Topology {
        TOPOLOGY
    }

    fn process(&mut self, event: AnyEvent, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        match event {
            AnyEvent::OrderCompleted(_) | AnyEvent::OrderFailed(_) => self.on_outcome(&event, ctx),
            AnyEvent::WebhookAttempt(attempt) => self.on_attempt(attempt, ctx),
            AnyEvent::WebhookDeliveryRequested(request) => self.on_request(request, ctx),
            other => Err(ProcessError::Rejected(format!(
                "the webhook sink does not handle {}",
                other.event_type()
            ))),
        }
    }

    fn punctuate(&mut self, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        self.fire_due(ctx)
    }
}
