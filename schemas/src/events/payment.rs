//! The payment provider's answer for an order.

use serde::{Deserialize, Serialize};

use super::event;
use crate::ids::OrderId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationOutcome {
    Authorized,
    Declined,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentAuthorization {
    pub order_id: OrderId,
    pub outcome: AuthorizationOutcome,
    pub authorization_id: Option<String>,
    pub decline_reason: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
}
event!(
    PaymentAuthorization,
    PaymentAuthorization,
    "payment_authorization.avsc",
    |e| e.order_id.to_string()
);
