//! E-mail messages (`.eml`) as Markdown: their headers and text parts.

use super::{ExtractError, ExtractLimits};

pub(super) fn to_markdown(
    _bytes: &[u8],
    _limits: &ExtractLimits,
) -> Result<(String, Option<String>), ExtractError> {
    Err(ExtractError::Unsupported {
        what: "an e-mail message".into(),
    })
}
