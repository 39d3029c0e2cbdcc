//! Full-text search over documents: what is indexed, and reading a search request. The index
//! is SQLite's FTS5 in D1 (`search_index`, see `store::search`): names, summaries and the first
//! [`INDEXED_TEXT_BYTES`] of the extracted text, ranked by BM25, with highlighted snippets.
//! Queries are FTS5 syntax: words (all must match), `"a phrase"`, `prefix*`, `OR`, `NOT`,
//! `NEAR(a b)`, `summary:word`. A query FTS5 cannot read is `400`, never `500`.

use crate::api::ApiError;
use crate::db::DbError;

/// How much of a document's extracted text is indexed: D1 rows hold at most 2 MB, and the
/// start of a document is what its search hits mostly need.
pub const INDEXED_TEXT_BYTES: usize = 256 * 1024;
/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 512;
/// Results per search unless the client asks for another number; and the most.
pub const DEFAULT_LIMIT: u32 = 10;
pub const MAX_LIMIT: u32 = 50;

/// The indexed part of a document's text: its start, cut at a character boundary.
pub fn indexed_prefix(text: &str) -> &str {
    if text.len() <= INDEXED_TEXT_BYTES {
        return text;
    }
    let mut end = INDEXED_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub q: String,
    pub limit: u32,
}

fn invalid(reason: impl Into<String>) -> ApiError {
    ApiError::InvalidQuery {
        reason: reason.into(),
    }
}

