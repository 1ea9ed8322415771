//! [`Principal`]: who is asking, as a fixed-size hash that is safe to keep.

use std::fmt;

use http::{header::AUTHORIZATION, request::Parts};
use sha2::{Digest, Sha256};

/// The authenticated identity behind a request, as a 128-bit SHA-256 prefix.
///
/// Layers partition private cache entries and per-client limits by it. The
/// identity itself (a user id, a token) is never stored: only this hash is.
///
/// How it reaches the layers, first match wins:
/// 1. auth middleware inserts a `Principal` into the HTTP request's extensions
///    (`Principal::from_identity(user_id)`), or into the request's own extensions;
/// 2. otherwise the `Authorization` header is hashed
///    ([`Principal::from_authorization`]), so two bearer tokens are two principals.
///
/// With neither, the request has no principal, and layers treat it as
/// anonymous (private results are then not cached).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal([u8; 16]);

impl Principal {
    /// The principal of an authenticated identity, such as a user or client id.
    pub fn from_identity(identity: &str) -> Self {
        Self::hash(b"identity", identity.as_bytes())
    }

    /// The principal of a raw `Authorization` header value.
    pub fn from_authorization(value: &[u8]) -> Self {
        Self::hash(b"authorization", value)
    }

    /// The principal of an HTTP request: a `Principal` extension set by auth
    /// middleware, else the hash of its `Authorization` header.
    pub fn from_parts(parts: &Parts) -> Option<Self> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Some(*principal);
        }
        parts
            .headers
            .get(AUTHORIZATION)
            .map(|value| Self::from_authorization(value.as_bytes()))
    }

    /// A principal from bytes previously taken from [`as_bytes`](Self::as_bytes).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes of the hash.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    fn hash(domain: &[u8], value: &[u8]) -> Self {
        // Domain separation: an identity and a header with equal text differ.
        let digest = Sha256::new()
            .chain_update(b"mcp-stack/principal/v1\0")
            .chain_update(domain)
            .chain_update([0])
            .chain_update(value)
            .finalize();
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(bytes)
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principal({self})")
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(build: impl FnOnce(http::request::Builder) -> http::request::Builder) -> Parts {
        build(http::Request::builder())
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn identities_hash_to_stable_distinct_principals() {
        let alice = Principal::from_identity("alice");
        assert_eq!(alice, Principal::from_identity("alice"));
        assert_ne!(alice, Principal::from_identity("bob"));
        assert_ne!(
            alice,
            Principal::from_authorization(b"alice"),
            "domains are separate"
        );
        // Pinned (SHA-256 of the documented input, checked with Python's hashlib):
        // the same identity must give the same principal on every node.
        assert_eq!(alice.to_string(), "bac0bade6bc9133cb4b728befa9d5443");
    }

    #[test]
    fn the_raw_identity_is_never_kept() {
        let token = "Bearer secret-token-123";
        let principal = Principal::from_authorization(token.as_bytes());
        assert!(!format!("{principal:?}").contains("secret"));
        assert_eq!(std::mem::size_of::<Principal>(), 16);
    }

    #[test]
    fn an_extension_set_by_auth_middleware_wins_over_the_header() {
        let set = Principal::from_identity("user-7");
        let with_both = parts(|b| b.header("authorization", "Bearer abc").extension(set));
        assert_eq!(Principal::from_parts(&with_both), Some(set));

        let header_only = parts(|b| b.header("authorization", "Bearer abc"));
        assert_eq!(
            Principal::from_parts(&header_only),
            Some(Principal::from_authorization(b"Bearer abc"))
        );
        assert_eq!(Principal::from_parts(&parts(|b| b)), None);
    }
}
