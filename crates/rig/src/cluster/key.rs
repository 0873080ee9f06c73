//! Keys derived from `NODE_COOKIE`, one per use, and truncated HMAC tags.
//! Nobody without the cookie can produce a tag a node accepts.

use ring::{digest, hmac};

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

#[cfg(test)]
mod tests {
    use super::*;

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
