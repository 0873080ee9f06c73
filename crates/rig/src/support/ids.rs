//! Randomness for ids and keys (connection and node ids, nonces, trace ids,
//! UUIDs), all from the OS random source.

use ring::rand::SecureRandom;

/// Cryptographically random bytes (connection ids, node ids, keys).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut buf).expect("the OS random source works");
    buf
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
}
