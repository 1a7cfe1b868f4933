//! Stock events: levels set by operators, reservations requested per order line (keyed by SKU,
//! so that one processor instance owns each SKU) and their results (keyed by order again).

use serde::{Deserialize, Serialize};

use super::event;
use crate::ids::{OrderId, Sku};

/// An operator set the total stock of a SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockSet {
    pub sku: Sku,
    pub total: i64,
    pub set_at_ms: i64,
}
event!(StockSet, StockSet, "stock_set.avsc", |e| e.sku.to_string());

/// The stock of a SKU after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockLevel {
    pub sku: Sku,
    pub total: i64,
    pub reserved: i64,
    pub available: i64,
    pub changed_at_ms: i64,
}
event!(StockLevel, StockLevel, "stock_level.avsc", |e| e
    .sku
    .to_string());

/// One line of an order asks for stock of its SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockReservationRequested {
    pub order_id: OrderId,
    pub sku: Sku,
    pub quantity: i32,
}
event!(
    StockReservationRequested,
    StockReservationRequested,
    "stock_reservation_requested.avsc",
    |e| e.sku.to_string()
);

/// A failed order gives back what one of its lines reserved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockReleaseRequested {
    pub order_id: OrderId,
    pub sku: Sku,
}
event!(
    StockReleaseRequested,
    StockReleaseRequested,
    "stock_release_requested.avsc",
    |e| e.sku.to_string()
);

/// Whether one line of an order got its stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockReservationResult {
    pub order_id: OrderId,
    pub sku: Sku,
    pub quantity: i32,
    pub reserved: bool,
    pub available: i64,
}
event!(
    StockReservationResult,
    StockReservationResult,
    "stock_reservation_result.avsc",
    |e| e.order_id.to_string()
);
