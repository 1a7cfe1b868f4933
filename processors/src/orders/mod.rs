//! orders: the saga that gathers, per order, the stock result of every line and the payment
//! decision, and emits exactly one `order.completed` or `order.failed`. A failed order gives
//! its reserved stock back. Pending orders time out; both timers live in the store, so they
//! survive restarts and move with their partition.

mod saga;

pub use saga::{Decision, Line, OrderSummary, Outcome, Payment, Saga};

use orderflow_kafka::TraceContext;
use orderflow_schemas::events::{
    AnyEvent, AuthorizationOutcome, OrderCompleted, OrderFailed, StockReleaseRequested,
};
use orderflow_schemas::{EventId, EventType, OrderId, Sku};
use serde::{Deserialize, Serialize};

use crate::runtime::{Context, ProcessError, Processor, Topology};
use crate::settings::ProcessorSettings;

/// Timers fired per partition per punctuation; the rest wait for the next one.
const TIMERS_PER_PUNCTUATION: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Timer {
    /// The order is still pending: fail it.
    Timeout,
    /// The order finished long ago: forget its saga.
    Expire,
}

pub struct Orders {
    timeout_ms: i64,
    retention_ms: i64,
}

impl Orders {
    pub fn new(settings: &ProcessorSettings) -> Self {
        Self {
            timeout_ms: settings.order_timeout_ms as i64,
            retention_ms: settings.finished_order_retention_ms as i64,
        }
    }

    fn load(&self, order_id: OrderId, ctx: &mut Context<'_>) -> Result<Saga, ProcessError> {
        if let Some(saga) = ctx.store()?.get::<Saga>(&saga_key(order_id))? {
            return Ok(saga);
        }
        let deadline = ctx.now_ms() + self.timeout_ms;
        ctx.store()?
            .put(&timer_key(deadline, order_id), &Timer::Timeout)?;
        Ok(Saga {
            deadline_ms: Some(deadline),
            trace: Some(ctx.trace().to_string()),
            ..Saga::default()
        })
    }

    /// Emits what the saga decided, schedules its expiry once nothing more can change, and
    /// stores it.
    fn settle(
        &self,
        order_id: OrderId,
        mut saga: Saga,
        decision: Decision,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        if let Some(outcome) = &decision.outcome {
            emit_outcome(order_id, &saga, outcome, ctx)?;
        }
        for sku in decision.release {
            let sku = Sku::parse(&sku).map_err(|e| ProcessError::Rejected(e.to_string()))?;
            ctx.emit(&StockReleaseRequested { order_id, sku })?;
        }
        if saga.is_settled() && saga.expires_at_ms.is_none() {
            self.schedule_expiry(order_id, &mut saga, ctx)?;
        }
        ctx.store()?.put(&saga_key(order_id), &saga)?;
        Ok(())
    }

    fn schedule_expiry(
        &self,
        order_id: OrderId,
        saga: &mut Saga,
        ctx: &mut Context<'_>,
    ) -> Result<(), ProcessError> {
        if let Some(deadline) = saga.deadline_ms.take() {
            ctx.store()?.delete(&timer_key(deadline, order_id));
        }
        let expires = ctx.now_ms() + self.retention_ms;
        saga.expires_at_ms = Some(expires);
        ctx.store()?
            .put(&timer_key(expires, order_id), &Timer::Expire)?;
        Ok(())
    }

    fn fire(&self, key: &str, timer: Timer, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        ctx.store()?.delete(key);
        let Some(order_id) = key.rsplit('/').next().and_then(|id| id.parse().ok()) else {
            return Err(ProcessError::Rejected(format!("malformed timer key {key}")));
        };
        match timer {
            Timer::Expire => {
                ctx.store()?.delete(&saga_key(order_id));
                Ok(())
            }
            Timer::Timeout => {
                let Some(mut saga) = ctx.store()?.get::<Saga>(&saga_key(order_id))? else {
                    return Ok(());
                };
                if let Some(trace) = saga.trace.as_deref().and_then(TraceContext::parse) {
                    ctx.continue_trace(trace);
                }
                saga.deadline_ms = None;
                let decision = saga.on_timeout();
                if decision.outcome.is_some() {
                    tracing::info!(order_id = %order_id, "order timed out");
                }
                // The saga waited as long as it will; forget it after the retention.
                if saga.expires_at_ms.is_none() {
                    self.schedule_expiry(order_id, &mut saga, ctx)?;
                }
                self.settle(order_id, saga, decision, ctx)
            }
        }
    }
}

