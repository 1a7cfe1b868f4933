//! The body of `POST /v1/orders`, checked field by field so that one answer names every bad
//! field at once.

use std::collections::BTreeMap;

use orderflow_schemas::events::{IdempotencyKey, OrderCreated, OrderItem};
use orderflow_schemas::{CustomerId, OrderId, PaymentToken, Sku};
use serde_json::{Map, Value};

use crate::problem::FieldError;

/// Most lines one order may have.
pub const MAX_LINES: usize = 100;
/// Most units of one SKU in one line.
pub const MAX_QUANTITY: i64 = 10_000;
/// Highest unit price, in minor units; with the other limits the total cannot overflow.
pub const MAX_UNIT_PRICE_MINOR: i64 = 1_000_000_000_000;
/// Longest email address (RFC 5321 path limit), in characters.
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest payment token, in characters.
pub const MAX_TOKEN_CHARS: usize = 256;
/// Most metadata entries one order may carry.
pub const MAX_METADATA_ENTRIES: usize = 50;
/// Longest metadata key, and longest value, in characters.
pub const MAX_METADATA_KEY_CHARS: usize = 40;
pub const MAX_METADATA_VALUE_CHARS: usize = 500;

const ORDER_FIELDS: [&str; 6] = [
    "customer_id",
    "email",
    "currency",
    "payment_token",
    "items",
    "metadata",
];
const ITEM_FIELDS: [&str; 3] = ["sku", "quantity", "unit_price"];

/// A valid order request, before it gets an id.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    pub customer_id: CustomerId,
    pub email: String,
    pub currency: String,
    pub payment_token: PaymentToken,
    pub items: Vec<OrderItem>,
    pub metadata: BTreeMap<String, String>,
}

