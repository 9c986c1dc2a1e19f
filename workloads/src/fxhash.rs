//! A fast hasher for the checker's internal tables, whose keys are small numbers and
//! model states of our own making (process ids, key ids, operation inputs), where the
//! standard library's SipHash costs more than the lookup itself.
//!
//! It is FxHash's multiply-rotate over 64-bit words (as in the Rust compiler), with a
//! final mix so that the low bits, which pick buckets, depend on every input bit. It
//! is not meant to resist inputs chosen to collide: a history built to do so would
//! only make a check slower.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// The hasher's state.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        // splitmix64's finaliser.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A `HashSet` with [`FxHasher`].
pub type FxHashSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;

/// The hash of one value.
pub fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = FxHasher::default();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_hash_alike_and_low_bits_spread() {
        assert_eq!(hash_of(&(3u32, Some(4i64))), hash_of(&(3u32, Some(4i64))));
        assert_ne!(hash_of(&Some(4i64)), hash_of(&Some(5i64)));
        // Consecutive small numbers land in different buckets of a 16-bucket table.
        let buckets: FxHashSet<u64> = (0u64..16).map(|n| hash_of(&n) & 15).collect();
        assert!(
            buckets.len() > 8,
            "low bits spread: {} buckets",
            buckets.len()
        );
    }
}
