//! [`CursorKey`]: the secret that signs cursors, and HMAC-SHA256 over it.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::error::ConfigError;

/// SHA-256 works on 64-byte blocks; HMAC pads its key to one.
const BLOCK: usize = 64;

/// The secret that signs and checks cursors (HMAC-SHA256, 128-bit tags).
///
/// A cursor is only accepted by a layer holding the key that issued it, for
/// the principal and the list or resource it was issued for. By default
/// each layer draws a random key from the operating system when it is
/// built, so cursors die with the process; servers behind a load balancer
/// share one key ([`from_secret`](Self::from_secret)) so that a cursor issued
/// by one node is accepted by the next.
///
/// ```
/// use mcp_stream::CursorKey;
///
/// // The same secret on every node, from the deployment's secret store.
/// let key = CursorKey::from_secret(b"0123456789abcdef0123456789abcdef")?;
/// # let _ = key;
/// # Ok::<(), mcp_stream::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct CursorKey {
    /// SHA-256 after absorbing `key ^ ipad`: each tag starts from a clone.
    inner: Sha256,
    /// SHA-256 after absorbing `key ^ opad`.
    outer: Sha256,
}

impl CursorKey {
    /// The shortest secret [`from_secret`](Self::from_secret) accepts, in bytes.
    pub const MIN_SECRET_BYTES: usize = 16;

    /// A key of 32 random bytes from the operating system.
    pub fn random() -> Result<Self, ConfigError> {
        let mut secret = [0; 32];
        getrandom::fill(&mut secret).map_err(|error| ConfigError {
            setting: "cursor_key",
            problem: format!("the operating system gave no random bytes: {error}"),
        })?;
        Ok(Self::hmac_key(&secret))
    }

    /// A key from a configured secret of at least
    /// [`MIN_SECRET_BYTES`](Self::MIN_SECRET_BYTES) bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < Self::MIN_SECRET_BYTES {
            return Err(ConfigError {
                setting: "cursor_key",
                problem: format!(
                    "a secret of {} bytes is too short; use at least {}",
                    secret.len(),
                    Self::MIN_SECRET_BYTES
                ),
            });
        }
        Ok(Self::hmac_key(secret))
    }

    /// RFC 2104: keys longer than a block are hashed, shorter ones padded.
    fn hmac_key(secret: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if secret.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            block[..secret.len()].copy_from_slice(secret);
        }
        let pad = |byte: u8| {
            let mut padded = block;
            padded.iter_mut().for_each(|b| *b ^= byte);
            Sha256::new().chain_update(padded)
        };
        Self {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// HMAC-SHA256 of the concatenation of `parts`.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let digest = self.outer.clone().chain_update(inner.finalize()).finalize();
        let mut mac = [0; 32];
        mac.copy_from_slice(&digest);
        mac
    }

    /// The 128-bit tag of `parts`: half the MAC, as RFC 2104 allows.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut tag = [0; 16];
        tag.copy_from_slice(&self.mac(parts)[..16]);
        tag
    }

    /// Whether `tag` is the tag of `parts`, compared in constant time so a
    /// forger learns nothing from how fast a guess fails.
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let expected = self.tag(parts);
        tag.len() == expected.len()
            && expected
                .iter()
                .zip(tag)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        // Test case 2: a short key.
        let key = CursorKey::hmac_key(b"Jefe");
        assert_eq!(
            hex(&key.mac(&[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than a block is hashed first.
        let key = CursorKey::hmac_key(&[0xaa; 131]);
        assert_eq!(
            hex(&key.mac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"])),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn tags_verify_only_for_their_key_and_message() {
        let key = CursorKey::from_secret(&[7; 32]).unwrap();
        let other = CursorKey::from_secret(&[8; 32]).unwrap();
        let tag = key.tag(&[b"page", b"42"]);
        assert!(key.verify(&[b"page", b"42"], &tag));
        assert!(
            key.verify(&[b"page4", b"2"], &tag),
            "parts are concatenated"
        );
        assert!(!key.verify(&[b"page", b"43"], &tag));
        assert!(!other.verify(&[b"page", b"42"], &tag));
        assert!(!key.verify(&[b"page", b"42"], &tag[..15]));
    }

    #[test]
    fn short_secrets_are_refused_and_random_keys_differ() {
        assert_eq!(
            CursorKey::from_secret(b"short").unwrap_err().setting,
            "cursor_key"
        );
        let (a, b) = (CursorKey::random().unwrap(), CursorKey::random().unwrap());
        assert_ne!(a.tag(&[b"x"]), b.tag(&[b"x"]));
        assert_eq!(format!("{a:?}"), "CursorKey(..)");
    }
}
