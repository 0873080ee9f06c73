//! Keys derived from `NODE_COOKIE`, one per use, and truncated HMAC tags.
//! Nobody without the cookie can produce a tag a node accepts. With
//! `RIG_CLUSTER_ENCRYPT` a [`Cipher`] also hides what is said.

use ring::{aead, digest, hmac};

/// Bytes of HMAC-SHA256 kept per tag: 128 bits resist forgery as well as the
/// cookie resists guessing, at half the overhead.
pub const TAG_LEN: usize = 16;

/// One HMAC key for one purpose (gossip datagrams, peer handshakes, ...).
#[derive(Clone)]
pub struct Key(hmac::Key);

pub type Tag = [u8; TAG_LEN];

impl Key {
    /// The key for `purpose` under `cookie`: distinct purposes get unrelated keys.
    pub fn derive(cookie: &str, purpose: &str) -> Key {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"rig/cluster/");
        ctx.update(purpose.as_bytes());
        ctx.update(b"\0");
        ctx.update(cookie.as_bytes());
        Key(hmac::Key::new(hmac::HMAC_SHA256, ctx.finish().as_ref()))
    }

    /// A key made of raw bytes (per-connection session keys).
    pub fn from_bytes(bytes: &[u8]) -> Key {
        Key(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The tag over the concatenation of `parts`.
    pub fn sign(&self, parts: &[&[u8]]) -> Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p);
        }
        let full = ctx.sign();
        full.as_ref()[..TAG_LEN].try_into().expect("HMAC-SHA256 is 32 bytes")
    }

    /// Full 32-byte MAC, used to derive session keys.
    pub fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign().as_ref().to_vec()
    }

    /// Constant-time check of `tag` against the tag over `parts`.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let expected = self.sign(parts);
        tag.len() == TAG_LEN && expected.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// ChaCha20-Poly1305 under a key derived like [`Key`]'s: encrypts and
/// authenticates in one pass, for clusters whose traffic crosses untrusted networks.
pub struct Cipher(aead::LessSafeKey);

/// Bytes of the AEAD tag appended to every sealed text.
pub const AEAD_TAG_LEN: usize = 16;
pub const AEAD_NONCE_LEN: usize = aead::NONCE_LEN;

impl Cipher {
    /// The cipher for `purpose` under `cookie`.
    pub fn derive(cookie: &str, purpose: &str) -> Cipher {
        Cipher::from_bytes(&Key::derive(cookie, purpose).mac(&[b"aead"]))
    }

    /// A cipher keyed by 32 raw bytes (per-connection session keys).
    pub fn from_bytes(bytes: &[u8]) -> Cipher {
        let key = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &bytes[..32]).expect("32-byte ChaCha20 key");
        Cipher(aead::LessSafeKey::new(key))
    }

    /// Encrypts `data` in place and returns its tag, which goes after it (no
    /// copy: frames are sealed inside the batch buffer); `nonce` must never
    /// repeat under this key.
    pub fn seal_detached(&self, nonce: [u8; AEAD_NONCE_LEN], aad: &[u8], data: &mut [u8]) -> [u8; AEAD_TAG_LEN] {
        let tag = self
            .0
            .seal_in_place_separate_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(aad), data)
            .expect("ChaCha20-Poly1305 seals any length we send");
        tag.as_ref().try_into().expect("16-byte tag")
    }

    /// Decrypts `data` (text then tag) in place; the plaintext's length, or `None` if forged.
    pub fn open(&self, nonce: [u8; AEAD_NONCE_LEN], aad: &[u8], data: &mut [u8]) -> Option<usize> {
        self.0.open_in_place(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(aad), data).ok().map(|p| p.len())
    }
}

/// The AEAD nonce for message number `seq` of one connection direction.
pub fn counter_nonce(seq: u64) -> [u8; AEAD_NONCE_LEN] {
    let mut n = [0u8; AEAD_NONCE_LEN];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphers_hide_and_authenticate() {
        let c = Cipher::derive("cookie", "gossip");
        let mut text = b"secret event".to_vec();
        let tag = c.seal_detached(counter_nonce(1), b"head", &mut text);
        text.extend_from_slice(&tag);
        assert_eq!(text.len(), 12 + AEAD_TAG_LEN);
        assert!(!text.windows(6).any(|w| w == b"secret"), "the plaintext does not show");
        let mut copy = text.clone();
        assert_eq!(c.open(counter_nonce(1), b"head", &mut copy), Some(12));
        assert_eq!(&copy[..12], b"secret event");
        assert_eq!(c.open(counter_nonce(2), b"head", &mut text.clone()), None, "another nonce");
        assert_eq!(c.open(counter_nonce(1), b"other", &mut text.clone()), None, "another header");
        assert_eq!(Cipher::derive("wrong", "gossip").open(counter_nonce(1), b"head", &mut text), None);
    }

    #[test]
    fn tags_depend_on_cookie_purpose_and_content() {
        let k = Key::derive("cookie", "gossip");
        let t = k.sign(&[b"ab", b"c"]);
        assert!(k.verify(&[b"abc"], &t), "parts are concatenated");
        assert!(!k.verify(&[b"abd"], &t));
        assert!(!Key::derive("other", "gossip").verify(&[b"abc"], &t));
        assert!(!Key::derive("cookie", "peer").verify(&[b"abc"], &t));
        assert!(!k.verify(&[b"abc"], &t[..8]));
    }
}
