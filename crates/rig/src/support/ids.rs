//! Randomness for ids and keys (connection and node ids, nonces, trace ids,
//! UUIDs), all from the OS random source.
//!
//! Each thread draws the OS source in blocks and hands the bytes out once
//! each: a proxied request takes three ids (trace, two spans), which were
//! three `getrandom` system calls per request.

use std::cell::RefCell;

use ring::rand::SecureRandom;

/// Bytes fetched from the OS per refill.
const BLOCK: usize = 512;

struct Pool {
    bytes: [u8; BLOCK],
    /// Bytes before this index have been handed out.
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; BLOCK], used: BLOCK }) };
}

/// Cryptographically random bytes (connection ids, node ids, keys); no byte
/// is handed out twice.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if N > BLOCK / 4 {
        os_fill(&mut buf);
        return buf;
    }
    POOL.with_borrow_mut(|pool| {
        if pool.used + N > BLOCK {
            os_fill(&mut pool.bytes);
            pool.used = 0;
        }
        let taken = &mut pool.bytes[pool.used..pool.used + N];
        buf.copy_from_slice(taken);
        // What was handed out does not stay in memory.
        taken.fill(0);
        pool.used += N;
    });
    buf
}

fn os_fill(buf: &mut [u8]) {
    ring::rand::SystemRandom::new().fill(buf).expect("the OS random source works");
}

/// A random, non-zero u64.
pub fn random_u64() -> u64 {
    u64::from_be_bytes(random_bytes::<8>()).max(1)
}

/// A random UUID v4 in its canonical text form.
pub fn uuid_v4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_canonical_form() {
        assert_eq!(uuid_v4().len(), 36);
    }

    #[test]
    fn pooled_bytes_are_never_handed_out_twice() {
        // Across several refills of the pool, 16-byte draws stay distinct.
        let draws: std::collections::HashSet<[u8; 16]> = (0..10 * BLOCK / 16).map(|_| random_bytes::<16>()).collect();
        assert_eq!(draws.len(), 10 * BLOCK / 16);
        assert_ne!(random_bytes::<256>(), [0u8; 256]);
    }
}
