//! Documents named by URL, before they are documents: admitting a fetch within its tenant's
//! quotas, the fetch lease a consumer takes, and the transaction that turns a fetched object
//! into a document with its `queued` job (or the fetch into a readable failure).

use docpipe_jobs::{DocumentId, JobId, RequestId};
use serde::Deserialize;

use super::tenants::{OverQuota, reserve_document};
use super::uploads::{NewDocument, insert_document, insert_document_where, insert_job};
use super::{Store, webhooks};
use crate::auth::TenantId;
use crate::db::{DbError, Statement};
use crate::ports::Database;
use crate::quota::Quotas;
use crate::time::{Millis, Timestamp, timestamp};

/// A URL a client asked docpipe to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFetch {
    pub job: JobId,
    pub document: DocumentId,
    pub tenant: TenantId,
    pub url: String,
    pub filename: Option<String>,
    pub request_id: RequestId,
    /// Where the document's webhook events also go.
    pub callback_url: Option<String>,
}

/// A fetch whose lease this consumer holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LeasedFetch {
    pub document_id: DocumentId,
    pub tenant_id: TenantId,
    pub url: String,
    pub filename: Option<String>,
    /// This attempt's number, from 1.
    pub attempts: u32,
    pub request_id: RequestId,
}

/// What taking a fetch's lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchLease {
    Acquired(LeasedFetch),
    /// Fetched already: the job row exists and carries on.
    Fetched,
    /// Failed for good.
    Failed,
    /// Another consumer holds the lease until then.
    Held {
        until: Timestamp,
    },
    NotFound,
}

#[derive(Deserialize)]
struct FetchState {
    status: String,
    lease_expires_at: Option<Timestamp>,
}

impl<D: Database> Store<D> {
    /// Admits a fetch within its tenant's quotas (it counts as a document, of no bytes until
    /// they arrive) and records it `queued`, in one transaction.
    pub async fn begin_fetch(
        &self,
        fetch: &NewFetch,
        quotas: &Quotas,
        now: Millis,
    ) -> Result<Result<(), OverQuota>, DbError> {
        let reserve = reserve_document(&fetch.tenant, now, 0, quotas);
        let now_text = timestamp(now);
        let record = Statement::new(
            "INSERT INTO fetches (job_id, document_id, tenant_id, url, filename, status, \
             available_at, request_id, created_at, updated_at, callback_url) \
             SELECT ?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?6, ?6, ?8 WHERE changes() = 1",
            vec![
                fetch.job.into(),
                fetch.document.into(),
                fetch.tenant.as_str().into(),
                fetch.url.clone().into(),
                fetch.filename.clone().into(),
                now_text.into(),
                (&fetch.request_id).into(),
                fetch.callback_url.clone().into(),
            ],
        );
        let changes = self.db.batch(vec![reserve, record]).await?;
        if changes.last().copied().unwrap_or(0) == 1 {
            return Ok(Ok(()));
        }
        Ok(Err(self.over_quota(&fetch.tenant, quotas, 0, now).await?))
    }

    /// Takes the fetch's lease until `now + lease_ms`, if it is due and nobody holds it.
    pub async fn lease_fetch(
        &self,
        job: &JobId,
        now: Millis,
        lease_ms: i64,
    ) -> Result<FetchLease, DbError> {
        let now_text = timestamp(now);
        let rows: Vec<LeasedFetch> = self
            .db
            .query(Statement::new(
                "UPDATE fetches SET status = 'fetching', attempts = attempts + 1, \
                 lease_expires_at = ?2, updated_at = ?3 WHERE job_id = ?1 \
                 AND (status = 'queued' OR (status = 'fetching' AND lease_expires_at < ?3)) \
                 RETURNING document_id, tenant_id, url, filename, attempts, request_id",
                vec![
                    job.into(),
                    timestamp(now + lease_ms).into(),
                    now_text.into(),
                ],
            ))
            .await?;
        if let Some(leased) = rows.into_iter().next() {
            return Ok(FetchLease::Acquired(leased));
        }
        let states: Vec<FetchState> = self
            .db
            .query(Statement::new(
                "SELECT status, lease_expires_at FROM fetches WHERE job_id = ?1",
                vec![job.into()],
            ))
            .await?;
        Ok(match states.into_iter().next() {
            None => FetchLease::NotFound,
            Some(state) => match (state.status.as_str(), state.lease_expires_at) {
                ("fetched", _) => FetchLease::Fetched,
                ("failed", _) => FetchLease::Failed,
                (_, Some(until)) => FetchLease::Held { until },
                // Handed back between the two statements: due again now.
                _ => FetchLease::Held {
                    until: Timestamp(now),
                },
            },
        })
    }

