//! Array and hash maps, shared by the bpf(2) calls and the programs that use
//! them.
//!
//! A program reaches a map element through what its lookup returned: an
//! element index (the array's index, or the hash table's slot). An element a
//! hash map deletes while a program still holds its index leaves the slot
//! empty (reads as zeros, writes dropped) until an insert takes it again,
//! so a stale index never reaches memory outside the map.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use kestrel_abi::Errno;
use spin::Mutex;

pub const MAP_TYPE_HASH: u32 = 1;
pub const MAP_TYPE_ARRAY: u32 = 2;

/// `BPF_MAP_UPDATE_ELEM` flags.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;
pub const BPF_F_LOCK: u64 = 4;

/// Hash map flags accepted at creation.
pub const BPF_F_NO_PREALLOC: u32 = 1;

/// The most bytes of keys and values one map may hold (Linux charges them to
/// the memory cgroup; here a map larger than this is refused with ENOMEM).
pub const MAX_MAP_BYTES: usize = 64 << 20;

/// The most elements: [`crate::interp`]'s pointers have 22 bits for the
/// element.
pub const MAX_ENTRIES: u32 = 1 << 22;

/// The largest key (MAX_BPF_STACK: a program builds keys on its stack).
pub const MAX_KEY: u32 = 512;

/// The largest value (KMALLOC_MAX_SIZE on x86-64 for a hash element; an
/// array's values are capped the same here).
pub const MAX_VALUE: u32 = 4 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Array,
    Hash,
}

/// What `BPF_MAP_CREATE` asked for.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

enum Store {
    Array(Vec<u8>),
    Hash {
        index: BTreeMap<Vec<u8>, u32>,
        /// Slot i: its key and value, or None once deleted.
        slots: Vec<Option<(Vec<u8>, Vec<u8>)>>,
        free: Vec<u32>,
    },
}

pub struct Map {
    pub kind: Kind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    store: Mutex<Store>,
}

fn try_zeroed(n: usize) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    v.resize(n, 0);
    Ok(v)
}

impl Map {
    /// A map as `BPF_MAP_CREATE` makes it: EINVAL for an unknown type, bad
    /// sizes or flags, E2BIG for a key or value past the limits, ENOMEM for
    /// more than [`MAX_MAP_BYTES`].
    pub fn new(spec: Spec) -> Result<Map, Errno> {
        let kind = match spec.map_type {
            MAP_TYPE_ARRAY => Kind::Array,
            MAP_TYPE_HASH => Kind::Hash,
            _ => return Err(Errno::EINVAL),
        };
        if spec.key_size == 0 && kind == Kind::Hash || spec.value_size == 0 || spec.max_entries == 0
        {
            return Err(Errno::EINVAL);
        }
        match kind {
            Kind::Array if spec.key_size != 4 || spec.flags != 0 => return Err(Errno::EINVAL),
            Kind::Hash if spec.flags & !BPF_F_NO_PREALLOC != 0 => return Err(Errno::EINVAL),
            _ => {}
        }
        if spec.key_size > MAX_KEY || spec.value_size > MAX_VALUE {
            return Err(Errno::E2BIG);
        }
        if spec.max_entries > MAX_ENTRIES {
            return Err(Errno::ENOMEM);
        }
        let per = spec.value_size as usize
            + if kind == Kind::Hash {
                spec.key_size as usize
            } else {
                0
            };
        if per.saturating_mul(spec.max_entries as usize) > MAX_MAP_BYTES {
            return Err(Errno::ENOMEM);
        }
        let store = match kind {
            Kind::Array => Store::Array(try_zeroed(
                spec.value_size as usize * spec.max_entries as usize,
            )?),
            Kind::Hash => Store::Hash {
                index: BTreeMap::new(),
                slots: Vec::new(),
                free: Vec::new(),
            },
        };
        Ok(Map {
            kind,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            flags: spec.flags,
            store: Mutex::new(store),
        })
    }

    fn array_index(&self, key: &[u8]) -> Option<usize> {
        let i = u32::from_le_bytes(key.get(..4)?.try_into().ok()?);
        (i < self.max_entries).then_some(i as usize)
    }