/// Reads `q` and `limit` from the query parameters.
pub fn parse(pairs: &[(String, String)]) -> Result<SearchQuery, ApiError> {
    let mut q = None;
    let mut limit = DEFAULT_LIMIT;
    for (name, value) in pairs {
        match name.as_str() {
            "q" => q = Some(value.trim().to_owned()),
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| invalid(format!("`limit` must be 1 to {MAX_LIMIT}")))?;
            }
            other => {
                return Err(invalid(format!(
                    "unknown parameter `{other}`; accepted: q, limit"
                )));
            }
        }
    }
    let q = q
        .filter(|q| !q.is_empty())
        .ok_or_else(|| invalid("`q` is missing: search with ?q=words"))?;
    if q.len() > MAX_QUERY_BYTES {
        return Err(invalid(format!(
            "`q` is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    Ok(SearchQuery { q, limit })
}

/// A database error that is the query's fault (FTS5 syntax, an unknown column filter), as the
/// client's error.
pub fn query_error(error: &DbError) -> Option<ApiError> {
    let DbError::Failed(message) = error else {
        return None;
    };
    let lower = message.to_ascii_lowercase();
    let ours = [
        "fts5:",
        "no such column",
        "unterminated string",
        "malformed match",
        "unknown special query",
    ]
    .iter()
    .any(|marker| lower.contains(marker));
    ours.then(|| {
        invalid(format!(
            "the search query cannot be read ({}): use words, \"a phrase\", prefix*, OR, NOT, NEAR(a b), summary:word",
            message.chars().take(200).collect::<String>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_indexed_prefix_ends_at_a_character_boundary() {
        let text = "é".repeat(INDEXED_TEXT_BYTES);
        let prefix = indexed_prefix(&text);
        assert!(prefix.len() <= INDEXED_TEXT_BYTES && prefix.len() > INDEXED_TEXT_BYTES - 2);
        assert_eq!(indexed_prefix("short"), "short");
    }

    #[test]
    fn a_search_needs_words_and_a_sane_limit() {
        let p = |list: &[(&str, &str)]| {
            parse(
                &list
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            p(&[("q", " harbour ")]).unwrap(),
            SearchQuery {
                q: "harbour".into(),
                limit: DEFAULT_LIMIT
            }
        );
        for bad in [
            vec![],
            vec![("q", "  ")],
            vec![("q", "a"), ("limit", "51")],
            vec![("q", "a"), ("page", "2")],
        ] {
            assert_eq!(p(&bad).unwrap_err().code(), "invalid_query", "{bad:?}");
        }
        let long = "a".repeat(MAX_QUERY_BYTES + 1);
        assert!(p(&[("q", &long)]).is_err());
    }

    mod index {
        use docpipe_docproc::summarize::Usage;
        use docpipe_jobs::{DocumentId, JobId};
        use pollster::block_on;

        use super::super::*;
        use crate::auth::TenantId;
        use crate::sqlite::Sqlite;
        use crate::store::Store;
        use crate::store::fixtures::*;

        /// A document summarized as `summary`, with `text` as its extracted text.
        fn summarized(
            store: &Store<Sqlite>,
            tenant: &TenantId,
            summary: &str,
            text: &str,
        ) -> DocumentId {
            let (doc, job) = (DocumentId::new(), JobId::new());
            let new = crate::store::NewDocument {
                tenant: tenant.clone(),
                object_key: format!("{}{doc}", tenant.object_prefix()),
                ..document(doc)
            };
            let upload = crate::store::NewUpload {
                tenant: tenant.clone(),
                ..new_upload(&new)
            };
            block_on(store.begin_upload(&upload, &crate::quota::Quotas::default(), T0))
                .unwrap()
                .unwrap();
            assert!(block_on(store.create_document(&new, &job, T0)).unwrap());
            leased(block_on(store.acquire_lease(&job, "l", T0, LEASE)).unwrap());
            let completion = crate::store::Completion {
                search_text: text.into(),
                ..completion(summary)
            };
            assert!(
                block_on(store.complete(&job, "l", &completion, &Usage::default(), T0)).unwrap()
            );
            doc
        }

        fn search(
            store: &Store<Sqlite>,
            tenant: &TenantId,
            q: &str,
        ) -> Result<Vec<DocumentId>, crate::db::DbError> {
            let query = SearchQuery {
                q: q.into(),
                limit: 10,
            };
            block_on(store.search(tenant, &query))
                .map(|hits| hits.into_iter().map(|h| h.document_id).collect())
        }

        #[test]
        fn a_hit_names_the_page_of_its_first_match_in_the_text() {
            let store = Store::new(Sqlite::migrated());
            summarized(
                &store,
                &tenant(),
                "Cranes and ferries.",
                "Page one is about cranes.\n\u{c}\nPage two too.\n\u{c}\nPage three: ferries, cranes.",
            );
            let page_of = |q: &str| {
                let query = SearchQuery {
                    q: q.into(),
                    limit: 10,
                };
                let hits = block_on(store.search(&tenant(), &query)).unwrap();
                assert_eq!(hits.len(), 1, "{q}");
                assert!(!hits[0].text_snippet.contains('\u{c}'));
                hits[0].page
            };
            assert_eq!(page_of("cranes"), Some(1));
            assert_eq!(page_of("ferries"), Some(3));
            assert_eq!(page_of("two"), Some(2));
            // Only the summary matches: the text has no page to name.
            assert_eq!(page_of("summary:ferries"), None);
        }

        #[test]
        fn a_phrase_ranks_the_document_that_repeats_it_first_within_its_tenant_only() {
            let store = Store::new(Sqlite::migrated());
            let other = TenantId::parse("other").unwrap();
            let once = summarized(
                &store,
                &tenant(),
                "Ferries.",
                "The harbour master spoke once. Then rain.",
            );
            let often = summarized(
                &store,
                &tenant(),
                "Harbour master notes.",
                "The harbour master said so. The harbour master again. Ask the harbour master.",
            );
            summarized(
                &store,
                &other,
                "Theirs.",
                "The harbour master of another tenant.",
            );
            summarized(
                &store,
                &tenant(),
                "Unrelated.",
                "Nothing about ports here, only master keys.",
            );
            assert_eq!(
                search(&store, &tenant(), "\"harbour master\""),
                Ok(vec![often, once])
            );
            assert_eq!(search(&store, &tenant(), "harb*").unwrap().len(), 2);
            assert_eq!(
                search(&store, &tenant(), "Hárbour").unwrap().len(),
                2,
                "diacritics"
            );
            assert_eq!(
                search(&store, &other, "\"harbour master\"").unwrap().len(),
                1
            );
            let hits = block_on(store.search(
                &tenant(),
                &SearchQuery {
                    q: "rain".into(),
                    limit: 5,
                },
            ))
            .unwrap();
            assert!(
                hits[0].text_snippet.contains("<mark>rain</mark>"),
                "{:?}",
                hits[0]
            );
            // Deleting the document takes its search row.
            block_on(store.delete_document(&tenant(), &often)).unwrap();
            assert_eq!(
                search(&store, &tenant(), "\"harbour master\""),
                Ok(vec![once])
            );
        }

        #[test]
        fn a_query_fts5_cannot_read_is_the_clients_error() {
            let store = Store::new(Sqlite::migrated());
            summarized(&store, &tenant(), "A.", "Some text.");
            for hostile in [
                "\"unbalanced",
                "AND",
                "NEAR(",
                "nosuchcolumn:x",
                "a OR",
                "(((",
                "*",
            ] {
                let err = search(&store, &tenant(), hostile).unwrap_err();
                let api = query_error(&err).unwrap_or_else(|| panic!("{hostile}: {err}"));
                assert_eq!(api.status(), 400, "{hostile}");
            }
        }
    }
}
