//! EPUB books as Markdown: their chapters in reading order.

use super::{ExtractError, ExtractLimits};

pub(super) fn to_markdown(_bytes: &[u8], _limits: &ExtractLimits) -> Result<String, ExtractError> {
    Err(ExtractError::Unsupported {
        what: "an EPUB book".into(),
    })
}