    /// Records the fetched document and its `queued` job, counts its bytes for the tenant's
    /// day, and closes the fetch, in one transaction. Returns `false` (nothing recorded) when
    /// the fetch was no longer this lease's to finish.
    pub async fn complete_fetch(
        &self,
        job: &JobId,
        document: &NewDocument,
        now: Millis,
    ) -> Result<bool, DbError> {
        let now_text = timestamp(now);
        let insert = insert_document(
            document,
            &now_text,
            insert_document_where!(
                "EXISTS (SELECT 1 FROM fetches WHERE document_id = ?1 AND status = 'fetching')"
            ),
        );
        let count_bytes = Statement::new(
            "UPDATE tenant_usage SET bytes = bytes + ?3 WHERE tenant_id = ?1 \
             AND day = (SELECT substr(created_at, 1, 10) FROM fetches WHERE document_id = ?2) \
             AND EXISTS (SELECT 1 FROM documents WHERE id = ?2)",
            vec![
                document.tenant.as_str().into(),
                document.id.into(),
                document.size_bytes.into(),
            ],
        );
        let close = Statement::new(
            "UPDATE fetches SET status = 'fetched', error = NULL, lease_expires_at = NULL, \
             updated_at = ?2, finished_at = ?2 WHERE job_id = ?1 AND status = 'fetching' \
             AND EXISTS (SELECT 1 FROM documents WHERE id = fetches.document_id)",
            vec![job.into(), now_text.clone().into()],
        );
        let changes = self
            .db
            .batch(vec![
                insert,
                insert_job(job, document, &now_text),
                count_bytes,
                close,
            ])
            .await?;
        Ok(changes.first().copied().unwrap_or(0) == 1)
    }

    /// Fails the fetch with a readable reason and gives back the document it counted.
    pub async fn fail_fetch(&self, job: &JobId, error: &str, now: Millis) -> Result<(), DbError> {
        let release = Statement::new(
            "UPDATE tenant_usage SET documents = MAX(documents - 1, 0) \
             WHERE (tenant_id, day) = (SELECT tenant_id, substr(created_at, 1, 10) FROM fetches \
             WHERE job_id = ?1 AND status IN ('queued', 'fetching'))",
            vec![job.into()],
        );
        let fail = Statement::new(
            "UPDATE fetches SET status = 'failed', error = ?2, lease_expires_at = NULL, \
             updated_at = ?3, finished_at = ?3 WHERE job_id = ?1 \
             AND status IN ('queued', 'fetching')",
            vec![job.into(), error.into(), timestamp(now).into()],
        );
        let mut statements = vec![release, fail];
        statements.extend(webhooks::fetch_event(job, now));
        self.db.batch(statements).await?;
        Ok(())
    }

