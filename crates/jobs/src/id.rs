//! Identifiers. Documents and jobs are named by UUIDv7, so ids sort by creation time and make
//! good primary keys; a request id is whatever correlates one HTTP request with its logs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// How an id is written, for error messages.
pub const ID_FORM: &str =
    "a UUIDv7 in lowercase hyphenated form, like 01a20868-f734-773a-9278-7566c1ea5261";

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("`{input}` is not a UUID; an id is {ID_FORM}")]
    NotUuid { input: String },
    #[error("`{input}` is a UUID of version {version}; an id is {ID_FORM}")]
    NotV7 { input: String, version: usize },
    #[error("`{input}` is not written as ids are; write it `{canonical}`")]
    NotCanonical { input: String, canonical: String },
    #[error("request id must be 1 to {max} characters of [A-Za-z0-9._:-], got {len} characters")]
    BadRequestId { len: usize, max: usize },
}

/// Parses an id in its one written form: a UUIDv7, lowercase, hyphenated. Other spellings of
/// the same UUID (uppercase, braces, `urn:uuid:`, no hyphens) are refused with the canonical
/// form, so each id has one spelling in URLs, logs and SQL.
fn parse_v7(input: &str) -> Result<Uuid, IdError> {
    let uuid = Uuid::try_parse(input).map_err(|_| IdError::NotUuid {
        input: truncate_for_error(input),
    })?;
    if uuid.get_version_num() != 7 {
        return Err(IdError::NotV7 {
            input: truncate_for_error(input),
            version: uuid.get_version_num(),
        });
    }
    let canonical = uuid.hyphenated().to_string();
    if canonical != input {
        return Err(IdError::NotCanonical {
            input: truncate_for_error(input),
            canonical,
        });
    }
    Ok(uuid)
}

/// Ids come from URLs and message bodies; an error quoting one must stay short.
fn truncate_for_error(input: &str) -> String {
    input.chars().take(64).collect()
}

macro_rules! uuid_v7_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id from the current time and fresh randomness.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the hyphenated form, accepting UUIDv7 only.
            pub fn parse(input: &str) -> Result<Self, IdError> {
                parse_v7(input).map(Self)
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_v7_id!(
    /// Names an uploaded document.
    DocumentId
);
uuid_v7_id!(
    /// Names one processing run of a document.
    JobId
);

/// Correlates an HTTP request with every log line it causes, including those of the job it
/// creates. Either the client's `X-Request-Id` (when it is a sane token) or a fresh UUIDv7.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_LEN: usize = 64;

    pub fn generate() -> Self {
        Self(Uuid::now_v7().hyphenated().to_string())
    }

    /// Accepts a client-chosen id when it is short and made of characters that are safe in
    /// logs and headers.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if input.is_empty() || input.len() > Self::MAX_LEN || !input.chars().all(ok_char) {
            return Err(IdError::BadRequestId {
                len: input.chars().count(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_v7_and_round_trip_through_text() {
        let id = JobId::new();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert_eq!(JobId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn ids_created_later_sort_later() {
        let first = DocumentId::new();
        let second = DocumentId::new();
        assert!(first < second, "{first} should sort before {second}");
    }

    #[test]
    fn rejects_uuid_of_other_version() {
        let v4 = "5b7a3e0c-8d1f-4a2b-9c3d-1e2f3a4b5c6d";
        assert_eq!(
            JobId::parse(v4),
            Err(IdError::NotV7 {
                input: v4.into(),
                version: 4
            })
        );
    }

    #[test]
    fn other_spellings_of_an_id_are_refused_with_its_canonical_form() {
        let id = JobId::new();
        let canonical = id.to_string();
        for other in [
            canonical.to_uppercase(),
            canonical.replace('-', ""),
            format!("urn:uuid:{canonical}"),
            format!("{{{canonical}}}"),
        ] {
            let err = JobId::parse(&other).unwrap_err();
            assert_eq!(
                err,
                IdError::NotCanonical {
                    input: other.clone(),
                    canonical: canonical.clone()
                }
            );
            assert!(err.to_string().contains(&canonical), "{err}");
        }
    }

    #[test]
    fn errors_say_what_an_id_is() {
        let v4 = JobId::parse("5b7a3e0c-8d1f-4a2b-9c3d-1e2f3a4b5c6d").unwrap_err();
        assert!(
            v4.to_string().contains("version 4; an id is a UUIDv7"),
            "{v4}"
        );
        let garbage = JobId::parse("not-an-id").unwrap_err();
        assert!(
            garbage.to_string().contains("an id is a UUIDv7"),
            "{garbage}"
        );
    }

    #[test]
    fn rejects_garbage_and_keeps_error_short() {
        let long = "x".repeat(10_000);
        match DocumentId::parse(&long) {
            Err(IdError::NotUuid { input }) => assert_eq!(input.len(), 64),
            other => panic!("expected NotUuid, got {other:?}"),
        }
    }

    #[test]
    fn request_id_accepts_tokens_and_rejects_header_injection() {
        assert!(RequestId::parse("req-42_a.b:c").is_ok());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse("a\r\nx-evil: 1").is_err());
        assert!(RequestId::parse("ä").is_err());
        assert!(RequestId::parse(&"a".repeat(65)).is_err());
        assert!(RequestId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn generated_request_ids_are_valid_request_ids() {
        let id = RequestId::generate();
        assert_eq!(RequestId::parse(id.as_str()), Ok(id));
    }
}
