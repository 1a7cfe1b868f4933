//! Writes staged during a transaction, in key order, last write per key wins.

use std::collections::BTreeMap;
use std::ops::Bound;

/// The staged fate of one key: a new value, or removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(Vec<u8>),
    Delete,
}

impl Change {
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Change::Put(value) => Some(value),
            Change::Delete => None,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Changes {
    by_key: BTreeMap<Vec<u8>, Change>,
}

impl Changes {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.by_key.insert(key, Change::Put(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.by_key.insert(key, Change::Delete);
    }

    pub fn get(&self, key: &[u8]) -> Option<&Change> {
        self.by_key.get(key)
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Takes over `later`'s writes, which win over this set's writes to the same keys.
    pub fn absorb(&mut self, later: Changes) {
        self.by_key.extend(later.by_key);
    }

    pub fn clear(&mut self) {
        self.by_key.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Change)> {
        self.by_key.iter().map(|(k, c)| (k.as_slice(), c))
    }

    /// Staged keys in `[from, to)`.
    pub fn range<'a>(
        &'a self,
        from: &[u8],
        to: &[u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a Change)> + 'a {
        self.by_key
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, c)| (k.as_slice(), c))
    }
}
