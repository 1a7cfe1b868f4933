//! inventory: keeps the stock of every SKU and reserves it for order lines.
//!
//! An order is keyed by order id but stock by SKU, so the order is split here into one
//! reservation request per line, keyed by SKU (a repartition, as Kafka Streams does it). The
//! instance that owns a SKU's partition decides each request against that SKU's stock and
//! answers with a result keyed by order id again, for the order saga to gather.

mod stock;

use orderflow_schemas::events::{
    AnyEvent, OrderCreated, StockLevel, StockReleaseRequested, StockReservationRequested,
    StockReservationResult, StockSet,
};
use orderflow_schemas::EventType;

use crate::runtime::{Context, ProcessError, Processor, Topology};
use stock::{LineState, Reservation, Stock};

pub struct Inventory;

impl Processor for Inventory {
    fn topology(&self) -> Topology {
        Topology {
            name: "inventory",
            stateless_inputs: &[EventType::OrderCreated],
            stateful_inputs: &[
                EventType::StockReservationRequested,
                EventType::StockSet,
                EventType::StockReleaseRequested,
            ],
            store: "stock",
            outputs: &[
                EventType::StockReservationRequested,
                EventType::StockReservationResult,
                EventType::StockLevel,
            ],
        }
    }

    fn process(&mut self, event: AnyEvent, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        match event {
            AnyEvent::OrderCreated(order) => split(&order, ctx),
            AnyEvent::StockSet(set) => set_total(&set, ctx),
            AnyEvent::StockReservationRequested(request) => reserve(&request, ctx),
            AnyEvent::StockReleaseRequested(release) => self::release(&release, ctx),
            other => Err(ProcessError::Rejected(format!(
                "inventory does not handle {}",
                other.event_type()
            ))),
        }
    }
}

fn stock_key(sku: &str) -> String {
    format!("stock/{sku}")
}

fn reservation_key(request_sku: &str, order: &str) -> String {
    format!("reservation/{request_sku}/{order}")
}

/// One reservation request per line, keyed by SKU.
fn split(order: &OrderCreated, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    for item in &order.items {
        ctx.emit(&StockReservationRequested {
            order_id: order.order_id,
            sku: item.sku.clone(),
            quantity: item.quantity,
        })?;
    }
    Ok(())
}

fn emit_level(
    sku: &orderflow_schemas::Sku,
    stock: &Stock,
    ctx: &mut Context<'_>,
) -> Result<(), ProcessError> {
    let level = StockLevel {
        sku: sku.clone(),
        total: stock.total,
        reserved: stock.reserved,
        available: stock.available(),
        changed_at_ms: ctx.now_ms(),
    };
    ctx.emit(&level)
}

fn set_total(set: &StockSet, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let key = stock_key(set.sku.as_str());
    let mut stock: Stock = ctx.store()?.get(&key)?.unwrap_or_default();
    stock
        .set_total(set.total)
        .map_err(|e| ProcessError::Rejected(format!("stock of {}: {e}", set.sku)))?;
    ctx.store()?.put(&key, &stock)?;
    emit_level(&set.sku, &stock, ctx)
}

/// Reserves a line's quantity if the SKU has it available. A request seen before (the same
/// order and SKU) is ignored, so a replayed order never reserves twice.
fn reserve(request: &StockReservationRequested, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let order = request.order_id.to_string();
    let line_key = reservation_key(request.sku.as_str(), &order);
    if ctx.store()?.get::<Reservation>(&line_key)?.is_some() {
        return Ok(());
    }
    if request.quantity <= 0 {
        return Err(ProcessError::Rejected(format!(
            "order {order} asks for {} units of {}",
            request.quantity, request.sku
        )));
    }
    let key = stock_key(request.sku.as_str());
    let mut stock: Stock = ctx.store()?.get(&key)?.unwrap_or_default();
    let reserved = stock.reserve(i64::from(request.quantity));
    let state = if reserved {
        LineState::Reserved
    } else {
        LineState::Rejected
    };
    let line = Reservation {
        quantity: request.quantity,
        state,
    };
    ctx.store()?.put(&line_key, &line)?;
    if reserved {
        ctx.store()?.put(&key, &stock)?;
        emit_level(&request.sku, &stock, ctx)?;
    }
    ctx.emit(&StockReservationResult {
        order_id: request.order_id,
        sku: request.sku.clone(),
        quantity: request.quantity,
        reserved,
        available: stock.available(),
    })
}

/// Gives back what a line reserved; anything else (never reserved, already released) is a
/// no-op, so releases may be repeated safely.
fn release(release: &StockReleaseRequested, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let line_key = reservation_key(release.sku.as_str(), &release.order_id.to_string());
    let Some(mut line) = ctx.store()?.get::<Reservation>(&line_key)? else {
        return Ok(());
    };
    if line.state != LineState::Reserved {
        return Ok(());
    }
    let key = stock_key(release.sku.as_str());
    let mut stock: Stock = ctx.store()?.get(&key)?.unwrap_or_default();
    stock.release(i64::from(line.quantity));
    line.state = LineState::Released;
    ctx.store()?.put(&line_key, &line)?;
    ctx.store()?.put(&key, &stock)?;
    emit_level(&release.sku, &stock, ctx)
}
