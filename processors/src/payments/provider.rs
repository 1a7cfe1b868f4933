//! The payment provider seen from orderflow: one call that authorizes an amount against a
//! token. The built-in simulated provider follows fixed rules so demos and tests can choose
//! an outcome; a real provider implements the same trait.

use std::future::Future;

use orderflow_schemas::{OrderId, PaymentToken};
use uuid::Uuid;

/// Amounts above this many minor units are declined by the simulated provider.
pub const SIMULATED_LIMIT_MINOR: i64 = 100_000_000;

pub struct AuthorizationRequest<'a> {
    /// Also the idempotency key towards the provider: asking twice for one order must not
    /// authorize twice.
    pub order_id: OrderId,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub token: &'a PaymentToken,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Authorized { authorization_id: String },
    Declined { reason: String },
}

/// The provider could not be asked (as opposed to saying no); the order is retried.
#[derive(Debug, thiserror::Error)]
#[error("payment provider unavailable: {0}")]
pub struct ProviderError(pub String);

pub trait PaymentProvider: Send + Sync + 'static {
    fn authorize(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> impl Future<Output = Result<Decision, ProviderError>> + Send;
}

/// Rules, by token: `tok_decline` is declined (`card_declined`), `tok_insufficient_funds` is
/// declined (`insufficient_funds`), anything not starting with `tok_` is declined
/// (`invalid_token`); amounts above [`SIMULATED_LIMIT_MINOR`] are declined
/// (`amount_over_limit`); everything else (`tok_visa`, `tok_mastercard`, ...) is authorized.
pub struct SimulatedProvider;

impl SimulatedProvider {
    pub fn decide(request: &AuthorizationRequest<'_>) -> Decision {
        let token = request.token.expose();
        let declined = |reason: &str| Decision::Declined {
            reason: reason.to_owned(),
        };
        match token {
            "tok_decline" => declined("card_declined"),
            "tok_insufficient_funds" => declined("insufficient_funds"),
            t if !t.starts_with("tok_") => declined("invalid_token"),
            _ if request.amount_minor > SIMULATED_LIMIT_MINOR => declined("amount_over_limit"),
            _ => Decision::Authorized {
                authorization_id: format!(
                    "auth_{}",
                    Uuid::new_v5(request.order_id.as_uuid(), b"authorization").simple()
                ),
            },
        }
    }
}

impl PaymentProvider for SimulatedProvider {
    async fn authorize(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<Decision, ProviderError> {
        Ok(Self::decide(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(token: &str, amount_minor: i64) -> Decision {
        let token = PaymentToken::new(token.into());
        SimulatedProvider::decide(&AuthorizationRequest {
            order_id: OrderId::new_v7(),
            amount_minor,
            currency: "EUR",
            token: &token,
        })
    }

    #[test]
    fn simulated_rules_decide_by_token_and_amount() {
        assert!(matches!(
            decide("tok_visa", 1000),
            Decision::Authorized { .. }
        ));
        assert_eq!(
            decide("tok_decline", 1000),
            Decision::Declined {
                reason: "card_declined".into()
            }
        );
        assert_eq!(
            decide("4242424242424242", 1000),
            Decision::Declined {
                reason: "invalid_token".into()
            }
        );
        assert_eq!(
            decide("tok_visa", SIMULATED_LIMIT_MINOR + 1),
            Decision::Declined {
                reason: "amount_over_limit".into()
            }
        );
    }

    #[test]
    fn the_same_order_gets_the_same_authorization_id() {
        let token = PaymentToken::new("tok_visa".into());
        let request = AuthorizationRequest {
            order_id: OrderId::new_v7(),
            amount_minor: 500,
            currency: "EUR",
            token: &token,
        };
        assert_eq!(
            SimulatedProvider::decide(&request),
            SimulatedProvider::decide(&request)
        );
    }
}
