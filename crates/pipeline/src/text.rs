//! `GET /v1/documents/{id}/text`: which view of a document's text a request asks for, and
//! the page it names. The text is kept in R2 beside the document, as plain text and, when its
//! format shows structure, as Markdown too ([`markdown_key`]); pages are separated by a form
//! feed in both.

use docpipe_docproc::markdown;

use crate::api::ApiError;

/// The R2 custom metadata entry on the text object that says where its Markdown is: beside
/// it ([`MARKDOWN_BESIDE`]), or the document itself ([`MARKDOWN_IS_DOCUMENT`]); without the
/// entry, the text reads the same as Markdown.
pub const HAS_MARKDOWN: &str = "markdown";
pub const MARKDOWN_BESIDE: &str = "1";
pub const MARKDOWN_IS_DOCUMENT: &str = "document";

/// The key of the Markdown of the document stored at `object_key`.
pub fn markdown_key(object_key: &str) -> String {
    format!("{object_key}.md")
}

/// The view of the text a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Plain,
    Markdown,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Plain => "text/plain; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
        }
    }
}

/// The `Content-Type` of a Markdown document served as its own Markdown: its declared
/// charset kept, UTF-8 when it declared none.
pub fn document_markdown_type(declared: &str) -> String {
    let charset = docpipe_jobs::ContentType::parse(Some(declared))
        .ok()
        .and_then(|c| c.charset)
        .unwrap_or_else(|| "utf-8".into());
    format!("text/markdown; charset={charset}")
}

/// A text request: `?format=text|markdown`, `?page=N` (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextQuery {
    pub format: Format,
    pub page: Option<usize>,
}

/// The most pages a document can have (a PDF's are read up to 2,000).
const MAX_PAGE: usize = 100_000;

fn invalid(reason: impl Into<String>) -> ApiError {
    ApiError::InvalidQuery {
        reason: reason.into(),
    }
}

/// Reads `format` and `page` from the query parameters.
pub fn parse(pairs: &[(String, String)]) -> Result<TextQuery, ApiError> {
    let mut query = TextQuery::default();
    for (name, value) in pairs {
        match name.as_str() {
            "format" => {
                query.format = match value.as_str() {
                    "text" | "plain" => Format::Plain,
                    "markdown" | "md" => Format::Markdown,
                    _ => return Err(invalid("`format` must be `text` or `markdown`")),
                }
            }
            "page" => {
                query.page = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_PAGE).contains(n))
                        .ok_or_else(|| invalid("`page` must be a page number from 1"))?,
                );
            }
            other => {
                return Err(invalid(format!(
                    "unknown parameter `{other}`; accepted: format, page"
                )));
            }
        }
    }
    Ok(query)
}

/// Page `number` of a document's text and how many pages it has, or why there is none.
pub fn page(text: &str, number: usize) -> Result<(&str, usize), ApiError> {
    let pages = markdown::page_count(text);
    let page = markdown::page(text, number).ok_or(ApiError::PageNotFound {
        page: number,
        pages,
    })?;
    Ok((page, pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_format_and_page() {
        assert_eq!(parse(&[]).unwrap(), TextQuery::default());
        assert_eq!(
            parse(&pairs(&[("format", "markdown"), ("page", "3")])).unwrap(),
            TextQuery {
                format: Format::Markdown,
                page: Some(3)
            }
        );
        assert_eq!(
            parse(&pairs(&[("format", "text")])).unwrap().format,
            Format::Plain
        );
        for bad in [
            [("format", "html")],
            [("page", "0")],
            [("page", "-1")],
            [("page", "two")],
            [("page", "100001")],
            [("pages", "1")],
        ] {
            let err = parse(&pairs(&bad)).unwrap_err();
            assert_eq!(err.code(), "invalid_query", "{bad:?}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn a_markdown_document_keeps_its_charset() {
        assert_eq!(
            document_markdown_type("text/markdown; charset=ISO-8859-1"),
            "text/markdown; charset=iso-8859-1"
        );
        assert_eq!(
            document_markdown_type("text/markdown"),
            "text/markdown; charset=utf-8"
        );
    }

    #[test]
    fn a_page_past_the_last_says_how_many_there_are() {
        let text = "one\n\u{c}\ntwo";
        assert_eq!(page(text, 2).unwrap(), ("two", 2));
        let err = page(text, 3).unwrap_err();
        assert_eq!(err.code(), "page_not_found");
        assert_eq!(err.status(), 404);
        assert_eq!(err.to_string(), "page 3 is past the document's last (2)");
    }
}