fn saga_key(order_id: OrderId) -> String {
    format!("saga/{order_id}")
}

/// Zero-padded so that timers sort by due time.
fn timer_key(due_ms: i64, order_id: OrderId) -> String {
    format!("timer/{due_ms:013}/{order_id}")
}

fn emit_outcome(
    order_id: OrderId,
    saga: &Saga,
    outcome: &Outcome,
    ctx: &mut Context<'_>,
) -> Result<(), ProcessError> {
    let Some(order) = &saga.order else {
        tracing::warn!(order_id = %order_id, "outcome for an order never seen; nothing to emit");
        return Ok(());
    };
    match outcome {
        Outcome::Completed { authorization_id } => {
            tracing::info!(order_id = %order_id, "order completed");
            ctx.emit(&OrderCompleted {
                event_id: EventId::for_outcome(order_id, EventType::OrderCompleted.as_str()),
                order_id,
                customer_id: order.customer_id.clone(),
                email: order.email.clone(),
                currency: order.currency.clone(),
                total_minor: order.total_minor,
                item_count: order.lines.values().sum(),
                authorization_id: authorization_id.clone(),
                completed_at_ms: ctx.now_ms(),
            })
        }
        Outcome::Failed { reason, detail } => {
            tracing::info!(order_id = %order_id, reason = reason.as_str(), "order failed");
            ctx.emit(&OrderFailed {
                event_id: EventId::for_outcome(order_id, EventType::OrderFailed.as_str()),
                order_id,
                customer_id: order.customer_id.clone(),
                reason: *reason,
                detail: detail.clone(),
                failed_at_ms: ctx.now_ms(),
            })
        }
    }
}

impl Processor for Orders {
    fn topology(&self) -> Topology {
        Topology {
            name: "orders",
            stateless_inputs: &[],
            stateful_inputs: &[
                EventType::OrderCreated,
                EventType::StockReservationResult,
                EventType::PaymentAuthorization,
            ],
            store: "sagas",
            outputs: &[
                EventType::OrderCompleted,
                EventType::OrderFailed,
                EventType::StockReleaseRequested,
            ],
        }
    }

    fn process(&mut self, event: AnyEvent, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let order_id = match &event {
            AnyEvent::OrderCreated(e) => e.order_id,
            AnyEvent::StockReservationResult(e) => e.order_id,
            AnyEvent::PaymentAuthorization(e) => e.order_id,
            other => {
                return Err(ProcessError::Rejected(format!(
                    "orders does not handle {}",
                    other.event_type()
                )))
            }
        };
        let mut saga = self.load(order_id, ctx)?;
        match event {
            AnyEvent::OrderCreated(order) => saga.on_created(&order),
            AnyEvent::StockReservationResult(line) => {
                saga.on_line(line.sku.as_str(), line.quantity, line.reserved)
            }
            AnyEvent::PaymentAuthorization(payment) => saga.on_payment(match payment.outcome {
                AuthorizationOutcome::Authorized => Payment::Authorized {
                    authorization_id: payment.authorization_id.unwrap_or_default(),
                },
                AuthorizationOutcome::Declined => Payment::Declined {
                    reason: payment.decline_reason.unwrap_or_default(),
                },
            }),
            _ => {}
        }
        let decision = saga.decide();
        self.settle(order_id, saga, decision, ctx)
    }

    fn punctuate(&mut self, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let until = format!("timer/{:013}", ctx.now_ms() + 1);
        let due: Vec<(String, Timer)> =
            ctx.store()?
                .range("timer/", &until, TIMERS_PER_PUNCTUATION)?;
        for (key, timer) in due {
            self.fire(&key, timer, ctx)?;
        }
        Ok(())
    }
}
