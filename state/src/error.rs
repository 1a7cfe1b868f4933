//! What can go wrong with local state.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the state store at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("cannot remove the state store at {path}: {source}")]
    Destroy {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("state store at {path} failed to {operation}: {source}")]
    Io {
        path: PathBuf,
        operation: &'static str,
        #[source]
        source: rocksdb::Error,
    },
    #[error("state value under key {key:?} is not valid: {source}")]
    Value {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}
