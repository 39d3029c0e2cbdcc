//! OpenDocument text (`.odt`) as Markdown.

use super::{ExtractError, ExtractLimits};

pub(super) fn to_markdown(_bytes: &[u8], _limits: &ExtractLimits) -> Result<String, ExtractError> {
    Err(ExtractError::Unsupported {
        what: "an OpenDocument text".into(),
    })
}
