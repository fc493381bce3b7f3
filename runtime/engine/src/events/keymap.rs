//! A rule's keys in sixteen maps, chosen by the key's top bits (a key id is a hash). A hash map
//! grows by re-inserting every entry at once, one cache miss each: about 2.5 ms at 13,500 keys
//! on the benchmark machine, and in the daemon every request queued behind that event waits.
//! Sixteen maps grow one at a time, each a sixteenth of the keys.

use super::{FxMap, KeyId};

const SHARDS: usize = 16;

pub(super) struct KeyMap<V> {
    shards: [FxMap<KeyId, V>; SHARDS],
    /// Keys held (read on every event: summing the shards would touch all of them).
    len: usize,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            shards: std::array::from_fn(|_| FxMap::default()),
            len: 0,
        }
    }
}

fn shard(key: KeyId) -> usize {
    (key >> 124) as usize
}

impl<V> KeyMap<V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, key: &KeyId) -> Option<&V> {
        self.shards[shard(*key)].get(key)
    }

    pub fn get_mut(&mut self, key: &KeyId) -> Option<&mut V> {
        self.shards[shard(*key)].get_mut(key)
    }

    pub fn contains_key(&self, key: &KeyId) -> bool {
        self.shards[shard(*key)].contains_key(key)
    }

    /// The key's value, made by `new` when the key is not held.
    pub fn get_or_insert_with(&mut self, key: KeyId, new: impl FnOnce() -> V) -> &mut V {
        let map = &mut self.shards[shard(key)];
        match map.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                self.len += 1;
                v.insert(new())
            }
        }
    }

    pub fn insert(&mut self, key: KeyId, value: V) -> Option<V> {
        let old = self.shards[shard(key)].insert(key, value);
        self.len += usize::from(old.is_none());
        old
    }

    pub fn remove(&mut self, key: &KeyId) -> Option<V> {
        let old = self.shards[shard(*key)].remove(key);
        self.len -= usize::from(old.is_some());
        old
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&KeyId, &mut V) -> bool) {
        for map in &mut self.shards {
            map.retain(&mut keep);
        }
        self.len = self.shards.iter().map(FxMap::len).sum();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&KeyId, &V)> {
        self.shards.iter().flat_map(|m| m.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(|m| m.values())
    }

    /// Every entry, moved out: the map is left empty.
    pub fn take_all(&mut self) -> impl Iterator<Item = (KeyId, V)> + use<V> {
        let shards = std::mem::replace(&mut self.shards, std::array::from_fn(|_| FxMap::default()));
        self.len = 0;
        shards.into_iter().flat_map(|m| m.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count stays the sum of the shards through every change, and keys are found in the
    /// shard their top bits pick.
    #[test]
    fn keys_are_counted_and_found() {
        let mut m = KeyMap::default();
        let keys: Vec<KeyId> = (0..200u128)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
            .collect();
        for &k in &keys {
            *m.get_or_insert_with(k, || 0) += 1;
        }
        assert_eq!(m.insert(keys[0], 5), Some(1));
        *m.get_or_insert_with(keys[1], || 0) += 1;
        assert_eq!(m.len(), 200);
        assert!(m.shards.iter().filter(|s| !s.is_empty()).count() > 8);
        assert_eq!(m.remove(&keys[2]), Some(1));
        assert_eq!(m.remove(&keys[2]), None);
        m.retain(|_, v| *v == 1);
        assert_eq!(m.len(), 197);
        assert_eq!(m.len(), m.iter().count());
        assert_eq!(m.get(&keys[0]), None);
        assert_eq!(m.get(&keys[3]), Some(&1));
        assert!(m.contains_key(&keys[4]) && !m.contains_key(&keys[1]));
        *m.get_mut(&keys[5]).unwrap() = 7;
        assert_eq!(m.values().filter(|&&v| v == 7).count(), 1);
    }
}
