//! Secrets: password hashing (argon2id) and the random bearer secrets used
//! for browser sessions and API tokens.
//!
//! Passwords are slow-hashed because people reuse weak ones. Session and API
//! secrets are 256 random bits, so a fast SHA-256 is enough to store them:
//! a leaked table of hashes can't be turned back into usable secrets.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::account::Password;

/// Prefix of API tokens, so that secret scanners and people can tell what a
/// leaked string is.
pub const API_TOKEN_PREFIX: &str = "fpt_";

/// Hashes a password with argon2id and a fresh salt (PHC string format).
pub fn hash_password(password: &Password) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| anyhow::anyhow!("encoding a password salt failed: {e}"))?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))
}

/// Checks a typed password against a stored hash. A malformed stored hash
/// counts as a mismatch: sign-in fails closed.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Burns the same time as a real verification, so that sign-in with an
/// unknown email can't be told apart from a wrong password by timing.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        Password::parse("dummy password for timing")
            .ok()
            .and_then(|p| hash_password(&p).ok())
    });
    if let Some(hash) = dummy {
        let _ = verify_password(password, hash);
    }
}

/// A new random secret (256 bits, URL-safe base64, no padding).
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API token secret, recognisable by its prefix.
pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", new_secret())
}

/// The form in which a session or API secret is stored and looked up.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let pw = Password::parse("correct horse battery").expect("valid");
        let hash = hash_password(&pw).expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password(
            "correct horse battery",
            "not a phc string"
        ));
    }

    #[test]
    fn secrets_are_distinct_and_hash_stably() {
        let a = new_api_token();
        let b = new_api_token();
        assert_ne!(a, b);
        assert!(a.starts_with(API_TOKEN_PREFIX));
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), secret_hash(&b));
        assert_eq!(secret_hash(&a).len(), 64);
    }
}
