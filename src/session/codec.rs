//! Authenticated encryption of cookie values: XChaCha20-Poly1305 with a key derived from
//! `session.secret` by HKDF-SHA256, a random 192-bit nonce per value, and the cookie's name as
//! associated data, so a value sealed for one cookie is worthless under another name.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

/// Leading byte of every sealed value; lets a future format be told apart.
const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Seals and opens cookie values.
#[derive(Clone)]
pub struct Codec {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codec(***)")
    }
}

impl Codec {
    /// A codec keyed from `secret`; `purpose` separates keys derived from the same secret.
    pub fn new(secret: &[u8], purpose: &str) -> Self {
        let mut key = [0u8; 32];
        // Infallible for a 32-byte output; a zero key would still only make cookies unreadable.
        let _ =
            Hkdf::<Sha256>::new(Some(b"portcullis"), secret).expand(purpose.as_bytes(), &mut key);
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Encrypts `plaintext` for the cookie `name`; the result is cookie-safe base64url.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Decrypts a value sealed for `name` (text or the request's bytes); `None` for anything
    /// tampered, truncated or foreign.
    pub fn open(&self, name: &str, value: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        let (&version, rest) = raw.split_first()?;
        if version != FORMAT_VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let codec = Codec::new(b"0123456789abcdef0123456789abcdef", "session");
        let sealed = codec.seal("c", b"hello");
        assert_eq!(codec.open("c", &sealed).as_deref(), Some(&b"hello"[..]));
        // Another cookie name, another purpose, another secret: all unreadable.
        assert_eq!(codec.open("d", &sealed), None);
        assert_eq!(
            Codec::new(b"0123456789abcdef0123456789abcdef", "login").open("c", &sealed),
            None
        );
        assert_eq!(
            Codec::new(b"0123456789abcdef0123456789abcdeX", "session").open("c", &sealed),
            None
        );
        // Every single-character change and every truncation fails.
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            assert_eq!(codec.open("c", bytes), None, "flip {i}");
            assert_eq!(codec.open("c", &sealed[..i]), None, "truncate {i}");
        }
        for junk in ["", "!!!", "AQ", "%00", "\u{1F600}"] {
            assert_eq!(codec.open("c", junk), None);
        }
    }
}
