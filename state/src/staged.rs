//! A store as processing sees it: committed state with the transaction's staged writes on top.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::changes::{Change, Changes};
use crate::error::StateError;
use crate::store::PartitionStore;

/// Reads see the writes staged for the current record first, then those staged earlier in the
/// transaction (`base`), then committed state. Writes only stage. Values are JSON, so that a
/// store's changelog topic can be read by people and tools.
pub struct StagedStore<'a> {
    store: &'a PartitionStore,
    base: &'a Changes,
    changes: &'a mut Changes,
}

impl<'a> StagedStore<'a> {
    pub fn new(store: &'a PartitionStore, base: &'a Changes, changes: &'a mut Changes) -> Self {
        Self {
            store,
            base,
            changes,
        }
    }

    pub fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>, StateError> {
        let staged = self
            .changes
            .get(key.as_bytes())
            .or_else(|| self.base.get(key.as_bytes()));
        let bytes = match staged {
            Some(Change::Put(value)) => Some(value.clone()),
            Some(Change::Delete) => None,
            None => self.store.get(key.as_bytes())?,
        };
        bytes.map(|b| decode(key, &b)).transpose()
    }

    pub fn put<V: Serialize>(&mut self, key: &str, value: &V) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(value).map_err(|source| StateError::Value {
            key: key.to_owned(),
            source,
        })?;
        self.changes.put(key.as_bytes().to_vec(), bytes);
        Ok(())
    }

    pub fn delete(&mut self, key: &str) {
        self.changes.delete(key.as_bytes().to_vec());
    }

    /// Entries with keys in `[from, to)` in key order, staged writes included, at most `limit`.
    pub fn range<V: DeserializeOwned>(
        &self,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<Vec<(String, V)>, StateError> {
        let (from, to) = (from.as_bytes(), to.as_bytes());
        let staged: Vec<(&[u8], &Change)> = self
            .base
            .range(from, to)
            .chain(self.changes.range(from, to))
            .collect();
        // Each staged key can hide at most one stored entry, so this many stored entries
        // always hold the first `limit` of the merged view.
        let mut merged: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .store
            .range(from, to, limit.saturating_add(staged.len()))?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        for (key, change) in staged {
            merged.insert(key.to_vec(), change.value().map(<[u8]>::to_vec));
        }
        merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (String::from_utf8_lossy(&k).into_owned(), v)))
            .take(limit)
            .map(|(k, v)| decode(&k, &v).map(|value| (k, value)))
            .collect()
    }
}

fn decode<V: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<V, StateError> {
    serde_json::from_slice(bytes).map_err(|source| StateError::Value {
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_staged_writes_and_deletes_before_they_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let store = PartitionStore::open(dir.path()).unwrap();
        let mut committed = Changes::default();
        committed.put(b"a".to_vec(), b"1".to_vec());
        committed.put(b"b".to_vec(), b"2".to_vec());
        store.apply(&committed, &[]).unwrap();

        let mut earlier = Changes::default();
        earlier.put(b"d".to_vec(), b"4".to_vec());
        earlier.put(b"b".to_vec(), b"20".to_vec());
        let mut changes = Changes::default();
        let mut staged = StagedStore::new(&store, &earlier, &mut changes);
        staged.put("c", &3).unwrap();
        staged.delete("a");
        staged.delete("d");

        assert_eq!(staged.get::<i32>("a").unwrap(), None);
        assert_eq!(staged.get::<i32>("b").unwrap(), Some(20));
        assert_eq!(staged.get::<i32>("c").unwrap(), Some(3));
        let all: Vec<(String, i32)> = staged.range("a", "z", 10).unwrap();
        assert_eq!(all, vec![("b".into(), 20), ("c".into(), 3)]);
        assert_eq!(
            store.get(b"c").unwrap(),
            None,
            "nothing reaches RocksDB before apply"
        );
    }
}
