//! The stock of one SKU and the state of one order line's reservation.
//!
//! Invariant at every committed point: `0 <= reserved <= total`, so that
//! `reserved + available == total` with `available >= 0`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    pub total: i64,
    pub reserved: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StockError {
    #[error("total {total} is negative")]
    NegativeTotal { total: i64 },
    #[error("total {total} is below the {reserved} units reserved for open orders")]
    BelowReserved { total: i64, reserved: i64 },
}

impl Stock {
    pub fn available(&self) -> i64 {
        self.total - self.reserved
    }

    /// Sets the units owned. Lowering it below what open orders hold would break the
    /// invariant, so such a change is refused rather than clamped.
    pub fn set_total(&mut self, total: i64) -> Result<(), StockError> {
        if total < 0 {
            return Err(StockError::NegativeTotal { total });
        }
        if total < self.reserved {
            return Err(StockError::BelowReserved {
                total,
                reserved: self.reserved,
            });
        }
        self.total = total;
        Ok(())
    }

    /// Reserves `quantity` if that many are available; all or nothing.
    pub fn reserve(&mut self, quantity: i64) -> bool {
        if quantity <= 0 || quantity > self.available() {
            return false;
        }
        self.reserved += quantity;
        true
    }

    pub fn release(&mut self, quantity: i64) {
        self.reserved = (self.reserved - quantity).max(0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineState {
    Reserved,
    Rejected,
    Released,
}

/// What one order line got from one SKU; kept so that repeated requests and releases are
/// recognised. Known shortcoming: these records are never expired, so the store grows by one
/// small record per order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub quantity: i32,
    pub state: LineState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_is_all_or_nothing_and_keeps_stock_conserved() {
        let mut stock = Stock::default();
        stock.set_total(5).unwrap();
        assert!(stock.reserve(3));
        assert!(!stock.reserve(3), "only 2 left");
        assert_eq!((stock.reserved, stock.available()), (3, 2));
        stock.release(3);
        assert_eq!((stock.reserved, stock.available()), (0, 5));
    }

    #[test]
    fn total_cannot_drop_below_what_is_reserved() {
        let mut stock = Stock::default();
        stock.set_total(5).unwrap();
        assert!(stock.reserve(4));
        assert_eq!(
            stock.set_total(3),
            Err(StockError::BelowReserved {
                total: 3,
                reserved: 4
            })
        );
        assert_eq!(stock.total, 5);
        assert_eq!(
            stock.set_total(-1),
            Err(StockError::NegativeTotal { total: -1 })
        );
    }

    #[test]
    fn non_positive_quantities_reserve_nothing() {
        let mut stock = Stock {
            total: 5,
            reserved: 0,
        };
        assert!(!stock.reserve(0));
        assert!(!stock.reserve(-2));
        assert_eq!(stock.reserved, 0);
    }
}
