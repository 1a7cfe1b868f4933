//! One RocksDB database per store and partition.

use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, DB};

use crate::changes::{Change, Changes};
use crate::error::StateError;

/// Column family for the store's own bookkeeping (such as its changelog position), kept apart
/// so that no data key can collide with it.
const META_CF: &str = "meta";
const DATA_CF: &str = "default";
/// RocksDB memtable size per store; many partition stores share a process, so it is small.
const WRITE_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// A key and its value, as stored.
pub type Entry = (Vec<u8>, Vec<u8>);

pub struct PartitionStore {
    db: DB,
    path: PathBuf,
}

impl PartitionStore {
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_write_buffer_size(WRITE_BUFFER_BYTES);
        options.set_max_write_buffer_number(2);
        options.set_keep_log_file_num(2);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let families = [DATA_CF, META_CF]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, options.clone()));
        let db = DB::open_cf_descriptors(&options, path, families).map_err(|source| {
            StateError::Open {
                path: path.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            db,
            path: path.to_owned(),
        })
    }

    /// Removes a store's files, for a store that must be rebuilt from its changelog.
    pub fn destroy(path: &Path) -> Result<(), StateError> {
        if !path.exists() {
            return Ok(());
        }
        DB::destroy(&Options::default(), path).map_err(|source| StateError::Destroy {
            path: path.to_owned(),
            source,
        })?;
        let _ = std::fs::remove_dir_all(path);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, operation: &'static str) -> impl FnOnce(rocksdb::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: self.path.clone(),
            operation,
            source,
        }
    }

    fn meta(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(META_CF)
            .expect("the meta column family is created by open")
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.db.get(key).map_err(self.io("read"))
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.db
            .get_cf(self.meta(), key)
            .map_err(self.io("read metadata"))
    }

    /// At most `limit` entries with keys in `[from, to)`, in key order.
    pub fn range(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<Entry>, StateError> {
        let mut entries = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(from, Direction::Forward))
        {
            let (key, value) = item.map_err(self.io("scan"))?;
            if key.as_ref() >= to || entries.len() >= limit {
                break;
            }
            entries.push((key.into_vec(), value.into_vec()));
        }
        Ok(entries)
    }

    /// Applies staged changes and metadata in one atomic write: after a crash the store holds
    /// either all of them or none.
    pub fn apply(&self, changes: &Changes, meta: &[(&str, &[u8])]) -> Result<(), StateError> {
        let mut batch = WriteBatch::default();
        for (key, change) in changes.iter() {
            match change {
                Change::Put(value) => batch.put(key, value),
                Change::Delete => batch.delete(key),
            }
        }
        for (key, value) in meta {
            batch.put_cf(self.meta(), key, value);
        }
        self.db.write(batch).map_err(self.io("write"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_changes_and_metadata_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut changes = Changes::default();
        changes.put(b"stock/A".to_vec(), b"5".to_vec());
        changes.put(b"stock/B".to_vec(), b"7".to_vec());
        {
            let store = PartitionStore::open(dir.path()).unwrap();
            store.apply(&changes, &[("position", b"42")]).unwrap();
        }
        let store = PartitionStore::open(dir.path()).unwrap();
        assert_eq!(store.get(b"stock/A").unwrap(), Some(b"5".to_vec()));
        assert_eq!(store.get_meta("position").unwrap(), Some(b"42".to_vec()));
        assert_eq!(
            store.get(b"position").unwrap(),
            None,
            "metadata is not data"
        );
        assert_eq!(store.range(b"stock/", b"stock0", 10).unwrap().len(), 2);
        assert_eq!(store.range(b"stock/", b"stock0", 1).unwrap().len(), 1);
    }

    #[test]
    fn destroy_leaves_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p0");
        {
            let store = PartitionStore::open(&path).unwrap();
            let mut changes = Changes::default();
            changes.put(b"k".to_vec(), b"v".to_vec());
            store.apply(&changes, &[]).unwrap();
        }
        PartitionStore::destroy(&path).unwrap();
        let store = PartitionStore::open(&path).unwrap();
        assert_eq!(store.get(b"k").unwrap(), None);
    }
}
