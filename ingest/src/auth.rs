//! API keys: a request to a protected route names one as `Authorization: Bearer <key>`.
//!
//! Keys are held only as SHA-256 digests, so comparing a presented key reveals nothing useful
//! about a stored one, and a key never appears in a log: requests are logged by the key's name.

use std::path::PathBuf;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::problem::{Problem, ProblemKind};
use crate::server::Gateway;

/// Shortest key accepted, in characters: short keys can be guessed.
pub const KEY_MIN_CHARS: usize = 16;

/// One API key as configured: the key itself, or a file holding it (as Kubernetes mounts
/// secrets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySetting {
    /// Who holds the key; logged instead of the key.
    pub name: String,
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
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

/// The accepted keys, by name and digest.
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<(String, [u8; 32])>,
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
            keys.push((name, digest(&key)));
        }
        Ok(Self { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The name of the key presented in `Authorization`, if it is one of ours.
    fn holder(&self, authorization: Option<&str>) -> Option<&str> {
        let presented = authorization?.strip_prefix("Bearer ")?.trim();
        let presented = digest(presented);
        self.keys
            .iter()
            .find(|(_, d)| *d == presented)
            .map(|(name, _)| name.as_str())
    }
}

/// Lets a request through only with a valid key; `401` with `WWW-Authenticate` otherwise.
pub async fn require_key(
    State(gateway): State<Gateway>,
    request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match gateway.api_keys.holder(authorization) {
        Some(holder) => {
            tracing::debug!(api_key = holder, path = request.uri().path(), "authorized");
            Ok(next.run(request).await)
        }
        None if gateway.api_keys.is_empty() => Err(Problem::new(
            ProblemKind::Unauthorized,
            "no API keys are configured (gateway.api_keys), so this route admits nobody",
        )),
        None if authorization.is_some() => Err(Problem::new(
            ProblemKind::Unauthorized,
            "the API key is not valid",
        )),
        None => Err(Problem::new(
            ProblemKind::Unauthorized,
            "send an API key as `Authorization: Bearer <key>`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        ApiKeys::load(&[ApiKeySetting {
            name: "shop".into(),
            key: Some("0123456789abcdef-key".into()),
            key_file: None,
        }])
        .unwrap()
    }

    #[test]
    fn only_a_configured_bearer_key_is_accepted() {
        let keys = keys();
        assert_eq!(
            keys.holder(Some("Bearer 0123456789abcdef-key")),
            Some("shop")
        );
        assert_eq!(keys.holder(Some("Bearer 0123456789abcdef-kex")), None);
        assert_eq!(keys.holder(Some("Basic 0123456789abcdef-key")), None);
        assert_eq!(keys.holder(None), None);
    }

    #[test]
    fn a_key_comes_from_exactly_one_place_and_is_long_enough() {
        let short = ApiKeySetting {
            name: "s".into(),
            key: Some("short".into()),
            key_file: None,
        };
        assert!(matches!(
            ApiKeys::load(&[short]),
            Err(KeyError::Short { .. })
        ));
        let neither = ApiKeySetting {
            name: "n".into(),
            key: None,
            key_file: None,
        };
        assert!(matches!(
            ApiKeys::load(&[neither]),
            Err(KeyError::Source { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "from-a-mounted-secret-file\n").unwrap();
        let file = ApiKeySetting {
            name: "f".into(),
            key: None,
            key_file: Some(path),
        };
        let keys = ApiKeys::load(&[file]).unwrap();
        assert_eq!(
            keys.holder(Some("Bearer from-a-mounted-secret-file")),
            Some("f")
        );
    }
}
