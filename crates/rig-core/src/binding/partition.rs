//! RIG's Kafka partitioner: a keyed message goes to
//! `abs(murmur3_x86_32(key, seed 0)) mod partitions` (the Elixir `murmur`
//! package's hash, which is unsigned, so `abs` changes nothing). Producers
//! outside RIG that partition the same way keep per-key ordering with it.

/// MurmurHash3, x86 32-bit variant.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail.iter().rev().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The partition RIG picks for `key` among `partitions` (> 0).
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    murmur3_x86_32(key, 0) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // From the Elixir murmur package's documentation.
        assert_eq!(murmur3_x86_32(b"b2622f5e1310a0aa14b7f957fe4246fa", 2_147_368_987), 3_297_211_900);
        // Reference vectors of MurmurHash3_x86_32 (SMHasher).
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0x9747_b28c), 0x2fa8_26cd);
    }

    #[test]
    fn partitions_are_stable_and_in_range() {
        for key in ["a", "test_key", "user-42", "ünïcödé"] {
            let p = partition_for_key(key.as_bytes(), 3);
            assert!(p < 3);
            assert_eq!(p, partition_for_key(key.as_bytes(), 3));
        }
        assert_eq!(partition_for_key(b"hello", 7), 0x248b_fa47 % 7);
    }
}
