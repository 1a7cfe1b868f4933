//! notifications: sends the customer a confirmation email for every completed order.
//!
//! Email is a side effect outside Kafka's transaction, so it is at-least-once: an email sent
//! just before a crash is sent again after the restart. Each carries a `Message-ID` derived
//! from the order's outcome event, by which mail systems recognise the repeat.

mod mailer;

pub use mailer::{MailError, Mailer, NotificationSettings, SmtpSettings, SmtpTls};

use lettre::message::header::ContentType;
use lettre::Message;
use orderflow_schemas::events::{AnyEvent, OrderCompleted};
use orderflow_schemas::EventType;

use crate::runtime::{Context, ProcessError, Processor, Topology};

pub struct Notifications {
    mailer: Mailer,
    from: String,
}

impl Notifications {
    pub fn new(settings: &NotificationSettings) -> Result<Self, MailError> {
        Ok(Self {
            mailer: Mailer::from_settings(settings)?,
            from: settings.from.clone(),
        })
    }

    fn confirm(&self, order: &OrderCompleted, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = format!("sent/{}", order.order_id);
        if ctx.store()?.get::<bool>(&key)?.is_some() {
            return Ok(());
        }
        let message = confirmation(order, &self.from)?;
        // A refusal for good goes to the dead-letter topic, so that one bad address cannot hold
        // up every later email; anything else is retried.
        self.mailer.send(&message).map_err(|e| match e {
            MailError::Refused { .. } => ProcessError::Rejected(e.to_string()),
            _ => ProcessError::Transient(e.to_string()),
        })?;
        tracing::info!(order_id = %order.order_id, "confirmation email sent");
        ctx.store()?.put(&key, &true)?;
        Ok(())
    }
}

/// Formats minor units in the currency's own number of decimals, e.g. `1234 EUR` as `12.34 EUR`.
pub fn format_amount(minor: i64, currency: &str) -> String {
    let exponent = iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .unwrap_or(2) as u32;
    if exponent == 0 {
        return format!("{minor} {currency}");
    }
    let scale = 10i64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs() as i64;
    format!(
        "{sign}{}.{:0width$} {currency}",
        minor / scale,
        minor % scale,
        width = exponent as usize
    )
}

fn confirmation(order: &OrderCompleted, from: &str) -> Result<Message, ProcessError> {
    let rejected = |what: &str, e: String| ProcessError::Rejected(format!("{what}: {e}"));
    let body = format!(
        "Thank you for your order.\n\nOrder: {}\nItems: {}\nTotal: {}\n",
        order.order_id,
        order.item_count,
        format_amount(order.total_minor, &order.currency)
    );
    Message::builder()
        .from(from.parse().map_err(|e: lettre::address::AddressError| {
            rejected("sender address", e.to_string())
        })?)
        .to(order
            .email
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                rejected("customer email", e.to_string())
            })?)
        .subject(format!("Order {} confirmed", order.order_id))
        .message_id(Some(format!("<{}@orderflow>", order.event_id)))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| rejected("email", e.to_string()))
}

impl Processor for Notifications {
    fn topology(&self) -> Topology {
        Topology {
            name: "notifications",
            stateless_inputs: &[],
            stateful_inputs: &[EventType::OrderCompleted],
            store: "sent",
            outputs: &[],
        }
    }

    fn process(&mut self, event: AnyEvent, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        match event {
            AnyEvent::OrderCompleted(order) => self.confirm(&order, ctx),
            other => Err(ProcessError::Rejected(format!(
                "notifications does not handle {}",
                other.event_type()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_use_the_currency_exponent() {
        assert_eq!(format_amount(1234, "EUR"), "12.34 EUR");
        assert_eq!(format_amount(5, "USD"), "0.05 USD");
        assert_eq!(format_amount(1500, "JPY"), "1500 JPY");
        assert_eq!(format_amount(1234, "KWD"), "1.234 KWD");
    }
}
