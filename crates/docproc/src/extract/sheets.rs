//! Spreadsheets (`.xlsx`, `.ods`) as Markdown: a heading and a table per sheet.

use super::{ExtractError, ExtractLimits};

pub(super) fn xlsx_to_markdown(
    _bytes: &[u8],
    _limits: &ExtractLimits,
) -> Result<String, ExtractError> {
    Err(ExtractError::Unsupported {
        what: "an Excel workbook".into(),
    })
}

pub(super) fn ods_to_markdown(
    _bytes: &[u8],
    _limits: &ExtractLimits,
) -> Result<String, ExtractError> {
    Err(ExtractError::Unsupported {
        what: "an OpenDocument spreadsheet".into(),
    })
}
