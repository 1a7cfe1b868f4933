//! Signing secrets: `whsec_` followed by the base64 of 24 to 64 random bytes.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub const SECRET_PREFIX: &str = "whsec_";
pub const MIN_SECRET_BYTES: usize = 24;
pub const MAX_SECRET_BYTES: usize = 64;
/// Length of the secrets orderflow generates.
const GENERATED_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret starts with '{SECRET_PREFIX}'")]
    Prefix,
    #[error("the part after '{SECRET_PREFIX}' is not valid base64")]
    Base64,
    #[error("a signing secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, this one {0}")]
    Length(usize),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// The key bytes behind a `whsec_` secret. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    key: Vec<u8>,
}

impl SigningSecret {
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = vec![0u8; GENERATED_SECRET_BYTES];
        getrandom::fill(&mut key).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(Self { key })
    }

    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self { key })
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The `whsec_...` form handed to the subscriber once, at creation.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_round_trip_and_differ() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(SigningSecret::parse(&a.expose()).unwrap(), a);
        assert!(!format!("{a:?}").contains(&a.expose()[6..]));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(SigningSecret::parse("abc"), Err(SecretError::Prefix));
        assert_eq!(SigningSecret::parse("whsec_!!!"), Err(SecretError::Base64));
        let short = format!("whsec_{}", STANDARD.encode([0u8; 8]));
        assert_eq!(SigningSecret::parse(&short), Err(SecretError::Length(8)));
        let long = format!("whsec_{}", STANDARD.encode([0u8; 65]));
        assert_eq!(SigningSecret::parse(&long), Err(SecretError::Length(65)));
    }
}
