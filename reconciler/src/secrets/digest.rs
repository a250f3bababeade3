//! Keyed digests of secret values: HMAC-SHA256 (RFC 2104) under a key
//! that lives only in the state directory's git-ignored `secrets/`.
//!
//! A spec hash must change when a value a service uses is rotated, so that
//! exactly those services are recreated, and the state repository must
//! say which secret changed; but neither may hold the value or a plain hash
//! of it (a plain hash of a short or guessable value can be brute-forced).
//! A digest under a key that never leaves the host can only be compared.

use super::Secret;
use sha2::{Digest as _, Sha256};

const BLOCK: usize = 64;

/// The key of the keyed digests: 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestKey([u8; 32]);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(***)")
    }
}

impl DigestKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| e.to_string())?;
        Ok(Self(key))
    }

    /// The key as 64 lowercase hex digits, for its file.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Reads a key written by [`DigestKey::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(key))
    }

    /// HMAC-SHA256 of `message`, in lowercase hex.
    pub fn hmac_hex(&self, message: &[u8]) -> String {
        hex(&hmac_sha256(&self.0, message))
    }

    /// The digest of one variable's value: 16 hex digits (64 bits) of the
    /// HMAC of `variable`, a NUL and the value. Enough to tell a change;
    /// it says nothing about the value.
    pub fn value_digest(&self, variable: &str, value: &Secret) -> String {
        let mut message = Vec::with_capacity(variable.len() + 1 + value.expose().len());
        message.extend_from_slice(variable.as_bytes());
        message.push(0);
        message.extend_from_slice(value.expose().as_bytes());
        let mut digest = self.hmac_hex(&message);
        digest.truncate(16);
        digest
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_vectors() {
        // Test case 2: a short key.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn digests_depend_on_key_variable_and_value() {
        let key = DigestKey::generate().expect("random");
        let other = DigestKey::generate().expect("random");
        let value = Secret::new("sk_live_1");
        let digest = key.value_digest("A", &value);
        assert_eq!(digest.len(), 16);
        assert_eq!(digest, key.value_digest("A", &value));
        assert_ne!(digest, key.value_digest("B", &value));
        assert_ne!(digest, key.value_digest("A", &Secret::new("sk_live_2")));
        assert_ne!(digest, other.value_digest("A", &value));
        assert_eq!(DigestKey::from_hex(&key.to_hex()), Some(key));
        assert_eq!(DigestKey::from_hex("zz"), None);
    }
}
