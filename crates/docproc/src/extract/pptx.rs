//! PowerPoint presentations (`.pptx`) as Markdown: a page per slide.

use super::{ExtractError, ExtractLimits};

pub(super) fn to_markdown(_bytes: &[u8], _limits: &ExtractLimits) -> Result<String, ExtractError> {
    Err(ExtractError::Unsupported {
        what: "a PowerPoint presentation".into(),
    })
}
