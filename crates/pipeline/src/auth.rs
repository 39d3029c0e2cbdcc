//! Who is calling: API keys, the tenants they belong to, and what they may do.
//!
//! A key is `dpk_` followed by 43 base64url characters: 256 random bits, made by `scripts/keys`
//! and shown once. D1 keeps only its SHA-256 (hex): a key with that much entropy needs no slow
//! hash, and a leaked table holds nothing that authenticates. Keys and hashes never reach a
//! log: requests are logged by key id and tenant.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::time::Millis;

/// The start of every key, so a leaked one is recognizable (secret scanners, logs).
pub const KEY_PREFIX: &str = "dpk_";
/// Characters after the prefix: 32 random bytes in base64url without padding.
pub const KEY_SECRET_LEN: usize = 43;

/// The tenant every row created before accounts existed belongs to.
pub const DEFAULT_TENANT: &str = "default";

/// Who owns documents, jobs and summaries: 1 to 64 of `[a-z0-9_-]`, starting with a letter
/// or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

/// Why a tenant id is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a tenant id: use 1 to 64 of a-z, 0-9, `-` and `_`, starting with a letter or digit"
)]
pub struct InvalidTenant(pub String);

impl TenantId {
    pub fn parse(input: &str) -> Result<Self, InvalidTenant> {
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        let first_ok = input
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if first_ok && input.len() <= 64 && input.chars().all(ok) {
            Ok(Self(input.to_owned()))
        } else {
            Err(InvalidTenant(input.chars().take(80).collect()))
        }
    }

    pub fn default_tenant() -> Self {
        Self(DEFAULT_TENANT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the tenant's objects live in R2.
    pub fn object_prefix(&self) -> String {
        format!("tenants/{}/", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read documents, jobs, summaries and texts.
    Read,
    /// Upload, reprocess (and, later, delete).
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// A key's scopes, as D1 stores them: `read`, `write` or `read write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes {
    pub read: bool,
    pub write: bool,
}

impl Scopes {
    pub fn allows(self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
        }
    }

    /// Parses the stored form; anything else grants nothing.
    pub fn parse(text: &str) -> Self {
        let mut scopes = Self {
            read: false,
            write: false,
        };
        for word in text.split_whitespace() {
            match word {
                "read" => scopes.read = true,
                "write" => scopes.write = true,
                _ => {}
            }
        }
        scopes
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

/// The caller of a request: the key that authenticated it and the tenant it acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub tenant: TenantId,
    pub scopes: Scopes,
    /// When the key was last noted as used, as the request found it.
    pub last_used_at: Option<Millis>,
}

impl Principal {
    /// Whether this request should note the key's use: the last note is older than
    /// [`LAST_USED_RESOLUTION_MS`](crate::store::keys::LAST_USED_RESOLUTION_MS), so a busy
    /// key costs one write a minute, not one per request.
    pub fn needs_touch(&self, now: Millis) -> bool {
        self.last_used_at
            .is_none_or(|at| at < now - crate::store::keys::LAST_USED_RESOLUTION_MS)
    }

    /// The caller, if its key grants `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Self, ApiError> {
        if self.scopes.allows(scope) {
            Ok(self)
        } else {
            Err(ApiError::InsufficientScope {
                needed: scope.as_str(),
            })
        }
    }
}

/// The key a request presents: `Authorization: Bearer dpk_…`, checked for shape only.
pub fn bearer_key(header: Option<&str>) -> Result<&str, ApiError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let header = header.ok_or(ApiError::MissingApiKey)?;
    let (scheme, key) = header.split_once(' ').ok_or(ApiError::InvalidApiKey)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidApiKey);
    }
    let key = key.trim();
    let secret = key
        .strip_prefix(KEY_PREFIX)
        .ok_or(ApiError::InvalidApiKey)?;
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if secret.len() != KEY_SECRET_LEN || !secret.chars().all(base64url) {
        return Err(ApiError::InvalidApiKey);
    }
    Ok(key)
}

/// What D1 keeps of a key: its SHA-256, lowercase hex.
pub fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A key made from 32 random bytes (`scripts/keys` makes them the same way in JavaScript).
pub fn key_from_bytes(random: &[u8; 32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut key = String::with_capacity(KEY_PREFIX.len() + KEY_SECRET_LEN);
    key.push_str(KEY_PREFIX);
    let mut bits = 0u32;
    let mut count = 0;
    for byte in random {
        bits = (bits << 8) | u32::from(*byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            key.push(char::from(ALPHABET[((bits >> count) & 63) as usize]));
        }
    }
    if count > 0 {
        key.push(char::from(ALPHABET[((bits << (6 - count)) & 63) as usize]));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_and_43_base64url_characters() {
        let key = key_from_bytes(&[0xFB; 32]);
        assert_eq!(key.len(), KEY_PREFIX.len() + KEY_SECRET_LEN);
        // 0xFB FB FB is 111110 111111 101111 111011 in 6-bit groups.
        assert!(key.starts_with("dpk_-_v7"), "{key}");
        assert_eq!(bearer_key(Some(&format!("Bearer {key}"))), Ok(key.as_str()));
        assert_eq!(
            bearer_key(Some(&format!("bearer  {key} "))),
            Ok(key.as_str())
        );
    }

    #[test]
    fn a_missing_or_malformed_key_is_refused_before_any_lookup() {
        let key = key_from_bytes(&[7; 32]);
        assert_eq!(bearer_key(None), Err(ApiError::MissingApiKey));
        assert_eq!(bearer_key(Some("  ")), Err(ApiError::MissingApiKey));
        for header in [
            key.clone(),
            format!("Basic {key}"),
            format!("Bearer {}", &key[..key.len() - 1]),
            format!("Bearer {key}x"),
            format!("Bearer sk_{}", &key[4..]),
            format!("Bearer dpk_+{}", &key[5..]),
            "Bearer".into(),
        ] {
            assert_eq!(
                bearer_key(Some(&header)),
                Err(ApiError::InvalidApiKey),
                "{header}"
            );
        }
    }

    #[test]
    fn the_hash_is_sha256_hex_and_differs_per_key() {
        assert_eq!(
            key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(
            key_hash(&key_from_bytes(&[1; 32])),
            key_hash(&key_from_bytes(&[2; 32]))
        );
    }

    #[test]
    fn tenant_ids_are_short_lowercase_slugs() {
        for good in ["default", "acme", "team-7", "a_b", "0x"] {
            assert!(TenantId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Acme", "-lead", "a/b", "a b", "ä", &"x".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TenantId::parse("acme").unwrap().object_prefix(),
            "tenants/acme/"
        );
    }

    #[test]
    fn scopes_grant_what_they_name_and_nothing_else() {
        let read = Scopes::parse("read");
        assert!(read.allows(Scope::Read) && !read.allows(Scope::Write));
        let both = Scopes::parse("read write");
        assert!(both.allows(Scope::Read) && both.allows(Scope::Write));
        let odd = Scopes::parse("admin");
        assert!(!odd.allows(Scope::Read) && !odd.allows(Scope::Write));
        let principal = Principal {
            key_id: "k".into(),
            tenant: TenantId::default_tenant(),
            scopes: read,
            last_used_at: Some(1_000_000),
        };
        assert_eq!(
            principal.require(Scope::Write),
            Err(ApiError::InsufficientScope { needed: "write" })
        );
        // The key's use is noted at most once a minute.
        assert!(!principal.needs_touch(1_000_000 + 59_999));
        assert!(principal.needs_touch(1_000_000 + 60_001));
        let never = Principal {
            last_used_at: None,
            ..principal
        };
        assert!(never.needs_touch(0));
    }
}