    /// The element `key` names (None: not there).
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        match &*self.store.lock() {
            Store::Array(_) => self.array_index(key).map(|i| i as u32),
            Store::Hash { index, .. } => index.get(key).copied(),
        }
    }

    /// Runs `f` on element `elem`'s value (None: a stale hash slot).
    pub fn with_value<R>(&self, elem: u32, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        let vs = self.value_size as usize;
        match &mut *self.store.lock() {
            Store::Array(data) => {
                let start = (elem as usize).checked_mul(vs)?;
                data.get_mut(start..start + vs).map(f)
            }
            Store::Hash { slots, .. } => {
                let (_, v) = slots.get_mut(elem as usize)?.as_mut()?;
                Some(f(v))
            }
        }
    }

    /// BPF_MAP_LOOKUP_ELEM: a copy of `key`'s value (ENOENT: none).
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
        let elem = self.find(key).ok_or(Errno::ENOENT)?;
        self.with_value(elem, |v| v.to_vec()).ok_or(Errno::ENOENT)
    }

    /// BPF_MAP_UPDATE_ELEM, as Linux: EINVAL for unknown flags (BPF_F_LOCK
    /// needs a value with a spin lock, which these maps never have); an
    /// array's element always exists (NOEXIST: EEXIST; an index past the
    /// end: E2BIG); a hash map's EEXIST/ENOENT by the flags, E2BIG when full.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        if flags & !BPF_F_LOCK > BPF_EXIST || flags & BPF_F_LOCK != 0 {
            return Err(Errno::EINVAL);
        }
        let vs = self.value_size as usize;
        let value = value.get(..vs).ok_or(Errno::EINVAL)?;
        match &mut *self.store.lock() {
            Store::Array(data) => {
                let i = self.array_index(key).ok_or(Errno::E2BIG)?;
                if flags == BPF_NOEXIST {
                    return Err(Errno::EEXIST);
                }
                data[i * vs..(i + 1) * vs].copy_from_slice(value);
                Ok(())
            }
            Store::Hash { index, slots, free } => {
                if let Some(&slot) = index.get(key) {
                    if flags == BPF_NOEXIST {
                        return Err(Errno::EEXIST);
                    }
                    if let Some((_, v)) = slots[slot as usize].as_mut() {
                        v.copy_from_slice(value);
                    }
                    return Ok(());
                }
                if flags == BPF_EXIST {
                    return Err(Errno::ENOENT);
                }
                if index.len() >= self.max_entries as usize {
                    return Err(Errno::E2BIG);
                }
                let mut k = Vec::new();
                k.try_reserve_exact(key.len()).map_err(|_| Errno::ENOMEM)?;
                k.extend_from_slice(key);
                let mut v = Vec::new();
                v.try_reserve_exact(vs).map_err(|_| Errno::ENOMEM)?;
                v.extend_from_slice(value);
                let slot = match free.pop() {
                    Some(s) => s,
                    None => {
                        slots.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                        slots.push(None);
                        (slots.len() - 1) as u32
                    }
                };
                slots[slot as usize] = Some((k.clone(), v));
                index.insert(k, slot);
                Ok(())
            }
        }
    }

    /// BPF_MAP_DELETE_ELEM: EINVAL for an array (its elements cannot go),
    /// ENOENT for a key not there.
    pub fn delete(&self, key: &[u8]) -> Result<(), Errno> {
        match &mut *self.store.lock() {
            Store::Array(_) => Err(Errno::EINVAL),
            Store::Hash { index, slots, free } => {
                let slot = index.remove(key).ok_or(Errno::ENOENT)?;
                slots[slot as usize] = None;
                free.push(slot);
                Ok(())
            }
        }
    }

    /// BPF_MAP_GET_NEXT_KEY: the key after `key` (the first one for None or
    /// a key not in the map); ENOENT after the last.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>, Errno> {
        match &*self.store.lock() {
            Store::Array(_) => {
                let next = match key.and_then(|k| self.array_index(k)) {
                    None => 0,
                    Some(i) if i + 1 >= self.max_entries as usize => return Err(Errno::ENOENT),
                    Some(i) => i + 1,
                };
                Ok((next as u32).to_le_bytes().to_vec())
            }
            Store::Hash { index, .. } => {
                let mut it: alloc::boxed::Box<dyn Iterator<Item = (&Vec<u8>, &u32)>> =
                    match key.filter(|k| index.contains_key(*k)) {
                        Some(k) => alloc::boxed::Box::new(index.range::<[u8], _>((
                            core::ops::Bound::Excluded(k),
                            core::ops::Bound::Unbounded,
                        ))),
                        None => alloc::boxed::Box::new(index.iter()),
                    };
                it.next().map(|(k, _)| k.clone()).ok_or(Errno::ENOENT)
            }
        }
    }

    /// Bytes the map holds, for fdinfo's memlock.
    pub fn bytes(&self) -> usize {
        let per = self.value_size as usize
            + if self.kind == Kind::Hash {
                self.key_size as usize
            } else {
                0
            };
        per * self.max_entries as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(t: u32, k: u32, v: u32, n: u32) -> Spec {
        Spec {
            map_type: t,
            key_size: k,
            value_size: v,
            max_entries: n,
            flags: 0,
        }
    }

    #[test]
    fn creation_checks_as_linux() {
        assert_eq!(Map::new(spec(99, 4, 8, 1)).err(), Some(Errno::EINVAL));
        assert_eq!(
            Map::new(spec(MAP_TYPE_ARRAY, 8, 8, 1)).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            Map::new(spec(MAP_TYPE_ARRAY, 4, 0, 1)).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            Map::new(spec(MAP_TYPE_HASH, 0, 8, 1)).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            Map::new(spec(MAP_TYPE_HASH, 4, 8, 0)).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            Map::new(spec(MAP_TYPE_HASH, 513, 8, 1)).err(),
            Some(Errno::E2BIG)
        );
        assert_eq!(
            Map::new(spec(MAP_TYPE_ARRAY, 4, 1 << 20, 1 << 10)).err(),
            Some(Errno::ENOMEM)
        );
    }

    #[test]
    fn array_elements_exist_zeroed_and_never_go() {
        let m = Map::new(spec(MAP_TYPE_ARRAY, 4, 8, 2)).unwrap();
        assert_eq!(m.lookup(&0u32.to_le_bytes()).unwrap(), [0; 8]);
        assert_eq!(m.lookup(&2u32.to_le_bytes()).err(), Some(Errno::ENOENT));
        m.update(&1u32.to_le_bytes(), &[7; 8], BPF_ANY).unwrap();
        assert_eq!(m.lookup(&1u32.to_le_bytes()).unwrap(), [7; 8]);
        assert_eq!(
            m.update(&1u32.to_le_bytes(), &[7; 8], BPF_NOEXIST).err(),
            Some(Errno::EEXIST)
        );
        assert_eq!(
            m.update(&2u32.to_le_bytes(), &[7; 8], BPF_ANY).err(),
            Some(Errno::E2BIG)
        );
        assert_eq!(m.delete(&1u32.to_le_bytes()).err(), Some(Errno::EINVAL));
        assert_eq!(m.next_key(None).unwrap(), 0u32.to_le_bytes());
        assert_eq!(
            m.next_key(Some(&0u32.to_le_bytes())).unwrap(),
            1u32.to_le_bytes()
        );
        assert_eq!(
            m.next_key(Some(&1u32.to_le_bytes())).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(
            m.next_key(Some(&9u32.to_le_bytes())).unwrap(),
            0u32.to_le_bytes()
        );
    }

    #[test]
    fn hash_flags_capacity_delete_and_iteration() {
        let m = Map::new(spec(MAP_TYPE_HASH, 8, 4, 2)).unwrap();
        let (a, b, c) = ([1u8; 8], [2u8; 8], [3u8; 8]);
        assert_eq!(m.lookup(&a).err(), Some(Errno::ENOENT));
        assert_eq!(m.update(&a, &[1; 4], BPF_EXIST).err(), Some(Errno::ENOENT));
        m.update(&a, &[1; 4], BPF_NOEXIST).unwrap();
        assert_eq!(
            m.update(&a, &[1; 4], BPF_NOEXIST).err(),
            Some(Errno::EEXIST)
        );
        m.update(&a, &[5; 4], BPF_EXIST).unwrap();
        m.update(&b, &[2; 4], BPF_ANY).unwrap();
        assert_eq!(m.update(&c, &[3; 4], BPF_ANY).err(), Some(Errno::E2BIG));
        assert_eq!(m.update(&c, &[3; 4], 3).err(), Some(Errno::EINVAL));
        assert_eq!(m.update(&c, &[3; 4], BPF_F_LOCK).err(), Some(Errno::EINVAL));
        assert_eq!(m.lookup(&a).unwrap(), [5; 4]);
        assert_eq!(m.next_key(None).unwrap(), a);
        assert_eq!(m.next_key(Some(&a)).unwrap(), b);
        assert_eq!(m.next_key(Some(&b)).err(), Some(Errno::ENOENT));
        assert_eq!(m.next_key(Some(&c)).unwrap(), a);
        let slot = m.find(&a).unwrap();
        m.delete(&a).unwrap();
        assert_eq!(m.delete(&a).err(), Some(Errno::ENOENT));
        // A stale slot reads as nothing until an insert takes it again.
        assert_eq!(m.with_value(slot, |v| v.to_vec()), None);
        m.update(&c, &[3; 4], BPF_ANY).unwrap();
        assert_eq!(m.lookup(&c).unwrap(), [3; 4]);
    }
}
