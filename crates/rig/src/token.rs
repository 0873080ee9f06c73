//! Connection tokens: opaque, URL-safe, tamper-proof, and routable.
//!
//! A token is `base64url(node_id || connection_id || tag)` where the tag is a
//! truncated HMAC-SHA256 over the ids under a key derived from `NODE_COOKIE`
//! (random per start when unset). Nobody without the key can forge a token for
//! another connection, and any node sharing the cookie can tell which node owns it.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::{digest, hmac};

use crate::support::ids::random_bytes;

const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = 16 + TAG_LEN;

/// Signs and opens connection tokens.
#[derive(Clone)]
pub struct TokenCodec {
    key: hmac::Key,
}

/// The ids sealed in a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenIds {
    pub node: u64,
    pub connection: u64,
}

/// A token that is not base64, has the wrong length or a bad tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid connection token.")]
pub struct InvalidToken;

impl TokenCodec {
    /// Derives the key from the cluster cookie, or makes a random one.
    pub fn new(node_cookie: Option<&str>) -> Self {
        Self::for_purpose(node_cookie, "connection-token")
    }

    /// A codec whose key is derived for `purpose` (e.g. `correlation`), so a
    /// token of one kind is never accepted as another.
    pub fn for_purpose(node_cookie: Option<&str>, purpose: &str) -> Self {
        let secret: Vec<u8> = match node_cookie {
            Some(cookie) => {
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(format!("rig/{purpose}/v1\0").as_bytes());
                ctx.update(cookie.as_bytes());
                ctx.finish().as_ref().to_vec()
            }
            None => random_bytes::<32>().to_vec(),
        };
        TokenCodec { key: hmac::Key::new(hmac::HMAC_SHA256, &secret) }
    }

    pub fn seal(&self, ids: TokenIds) -> String {
        let mut buf = [0u8; TOKEN_LEN];
        buf[..8].copy_from_slice(&ids.node.to_be_bytes());
        buf[8..16].copy_from_slice(&ids.connection.to_be_bytes());
        let tag = hmac::sign(&self.key, &buf[..16]);
        buf[16..].copy_from_slice(&tag.as_ref()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(buf)
    }

    pub fn open(&self, token: &str) -> Result<TokenIds, InvalidToken> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).map_err(|_| InvalidToken)?;
        if bytes.len() != TOKEN_LEN {
            return Err(InvalidToken);
        }
        let expected = hmac::sign(&self.key, &bytes[..16]);
        // Constant-time comparison of the truncated tag: no early exit on the first difference.
        let diff = expected.as_ref()[..TAG_LEN].iter().zip(&bytes[16..]).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(InvalidToken);
        }
        let id = |r: &[u8]| u64::from_be_bytes(r.try_into().expect("8 bytes"));
        Ok(TokenIds { node: id(&bytes[..8]), connection: id(&bytes[8..16]) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_url_safe() {
        let c = TokenCodec::new(Some("cookie"));
        let ids = TokenIds { node: 7, connection: u64::MAX };
        let t = c.seal(ids);
        assert!(t.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'), "{t}");
        assert_eq!(c.open(&t), Ok(ids));
        assert_eq!(TokenCodec::new(Some("cookie")).open(&t), Ok(ids), "same cookie, same key");
    }

    #[test]
    fn refuses_forged_short_and_foreign_tokens() {
        let c = TokenCodec::new(Some("cookie"));
        let t = c.seal(TokenIds { node: 1, connection: 2 });
        let mut forged = URL_SAFE_NO_PAD.decode(&t).unwrap();
        forged[15] ^= 1;
        assert_eq!(c.open(&URL_SAFE_NO_PAD.encode(forged)), Err(InvalidToken));
        assert_eq!(c.open("abc"), Err(InvalidToken));
        assert_eq!(c.open("not base64 at all!"), Err(InvalidToken));
        assert_eq!(TokenCodec::new(Some("other")).open(&t), Err(InvalidToken));
        assert_eq!(TokenCodec::new(None).open(&t), Err(InvalidToken));
    }
}
