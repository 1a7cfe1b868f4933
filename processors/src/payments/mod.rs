//! payments: authorizes the payment of every order with the payment provider, once per order.

mod provider;

pub use provider::{
    AuthorizationRequest, Decision, PaymentProvider, ProviderError, SimulatedProvider,
};

use orderflow_schemas::events::{
    AnyEvent, AuthorizationOutcome, OrderCreated, PaymentAuthorization,
};
use orderflow_schemas::EventType;
use tokio::runtime::Handle;

use crate::runtime::{Context, ProcessError, Processor, Topology};

pub struct Payments<P> {
    provider: P,
    runtime: Handle,
}

impl<P: PaymentProvider> Payments<P> {
    /// Call from within the Tokio runtime: the provider's calls run on it.
    pub fn new(provider: P) -> Self {
        Self {
            provider,
            runtime: Handle::current(),
        }
    }

    /// Asks the provider once per order; a repeated `order.created` finds the stored answer
    /// and emits nothing new.
    fn authorize(&self, order: &OrderCreated, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = format!("authorization/{}", order.order_id);
        if ctx.store()?.get::<PaymentAuthorization>(&key)?.is_some() {
            return Ok(());
        }
        let request = AuthorizationRequest {
            order_id: order.order_id,
            amount_minor: order.total_minor,
            currency: &order.currency,
            token: &order.payment_token,
        };
        // Known shortcoming: one order is authorized at a time per instance, so a slow real
        // provider bounds throughput at one round-trip per order.
        let decision = self
            .runtime
            .block_on(self.provider.authorize(&request))
            .map_err(|e| ProcessError::Transient(e.to_string()))?;
        let (outcome, authorization_id, decline_reason) = match decision {
            Decision::Authorized { authorization_id } => (
                AuthorizationOutcome::Authorized,
                Some(authorization_id),
                None,
            ),
            Decision::Declined { reason } => (AuthorizationOutcome::Declined, None, Some(reason)),
        };
        let authorization = PaymentAuthorization {
            order_id: order.order_id,
            outcome,
            authorization_id,
            decline_reason,
            amount_minor: order.total_minor,
            currency: order.currency.clone(),
        };
        tracing::debug!(order_id = %order.order_id, outcome = ?outcome, "payment decided");
        ctx.store()?.put(&key, &authorization)?;
        ctx.emit(&authorization)
    }
}

impl<P: PaymentProvider> Processor for Payments<P> {
    fn topology(&self) -> Topology {
        Topology {
            name: "payments",
            stateless_inputs: &[],
            stateful_inputs: &[EventType::OrderCreated],
            store: "authorizations",
            outputs: &[EventType::PaymentAuthorization],
        }
    }

    fn process(&mut self, event: AnyEvent, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        match event {
            AnyEvent::OrderCreated(order) => self.authorize(&order, ctx),
            other => Err(ProcessError::Rejected(format!(
                "payments does not handle {}",
                other.event_type()
            ))),
        }
    }
}
