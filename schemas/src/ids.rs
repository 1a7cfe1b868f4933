//! Typed identifiers. An id is never a bare string once it has crossed the edge of the system,
//! so an order id cannot be passed where a SKU is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Longest SKU accepted, in characters.
pub const SKU_MAX_CHARS: usize = 64;
/// Longest customer id accepted, in characters.
pub const CUSTOMER_ID_MAX_CHARS: usize = 128;

/// Ids that are UUIDs on the wire travel as their hyphenated string form, in JSON and in Avro
/// (`logicalType: uuid`), so that consumers in any language can read them.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0.hyphenated())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// An order, assigned by the gateway as a UUIDv7 so that ids sort by creation time.
    OrderId
);

uuid_id!(
    /// An outcome event. Derived from the order id and the event type, so that the one
    /// outcome of an order has the same id however often it is delivered; webhook
    /// subscribers deduplicate on it (`webhook-id`).
    EventId
);

impl OrderId {
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

impl EventId {
    /// The id of the `event_type` outcome of `order`: a UUIDv5 in the order's namespace.
    pub fn for_outcome(order: OrderId, event_type: &str) -> Self {
        Self(Uuid::new_v5(order.as_uuid(), event_type.as_bytes()))
    }
}

/// Why a textual id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, got {got}")]
    TooLong { max: usize, got: usize },
    #[error("may hold only letters, digits, '.', '_' and '-'; found {0:?}")]
    BadCharacter(char),
    /// `.` and `..` would be taken for path segments by HTTP clients, so such an id could
    /// never be addressed in a URL.
    #[error("must hold a letter, digit, '_' or '-', not only dots")]
    OnlyDots,
}

fn check_token(text: &str, max: usize) -> Result<(), IdError> {
    let chars = text.chars().count();
    if chars == 0 {
        return Err(IdError::Empty);
    }
    if chars > max {
        return Err(IdError::TooLong { max, got: chars });
    }
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(bad) => Err(IdError::BadCharacter(bad)),
        None if text.chars().all(|c| c == '.') => Err(IdError::OnlyDots),
        None => Ok(()),
    }
}

/// A stock-keeping unit: the key of every stock topic and store.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        check_token(text, SKU_MAX_CHARS).map(|()| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sku({})", self.0)
    }
}

/// The customer who placed an order, as the client's own system names them.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        check_token(text, CUSTOMER_ID_MAX_CHARS).map(|()| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomerId({})", self.0)
    }
}

/// A webhook subscription: `sub_` followed by a UUIDv7 in simple form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriptionId(String);

impl SubscriptionId {
    const PREFIX: &'static str = "sub_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, Uuid::now_v7().simple()))
    }

    /// Accepts only ids of the form this type generates, so a path segment cannot smuggle
    /// anything else into a record key.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(Self::PREFIX)?;
        let valid = rest.len() == 32 && rest.chars().all(|c| c.is_ascii_hexdigit());
        valid.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubscriptionId({})", self.0)
    }
}

/// A token from the payment provider that stands for the customer's card. It is not card
/// data, but it can authorize payments, so it is never printed: `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentToken(String);

impl PaymentToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token itself, for the payment provider only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PaymentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PaymentToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_refuses_empty_long_and_odd_characters() {
        assert_eq!(Sku::parse(""), Err(IdError::Empty));
        assert!(matches!(
            Sku::parse(&"a".repeat(SKU_MAX_CHARS + 1)),
            Err(IdError::TooLong { .. })
        ));
        assert_eq!(Sku::parse("dog food"), Err(IdError::BadCharacter(' ')));
        assert_eq!(Sku::parse(".."), Err(IdError::OnlyDots));
        assert!(Sku::parse("..5").is_ok());
        assert_eq!(
            Sku::parse("DOG-FOOD_1.5kg").unwrap().as_str(),
            "DOG-FOOD_1.5kg"
        );
    }

    #[test]
    fn outcome_event_id_is_stable_per_order_and_type() {
        let order = OrderId::new_v7();
        assert_eq!(
            EventId::for_outcome(order, "order.completed"),
            EventId::for_outcome(order, "order.completed")
        );
        assert_ne!(
            EventId::for_outcome(order, "order.completed"),
            EventId::for_outcome(order, "order.failed")
        );
    }

    #[test]
    fn payment_token_is_hidden_from_debug_output() {
        let token = PaymentToken::new("tok_visa_4242".into());
        assert!(!format!("{token:?}").contains("4242"));
    }

    #[test]
    fn subscription_id_parses_only_its_own_form() {
        let id = SubscriptionId::generate();
        assert_eq!(SubscriptionId::parse(id.as_str()), Some(id));
        assert_eq!(SubscriptionId::parse("sub_../../etc"), None);
    }
}