impl OrderRequest {
    pub fn into_event(
        self,
        order_id: OrderId,
        created_at_ms: i64,
        idempotency: Option<IdempotencyKey>,
    ) -> OrderCreated {
        let total_minor = self
            .items
            .iter()
            .map(|i| i64::from(i.quantity) * i.unit_price_minor)
            .sum();
        OrderCreated {
            order_id,
            customer_id: self.customer_id,
            email: self.email,
            currency: self.currency,
            items: self.items,
            total_minor,
            payment_token: self.payment_token,
            created_at_ms,
            metadata: self.metadata,
            idempotency,
        }
    }
}

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, pointer: &str, detail: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, detail));
    }

    fn unknown_fields(&mut self, object: &Map<String, Value>, known: &[&str], prefix: &str) {
        for name in object.keys().filter(|k| !known.contains(&k.as_str())) {
            self.fail(&format!("{prefix}/{name}"), "is not a known field");
        }
    }

    fn string<'v>(
        &mut self,
        object: &'v Map<String, Value>,
        name: &str,
        prefix: &str,
    ) -> Option<&'v str> {
        let pointer = format!("{prefix}/{name}");
        match object.get(name) {
            None | Some(Value::Null) => {
                self.fail(&pointer, "is required");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.fail(&pointer, "must be a string");
                None
            }
        }
    }

    fn integer(
        &mut self,
        object: &Map<String, Value>,
        name: &str,
        prefix: &str,
        range: (i64, i64),
    ) -> Option<i64> {
        let pointer = format!("{prefix}/{name}");
        let (min, max) = range;
        match object.get(name) {
            None | Some(Value::Null) => {
                self.fail(&pointer, "is required");
                None
            }
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Some(v),
                _ => {
                    self.fail(
                        &pointer,
                        format!("must be a whole number from {min} to {max}"),
                    );
                    None
                }
            },
            Some(_) => {
                self.fail(&pointer, "must be a number");
                None
            }
        }
    }

    fn item(&mut self, index: usize, value: &Value) -> Option<OrderItem> {
        let prefix = format!("/items/{index}");
        let Value::Object(item) = value else {
            self.fail(
                &prefix,
                "must be an object with sku, quantity and unit_price",
            );
            return None;
        };
        self.unknown_fields(item, &ITEM_FIELDS, &prefix);
        let sku = self
            .string(item, "sku", &prefix)
            .and_then(|s| match Sku::parse(s) {
                Ok(sku) => Some(sku),
                Err(e) => {
                    self.fail(&format!("{prefix}/sku"), e.to_string());
                    None
                }
            });
        let quantity = self.integer(item, "quantity", &prefix, (1, MAX_QUANTITY));
        let unit_price = self.integer(item, "unit_price", &prefix, (0, MAX_UNIT_PRICE_MINOR));
        Some(OrderItem {
            sku: sku?,
            quantity: i32::try_from(quantity?).ok()?,
            unit_price_minor: unit_price?,
        })
    }

    /// The client's own key-value pairs: any text, kept exactly as sent, within size bounds.
    fn metadata(&mut self, object: &Map<String, Value>) -> BTreeMap<String, String> {
        let entries = match object.get("metadata") {
            None | Some(Value::Null) => return BTreeMap::new(),
            Some(Value::Object(entries)) => entries,
            Some(_) => {
                self.fail("/metadata", "must be an object of strings");
                return BTreeMap::new();
            }
        };
        if entries.len() > MAX_METADATA_ENTRIES {
            let detail = format!("must hold at most {MAX_METADATA_ENTRIES} entries");
            self.fail("/metadata", detail);
            return BTreeMap::new();
        }
        let mut metadata = BTreeMap::new();
        for (key, value) in entries {
            let pointer = format!("/metadata/{}", key.replace('~', "~0").replace('/', "~1"));
            let key_chars = key.chars().count();
            if key_chars == 0 || key_chars > MAX_METADATA_KEY_CHARS {
                let detail = format!("keys must hold 1 to {MAX_METADATA_KEY_CHARS} characters");
                self.fail(&pointer, detail);
                continue;
            }
            match value {
                Value::String(text) if text.chars().count() <= MAX_METADATA_VALUE_CHARS => {
                    metadata.insert(key.clone(), text.clone());
                }
                Value::String(_) => {
                    let detail = format!("must be at most {MAX_METADATA_VALUE_CHARS} characters");
                    self.fail(&pointer, detail);
                }
                _ => self.fail(&pointer, "must be a string"),
            }
        }
        metadata
    }

    fn items(&mut self, object: &Map<String, Value>) -> Vec<OrderItem> {
        let lines = match object.get("items") {
            None | Some(Value::Null) => {
                self.fail("/items", "is required");
                return Vec::new();
            }
            Some(Value::Array(lines)) => lines,
            Some(_) => {
                self.fail("/items", "must be an array");
                return Vec::new();
            }
        };
        if lines.is_empty() || lines.len() > MAX_LINES {
            self.fail("/items", format!("must hold 1 to {MAX_LINES} lines"));
            return Vec::new();
        }
        let mut items: Vec<OrderItem> = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            let Some(item) = self.item(index, line) else {
                continue;
            };
            if let Some(first) = items.iter().position(|i| i.sku == item.sku) {
                self.fail(
                    &format!("/items/{index}/sku"),
                    format!(
                        "repeats the SKU of /items/{first}; order it once with the total quantity"
                    ),
                );
                continue;
            }
            items.push(item);
        }
        items
    }
}

