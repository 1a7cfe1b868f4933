//! The life of one order as the saga sees it, free of Kafka: events in, decisions out.

use std::collections::BTreeMap;

use orderflow_schemas::events::{FailureReason, OrderCreated};
use orderflow_schemas::CustomerId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub customer_id: CustomerId,
    pub email: String,
    pub currency: String,
    pub total_minor: i64,
    /// Units ordered per SKU.
    pub lines: BTreeMap<String, i32>,
}

impl From<&OrderCreated> for OrderSummary {
    fn from(order: &OrderCreated) -> Self {
        Self {
            customer_id: order.customer_id.clone(),
            email: order.email.clone(),
            currency: order.currency.clone(),
            total_minor: order.total_minor,
            lines: order
                .items
                .iter()
                .map(|i| (i.sku.to_string(), i.quantity))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    Reserved { quantity: i32 },
    Rejected,
    Released,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payment {
    Authorized { authorization_id: String },
    Declined { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed {
        authorization_id: String,
    },
    Failed {
        reason: FailureReason,
        detail: String,
    },
}

/// What the processor must do after the saga took in an event.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// The outcome, when this event decided it; it is emitted exactly once.
    pub outcome: Option<Outcome>,
    /// SKUs whose reservation for this order must be given back.
    pub release: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Saga {
    pub order: Option<OrderSummary>,
    pub lines: BTreeMap<String, Line>,
    pub payment: Option<Payment>,
    pub outcome: Option<Outcome>,
    /// When the pending order times out, in epoch milliseconds.
    pub deadline_ms: Option<i64>,
    /// When the finished saga is forgotten, in epoch milliseconds.
    pub expires_at_ms: Option<i64>,
    /// The order's `traceparent`, so that a timeout's outcome joins the order's trace.
    #[serde(default)]
    pub trace: Option<String>,
}

impl Saga {
    /// A repeated `order.created` leaves the saga as it is.
    pub fn on_created(&mut self, order: &OrderCreated) {
        if self.order.is_none() {
            self.order = Some(OrderSummary::from(order));
        }
    }

    /// The first result for a line counts; repeats are ignored.
    pub fn on_line(&mut self, sku: &str, quantity: i32, reserved: bool) {
        let line = if reserved {
            Line::Reserved { quantity }
        } else {
            Line::Rejected
        };
        self.lines.entry(sku.to_owned()).or_insert(line);
    }

    pub fn on_payment(&mut self, payment: Payment) {
        if self.payment.is_none() {
            self.payment = Some(payment);
        }
    }

    /// The deadline passed: a still pending order fails.
    pub fn on_timeout(&mut self) -> Decision {
        if self.outcome.is_none() {
            let detail = "no stock and payment decision before the order timed out".to_owned();
            self.outcome = Some(Outcome::Failed {
                reason: FailureReason::Timeout,
                detail,
            });
            let mut decision = self.release_reserved();
            decision.outcome = self.outcome.clone();
            return decision;
        }
        Decision::default()
    }

    /// Decides the outcome once the facts allow it: any line without stock or a declined
    /// payment fails the order; stock for every line and an authorized payment complete it.
    /// A failed order gives back every reserved line, including lines reserved later.
    pub fn decide(&mut self) -> Decision {
        let mut newly = None;
        if self.outcome.is_none() {
            if let Some(order) = &self.order {
                newly = self.outcome_for(order);
                self.outcome = newly.clone();
            }
        }
        let mut decision = match self.outcome {
            Some(Outcome::Failed { .. }) => self.release_reserved(),
            _ => Decision::default(),
        };
        decision.outcome = newly;
        decision
    }

    fn outcome_for(&self, order: &OrderSummary) -> Option<Outcome> {
        if let Some(sku) = order
            .lines
            .keys()
            .find(|sku| self.lines.get(*sku) == Some(&Line::Rejected))
        {
            return Some(Outcome::Failed {
                reason: FailureReason::OutOfStock,
                detail: format!("not enough stock of {sku}"),
            });
        }
        match &self.payment {
            Some(Payment::Declined { reason }) => Some(Outcome::Failed {
                reason: FailureReason::PaymentDeclined,
                detail: format!("payment declined: {reason}"),
            }),
            Some(Payment::Authorized { authorization_id }) => {
                let all_reserved = order
                    .lines
                    .keys()
                    .all(|sku| matches!(self.lines.get(sku), Some(Line::Reserved { .. })));
                all_reserved.then(|| Outcome::Completed {
                    authorization_id: authorization_id.clone(),
                })
            }
            None => None,
        }
    }

    fn release_reserved(&mut self) -> Decision {
        let mut release = Vec::new();
        for (sku, line) in self.lines.iter_mut() {
            if matches!(line, Line::Reserved { .. }) {
                *line = Line::Released;
                release.push(sku.clone());
            }
        }
        Decision {
            outcome: None,
            release,
        }
    }

    /// Decided, and every line of the order answered: nothing more can change.
    pub fn is_settled(&self) -> bool {
        match (&self.outcome, &self.order) {
            (Some(_), Some(order)) => order.lines.keys().all(|s| self.lines.contains_key(s)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_schemas::events::OrderItem;
    use orderflow_schemas::{OrderId, PaymentToken, Sku};

    fn order(lines: &[(&str, i32)]) -> OrderCreated {
        OrderCreated {
            order_id: OrderId::new_v7(),
            customer_id: CustomerId::parse("c1").unwrap(),
            email: "a@example.com".into(),
            currency: "EUR".into(),
            items: lines
                .iter()
                .map(|(sku, quantity)| OrderItem {
                    sku: Sku::parse(sku).unwrap(),
                    quantity: *quantity,
                    unit_price_minor: 100,
                })
                .collect(),
            total_minor: 100,
            payment_token: PaymentToken::new("tok_visa".into()),
            created_at_ms: 0,
            metadata: Default::default(),
            idempotency: None,
        }
    }

    fn authorized() -> Payment {
        Payment::Authorized {
            authorization_id: "auth_1".into(),
        }
    }

    #[test]
    fn completes_once_every_line_is_reserved_and_payment_authorized() {
        let mut saga = Saga::default();
        saga.on_created(&order(&[("A", 1), ("B", 2)]));
        saga.on_line("A", 1, true);
        saga.on_payment(authorized());
        assert_eq!(saga.decide(), Decision::default(), "B is still pending");
        saga.on_line("B", 2, true);
        let decision = saga.decide();
        assert!(matches!(decision.outcome, Some(Outcome::Completed { .. })));
        assert!(decision.release.is_empty());
        assert!(saga.is_settled());
        assert_eq!(
            saga.decide(),
            Decision::default(),
            "the outcome is decided only once"
        );
    }

    #[test]
    fn failed_payment_releases_reserved_stock() {
        let mut saga = Saga::default();
        saga.on_created(&order(&[("A", 1), ("B", 1)]));
        saga.on_line("A", 1, true);
        saga.on_payment(Payment::Declined {
            reason: "card_declined".into(),
        });
        let decision = saga.decide();
        assert!(matches!(
            decision.outcome,
            Some(Outcome::Failed {
                reason: FailureReason::PaymentDeclined,
                ..
            })
        ));
        assert_eq!(decision.release, vec!["A".to_owned()]);

        saga.on_line("B", 1, true);
        let late = saga.decide();
        assert_eq!(late.outcome, None);
        assert_eq!(
            late.release,
            vec!["B".to_owned()],
            "a line reserved late is released too"
        );
        assert!(saga.is_settled());
    }

    #[test]
    fn a_line_without_stock_fails_the_order_even_if_payment_is_authorized() {
        let mut saga = Saga::default();
        saga.on_payment(authorized());
        saga.on_line("A", 1, false);
        assert_eq!(
            saga.decide(),
            Decision::default(),
            "order.created not seen yet"
        );
        saga.on_created(&order(&[("A", 1)]));
        assert!(matches!(
            saga.decide().outcome,
            Some(Outcome::Failed {
                reason: FailureReason::OutOfStock,
                ..
            })
        ));
    }

    #[test]
    fn timeout_fails_a_pending_order_and_releases_its_stock() {
        let mut saga = Saga::default();
        saga.on_created(&order(&[("A", 1), ("B", 1)]));
        saga.on_line("A", 1, true);
        let decision = saga.on_timeout();
        assert!(matches!(
            decision.outcome,
            Some(Outcome::Failed {
                reason: FailureReason::Timeout,
                ..
            })
        ));
        assert_eq!(decision.release, vec!["A".to_owned()]);
        assert_eq!(saga.on_timeout(), Decision::default());
    }

    #[test]
    fn repeated_results_count_once() {
        let mut saga = Saga::default();
        saga.on_created(&order(&[("A", 1)]));
        saga.on_line("A", 1, false);
        saga.on_line("A", 1, true);
        assert_eq!(saga.lines["A"], Line::Rejected);
    }
}
