//! The webhook delivery message: a wake-up call for one delivery of one event to one receiver.
//! D1 holds the delivery, its event and every attempt; the message carries only the id.
//!
//! Wire format (JSON): `{"v":1,"delivery_id":42}`.

use serde::{Deserialize, Serialize};

use crate::message::SCHEMA_VERSION;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    #[serde(rename = "v")]
    pub version: u32,
    pub delivery_id: i64,
}

impl DeliveryMessage {
    pub fn new(delivery_id: i64) -> Self {
        Self {
            version: SCHEMA_VERSION,
            delivery_id,
        }
    }

    /// Decodes a message body; `None` for anything that is not a version-1 delivery message.
    pub fn decode(json: &str) -> Option<Self> {
        serde_json::from_str::<Self>(json)
            .ok()
            .filter(|m| m.version == SCHEMA_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_stable_and_other_versions_are_refused() {
        let json = serde_json::to_string(&DeliveryMessage::new(42)).unwrap();
        assert_eq!(json, r#"{"v":1,"delivery_id":42}"#);
        assert_eq!(
            DeliveryMessage::decode(&json),
            Some(DeliveryMessage::new(42))
        );
        assert_eq!(DeliveryMessage::decode(r#"{"v":2,"delivery_id":42}"#), None);
        assert_eq!(DeliveryMessage::decode(r#"{"v":1}"#), None);
        assert_eq!(DeliveryMessage::decode("42"), None);
    }
}
