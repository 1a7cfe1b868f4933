//! API keys: a request to a protected route names one as `Authorization: Bearer <key>`; each
//! key may use the routes of its scopes.
//!
//! Keys are held only as SHA-256 digests, so comparing a presented key reveals nothing useful
//! about a stored one, and a key never appears in a log: requests are logged by the key's name.

use std::path::PathBuf;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::problem::{Problem, ProblemKind};
use crate::server::Gateway;

/// Shortest key accepted, in characters: short keys can be guessed.
pub const KEY_MIN_CHARS: usize = 16;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Place orders: `POST /v1/orders`, `POST /v1/orders/batch`.
    Orders,
    /// Set stock: `PUT /v1/inventory/{sku}`.
    Inventory,
    /// Manage webhook subscriptions, their attempts and replays.
    Webhooks,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Orders, Scope::Inventory, Scope::Webhooks];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Orders => "orders",
            Scope::Inventory => "inventory",
            Scope::Webhooks => "webhooks",
        }
    }
}

/// One API key as configured: the key itself, or a file holding it (as Kubernetes mounts
/// secrets), and its scopes (every scope when none are listed).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySetting {
    /// Who holds the key; logged instead of the key, and the client idempotency keys belong to.
    pub name: String,
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub scopes: Vec<Scope>,
}

/// The holder of the key a request was authorized with, for the handlers.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

struct Holder {
    name: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("gateway.api_keys: key {name:?} needs exactly one of `key` and `key_file`")]
    Source { name: String },
    #[error("gateway.api_keys: key {name:?}: cannot read {path}: {source}")]
    File {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("gateway.api_keys: key {name:?} must be at least {KEY_MIN_CHARS} characters")]
    Short { name: String },
}

/// Loads the configured keys as the gateway would at start-up, to report what is wrong.
pub fn check_api_keys(settings: &[ApiKeySetting]) -> Result<(), KeyError> {
    ApiKeys::load(settings).map(|_| ())
}

/// The accepted keys, by name, digest and scopes.
#[derive(Default)]
pub struct ApiKeys {
    keys: Vec<Holder>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    pub fn load(settings: &[ApiKeySetting]) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for setting in settings {
            let name = setting.name.clone();
            let key = match (&setting.key, &setting.key_file) {
                (Some(key), None) => key.clone(),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map_err(|source| KeyError::File {
                        name: name.clone(),
                        path: path.clone(),
                        source,
                    })?
                    .trim()
                    .to_owned(),
                _ => return Err(KeyError::Source { name }),
            };
            if key.chars().count() < KEY_MIN_CHARS {
                return Err(KeyError::Short { name });
            }
            let scopes = if setting.scopes.is_empty() {
                Scope::ALL.to_vec()
            } else {
                setting.scopes.clone()
            };
            keys.push(Holder {
                name,
                digest: digest(&key),
                scopes,
            });
        }
        Ok(Self { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The holder of the key presented in `Authorization`, if it is one of ours.
    fn holder(&self, authorization: Option<&str>) -> Option<&Holder> {
        let presented = authorization?.strip_prefix("Bearer ")?.trim();
        let presented = digest(presented);
        self.keys.iter().find(|h| h.digest == presented)
    }

    /// Who may do what with `authorization`: the caller's name, or the problem to answer.
    pub fn authorize(&self, authorization: Option<&str>, scope: Scope) -> Result<Caller, Problem> {
        match self.holder(authorization) {
            Some(holder) if holder.scopes.contains(&scope) => Ok(Caller(holder.name.clone())),
            Some(holder) => Err(Problem::new(
                ProblemKind::Forbidden,
                format!("API key {:?} has no {} scope", holder.name, scope.as_str()),
            )),
            None => Err(unauthorized(self.is_empty(), authorization.is_some())),
        }
    }
}

fn unauthorized(no_keys: bool, presented: bool) -> Problem {
    match (no_keys, presented) {
        (true, _) => Problem::new(
            ProblemKind::Unauthorized,
            "no API keys are configured (gateway.api_keys), so this route admits nobody",
        ),
        (false, true) => Problem::new(ProblemKind::Unauthorized, "the API key is not valid"),
        (false, false) => Problem::new(
            ProblemKind::Unauthorized,
            "send an API key as `Authorization: Bearer <key>`",
        ),
    }
}

/// Lets a request through only with a valid key that has the route's scope, and hands the
/// handler the key's holder as a [`Caller`]; `401` or `403` otherwise.
pub async fn guard(
    State((gateway, scope)): State<(Gateway, Scope)>,
    mut request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = gateway.api_keys.authorize(authorization, scope)?;
    tracing::debug!(api_key = %caller.0, path = request.uri().path(), "authorized");
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str, key: Option<&str>, scopes: Vec<Scope>) -> ApiKeySetting {
        ApiKeySetting {
            name: name.into(),
            key: key.map(str::to_owned),
            key_file: None,
            scopes,
        }
    }

    fn keys() -> ApiKeys {
        ApiKeys::load(&[
            setting("shop", Some("0123456789abcdef-key"), vec![]),
            setting(
                "stock-only",
                Some("fedcba9876543210-key"),
                vec![Scope::Inventory],
            ),
        ])
        .unwrap()
    }

    fn holder_of(keys: &ApiKeys, authorization: &str) -> Option<String> {
        keys.holder(Some(authorization)).map(|h| h.name.clone())
    }

    #[test]
    fn only_a_configured_bearer_key_is_accepted() {
        let keys = keys();
        let shop = Some("shop".to_owned());
        assert_eq!(holder_of(&keys, "Bearer 0123456789abcdef-key"), shop);
        assert_eq!(holder_of(&keys, "Bearer 0123456789abcdef-kex"), None);
        assert_eq!(holder_of(&keys, "Basic 0123456789abcdef-key"), None);
        assert!(keys.holder(None).is_none());
    }

    #[test]
    fn a_key_without_the_scope_is_forbidden_and_a_bad_key_unauthorized() {
        let keys = keys();
        let stock = Some("Bearer fedcba9876543210-key");
        assert!(keys.authorize(stock, Scope::Inventory).is_ok());
        let forbidden = keys.authorize(stock, Scope::Orders).unwrap_err();
        assert_eq!(forbidden.kind, ProblemKind::Forbidden);
        let all = Some("Bearer 0123456789abcdef-key");
        assert!(Scope::ALL.iter().all(|s| keys.authorize(all, *s).is_ok()));
        let unknown = keys.authorize(Some("Bearer nope"), Scope::Orders);
        assert_eq!(unknown.unwrap_err().kind, ProblemKind::Unauthorized);
    }

    #[test]
    fn a_key_comes_from_exactly_one_place_and_is_long_enough() {
        let short = setting("s", Some("short"), vec![]);
        assert!(matches!(
            ApiKeys::load(&[short]),
            Err(KeyError::Short { .. })
        ));
        let neither = setting("n", None, vec![]);
        assert!(matches!(
            ApiKeys::load(&[neither]),
            Err(KeyError::Source { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "from-a-mounted-secret-file\n").unwrap();
        let mut file = setting("f", None, vec![]);
        file.key_file = Some(path);
        let keys = ApiKeys::load(&[file]).unwrap();
        let holder = holder_of(&keys, "Bearer from-a-mounted-secret-file");
        assert_eq!(holder, Some("f".to_owned()));
    }
}