    /// Hands the fetch back for another attempt at `available_at`, noting why.
    pub async fn retry_fetch(
        &self,
        job: &JobId,
        error: &str,
        now: Millis,
        available_at: Millis,
    ) -> Result<(), DbError> {
        self.db
            .execute(Statement::new(
                "UPDATE fetches SET status = 'queued', error = ?2, lease_expires_at = NULL, \
                 available_at = ?3, updated_at = ?4 WHERE job_id = ?1 AND status = 'fetching'",
                vec![
                    job.into(),
                    error.into(),
                    timestamp(available_at).into(),
                    timestamp(now).into(),
                ],
            ))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use docpipe_jobs::JobStatus;
    use pollster::block_on;

    use super::*;
    use crate::quota::Quota;
    use crate::sqlite::Sqlite;
    use crate::store::fixtures::*;

    fn fetch() -> NewFetch {
        NewFetch {
            job: JobId::new(),
            document: DocumentId::new(),
            tenant: tenant(),
            url: "https://example.com/harbour.txt".into(),
            filename: None,
            request_id: RequestId::parse("req-1").unwrap(),
            callback_url: None,
        }
    }

    fn fetched(fetch: &NewFetch, size: u64) -> NewDocument {
        NewDocument {
            id: fetch.document,
            source_url: Some(fetch.url.clone()),
            size_bytes: size,
            ..document(fetch.document)
        }
    }

    fn status(store: &Store<Sqlite>, fetch: &NewFetch) -> String {
        store.database().scalar_text(&format!(
            "SELECT status FROM fetches WHERE job_id = '{}'",
            fetch.job
        ))
    }

    fn usage(store: &Store<Sqlite>) -> (i64, i64) {
        let db = store.database();
        (
            db.scalar_i64("SELECT COALESCE(SUM(documents), 0) FROM tenant_usage"),
            db.scalar_i64("SELECT COALESCE(SUM(bytes), 0) FROM tenant_usage"),
        )
    }

    #[test]
    fn a_fetched_document_is_recorded_with_its_queued_job_and_counted() {
        let store = Store::new(Sqlite::migrated());
        let f = fetch();
        assert_eq!(
            block_on(store.begin_fetch(&f, &Quotas::default(), T0)),
            Ok(Ok(()))
        );
        assert_eq!(usage(&store), (1, 0));
        let FetchLease::Acquired(leased) = block_on(store.lease_fetch(&f.job, T0, 60_000)).unwrap()
        else {
            panic!("not leased")
        };
        assert_eq!((leased.attempts, leased.url.as_str()), (1, f.url.as_str()));
        assert!(block_on(store.complete_fetch(&f.job, &fetched(&f, 51), T0 + 5)).unwrap());
        assert_eq!(status(&store, &f), "fetched");
        assert_eq!(usage(&store), (1, 51));
        let job = block_on(store.job(&tenant(), &f.job)).unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Queued);
        let source = store.database().scalar_text(&format!(
            "SELECT source_url FROM documents WHERE id = '{}'",
            f.document
        ));
        assert_eq!(source, f.url);
        assert_eq!(
            block_on(store.lease_fetch(&f.job, T0 + 10, 60_000)),
            Ok(FetchLease::Fetched)
        );
    }

    #[test]
    fn a_held_lease_is_not_taken_until_it_expires() {
        let store = Store::new(Sqlite::migrated());
        let f = fetch();
        block_on(store.begin_fetch(&f, &Quotas::default(), T0))
            .unwrap()
            .unwrap();
        assert!(matches!(
            block_on(store.lease_fetch(&f.job, T0, 60_000)),
            Ok(FetchLease::Acquired(_))
        ));
        assert!(matches!(
            block_on(store.lease_fetch(&f.job, T0 + 1_000, 60_000)),
            Ok(FetchLease::Held { .. })
        ));
        let FetchLease::Acquired(again) =
            block_on(store.lease_fetch(&f.job, T0 + 61_000, 60_000)).unwrap()
        else {
            panic!("expired lease not taken over")
        };
        assert_eq!(again.attempts, 2);
    }

    #[test]
    fn a_failed_fetch_keeps_its_reason_and_gives_its_document_back() {
        let store = Store::new(Sqlite::migrated());
        let f = fetch();
        block_on(store.begin_fetch(&f, &Quotas::default(), T0))
            .unwrap()
            .unwrap();
        block_on(store.lease_fetch(&f.job, T0, 60_000)).unwrap();
        block_on(store.fail_fetch(&f.job, "404 from origin", T0 + 1)).unwrap();
        assert_eq!(status(&store, &f), "failed");
        assert_eq!(usage(&store), (0, 0));
        assert_eq!(
            block_on(store.lease_fetch(&f.job, T0 + 2, 60_000)),
            Ok(FetchLease::Failed)
        );
        // A late completion by a lease that lost the fetch records nothing.
        assert!(!block_on(store.complete_fetch(&f.job, &fetched(&f, 51), T0 + 3)).unwrap());
        let job = block_on(store.job(&tenant(), &f.job)).unwrap().unwrap();
        assert_eq!(
            (job.status, job.error.as_deref(), job.stage.as_deref()),
            (JobStatus::Failed, Some("404 from origin"), Some("fetching"))
        );
        assert_eq!(
            store
                .database()
                .scalar_i64("SELECT COUNT(*) FROM documents"),
            0
        );
    }

    #[test]
    fn a_fetch_counts_against_the_tenants_quotas() {
        let store = Store::new(Sqlite::migrated());
        let quotas = Quotas {
            jobs_in_flight: 1,
            ..Quotas::default()
        };
        block_on(store.begin_fetch(&fetch(), &quotas, T0))
            .unwrap()
            .unwrap();
        let over = block_on(store.begin_fetch(&fetch(), &quotas, T0))
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (over.quota, over.used, over.limit),
            (Quota::JobsInFlight, 1, 1)
        );
        assert_eq!(
            store.database().scalar_i64("SELECT COUNT(*) FROM fetches"),
            1
        );
    }
}