/// Checks a parsed body; the errors name each bad field by JSON Pointer.
pub fn validate(body: &Value) -> Result<OrderRequest, Vec<FieldError>> {
    let Value::Object(order) = body else {
        return Err(vec![FieldError::new("", "must be a JSON object")]);
    };
    let mut check = Checker { errors: Vec::new() };
    check.unknown_fields(order, &ORDER_FIELDS, "");

    let customer_id = check.string(order, "customer_id", "").and_then(|s| {
        CustomerId::parse(s)
            .map_err(|e| check.fail("/customer_id", e.to_string()))
            .ok()
    });
    let email = check.string(order, "email", "").and_then(|s| {
        let valid =
            s.chars().count() <= MAX_EMAIL_CHARS && email_address::EmailAddress::is_valid(s);
        if !valid {
            check.fail("/email", "must be an email address");
        }
        valid.then(|| s.to_owned())
    });
    let currency = check.string(order, "currency", "").and_then(|s| {
        let known = s.len() == 3
            && s.chars().all(|c| c.is_ascii_uppercase())
            && iso_currency::Currency::from_code(s).is_some();
        if !known {
            check.fail(
                "/currency",
                "must be an ISO 4217 currency code such as EUR or USD",
            );
        }
        known.then(|| s.to_owned())
    });
    let payment_token = check.string(order, "payment_token", "").and_then(|s| {
        let valid = !s.trim().is_empty() && s.chars().count() <= MAX_TOKEN_CHARS;
        if !valid {
            check.fail(
                "/payment_token",
                format!("must hold 1 to {MAX_TOKEN_CHARS} characters"),
            );
        }
        valid.then(|| PaymentToken::new(s.to_owned()))
    });
    let items = check.items(order);
    let metadata = check.metadata(order);

    match (
        customer_id,
        email,
        currency,
        payment_token,
        check.errors.is_empty(),
    ) {
        (Some(customer_id), Some(email), Some(currency), Some(payment_token), true) => {
            Ok(OrderRequest {
                customer_id,
                email,
                currency,
                payment_token,
                items,
                metadata,
            })
        }
        _ => Err(check.errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "customer_id": "cust_42",
            "email": "ada@example.com",
            "currency": "EUR",
            "payment_token": "tok_visa",
            "items": [{"sku": "DOG-FOOD", "quantity": 2, "unit_price": 1299}]
        })
    }

    fn pointers(body: Value) -> Vec<String> {
        validate(&body)
            .unwrap_err()
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn a_valid_order_totals_its_lines() {
        let request = validate(&valid()).unwrap();
        let event = request.into_event(OrderId::new_v7(), 0, None);
        assert_eq!(event.total_minor, 2598);
    }

    #[test]
    fn every_bad_field_is_named() {
        let body = json!({
            "customer_id": "",
            "email": "not-an-email",
            "currency": "XXY",
            "items": [{"sku": "A", "quantity": 0, "unit_price": -1}, "x"],
            "colour": "red"
        });
        let mut found = pointers(body);
        found.sort();
        assert_eq!(
            found,
            vec![
                "/colour",
                "/currency",
                "/customer_id",
                "/email",
                "/items/0/quantity",
                "/items/0/unit_price",
                "/items/1",
                "/payment_token",
            ]
        );
    }

    #[test]
    fn quantities_must_be_positive_whole_numbers() {
        for quantity in [
            json!(0),
            json!(-3),
            json!(1.5),
            json!("2"),
            json!(MAX_QUANTITY + 1),
        ] {
            let mut body = valid();
            body["items"][0]["quantity"] = quantity.clone();
            assert_eq!(pointers(body), vec!["/items/0/quantity"], "{quantity}");
        }
    }

    #[test]
    fn repeated_skus_and_empty_orders_are_refused() {
        let mut body = valid();
        body["items"] = json!([
            {"sku": "A", "quantity": 1, "unit_price": 1},
            {"sku": "A", "quantity": 1, "unit_price": 1}
        ]);
        assert_eq!(pointers(body), vec!["/items/1/sku"]);
        let mut empty = valid();
        empty["items"] = json!([]);
        assert_eq!(pointers(empty), vec!["/items"]);
    }

    #[test]
    fn metadata_keeps_any_text_and_names_bad_entries() {
        let mut body = valid();
        body["metadata"] = json!({"gift 🎁": "für Oma\u{2028}🐕", "a/b": "x"});
        let request = validate(&body).unwrap();
        assert_eq!(request.metadata["gift 🎁"], "für Oma\u{2028}🐕");
        body["metadata"] = json!({"a/b": 1, "": "x", "long": "v".repeat(501)});
        let mut bad = pointers(body);
        bad.sort();
        assert_eq!(bad, vec!["/metadata/", "/metadata/a~1b", "/metadata/long"]);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert_eq!(pointers(json!([1, 2])), vec![""]);
    }
}
