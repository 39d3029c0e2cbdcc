//! Tenants and their quotas: the daily usage counters, the statements that admit work within a
//! tenant's limits (a row of `tenants` overrides the defaults it is given), and what a refused
//! request is told.

use serde::Deserialize;

use super::Store;
use crate::auth::TenantId;
use crate::db::{DbError, Statement};
use crate::ports::Database;
use crate::quota::{self, Quota, Quotas, Used};
use crate::time::Millis;

/// Why work was refused: the quota, what was used, the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverQuota {
    pub quota: Quota,
    pub used: u64,
    pub limit: u64,
}

/// SQL for the tenant `?1`'s effective limits and in-flight count, with the defaults in
/// `?4` (documents per day), `?5` (bytes per day), `?6` (jobs in flight), `?7` (tokens per day).
macro_rules! limit {
    (documents) => {
        "COALESCE((SELECT max_documents_per_day FROM tenants WHERE id = ?1), ?4)"
    };
    (bytes) => {
        "COALESCE((SELECT max_bytes_per_day FROM tenants WHERE id = ?1), ?5)"
    };
    (in_flight) => {
        "COALESCE((SELECT max_jobs_in_flight FROM tenants WHERE id = ?1), ?6)"
    };
    (tokens) => {
        "COALESCE((SELECT max_tokens_per_day FROM tenants WHERE id = ?1), ?7)"
    };
}
pub(super) use limit;

/// SQL for the jobs, uploads, fetches and resumable uploads the tenant `?1` has in flight.
macro_rules! in_flight {
    () => {
        "((SELECT COUNT(*) FROM jobs WHERE tenant_id = ?1 AND status IN ('queued', 'processing')) \
         + (SELECT COUNT(*) FROM uploads WHERE tenant_id = ?1) \
         + (SELECT COUNT(*) FROM fetches WHERE tenant_id = ?1 AND status IN ('queued', 'fetching')) \
         + (SELECT COUNT(*) FROM resumable_uploads WHERE tenant_id = ?1))"
    };
}
pub(super) use in_flight;

/// The parameters `?1` to `?7` the quota SQL above expects: tenant, day, size, the defaults.
pub(super) fn quota_params(
    tenant: &TenantId,
    now: Millis,
    size: u64,
    quotas: &Quotas,
) -> Vec<crate::db::SqlValue> {
    vec![
        tenant.as_str().into(),
        quota::day(now).into(),
        size.into(),
        quotas.documents_per_day.into(),
        quotas.bytes_per_day.into(),
        quotas.jobs_in_flight.into(),
        quotas.tokens_per_day.into(),
    ]
}

/// Counts one more document of `?3` bytes for the tenant `?1` on day `?2`, but only within
/// every quota; changes no row when a quota would be broken. Run in a transaction with what it
/// admits, which checks `changes()`.
pub(super) fn reserve_document(
    tenant: &TenantId,
    now: Millis,
    size: u64,
    quotas: &Quotas,
) -> Statement {
    Statement::new(
        concat!(
            "INSERT INTO tenant_usage (tenant_id, day, documents, bytes, tokens) \
             SELECT ?1, ?2, 1, ?3, 0 WHERE 1 <= ",
            limit!(documents),
            " AND ?3 <= ",
            limit!(bytes),
            " AND 0 < ",
            limit!(tokens),
            " AND ",
            in_flight!(),
            " < ",
            limit!(in_flight),
            " ON CONFLICT (tenant_id, day) DO UPDATE SET documents = documents + 1, \
             bytes = bytes + excluded.bytes WHERE documents + 1 <= ",
            limit!(documents),
            " AND bytes + excluded.bytes <= ",
            limit!(bytes),
            " AND tokens < ",
            limit!(tokens),
            " AND ",
            in_flight!(),
            " < ",
            limit!(in_flight),
        ),
        quota_params(tenant, now, size, quotas),
    )
}

/// Gives back what [`reserve_document`] counted for the upload of `?1`, on the day it began.
pub(super) fn release_reservation(document: &docpipe_jobs::DocumentId) -> Statement {
    Statement::new(
        "UPDATE tenant_usage SET documents = MAX(documents - 1, 0), \
         bytes = MAX(bytes - (SELECT size_bytes FROM uploads WHERE document_id = ?1), 0) \
         WHERE (tenant_id, day) = (SELECT tenant_id, substr(created_at, 1, 10) FROM uploads \
         WHERE document_id = ?1)",
        vec![document.into()],
    )
}

#[derive(Deserialize)]
struct UsageRow {
    documents: u64,
    bytes: u64,
    tokens: u64,
    in_flight: u64,
    max_documents_per_day: Option<u64>,
    max_bytes_per_day: Option<u64>,
    max_jobs_in_flight: Option<u64>,
    max_tokens_per_day: Option<u64>,
}

impl<D: Database> Store<D> {
    /// What the tenant has used today and its limits (`defaults` where it has no override).
    pub async fn usage(
        &self,
        tenant: &TenantId,
        defaults: &Quotas,
        now: Millis,
    ) -> Result<(Used, Quotas), DbError> {
        let rows: Vec<UsageRow> = self
            .db
            .query(Statement::new(
                concat!(
                    "SELECT COALESCE(u.documents, 0) AS documents, COALESCE(u.bytes, 0) AS bytes, \
                     COALESCE(u.tokens, 0) AS tokens, ",
                    in_flight!(),
                    " AS in_flight, t.max_documents_per_day, t.max_bytes_per_day, \
                     t.max_jobs_in_flight, t.max_tokens_per_day \
                     FROM (SELECT 1) LEFT JOIN tenant_usage u ON u.tenant_id = ?1 AND u.day = ?2 \
                     LEFT JOIN tenants t ON t.id = ?1"
                ),
                vec![tenant.as_str().into(), quota::day(now).into()],
            ))
            .await?;
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| DbError::Decode("no usage row".into()))?;
        let limits = Quotas {
            documents_per_day: row
                .max_documents_per_day
                .unwrap_or(defaults.documents_per_day),
            bytes_per_day: row.max_bytes_per_day.unwrap_or(defaults.bytes_per_day),
            jobs_in_flight: row.max_jobs_in_flight.unwrap_or(defaults.jobs_in_flight),
            tokens_per_day: row.max_tokens_per_day.unwrap_or(defaults.tokens_per_day),
            ..*defaults
        };
        let used = Used {
            documents: row.documents,
            bytes: row.bytes,
            tokens: row.tokens,
            in_flight: row.in_flight,
        };
        Ok((used, limits))
    }

    /// Why a request for one more document of `size` bytes was refused.
    pub(super) async fn over_quota(
        &self,
        tenant: &TenantId,
        defaults: &Quotas,
        size: u64,
        now: Millis,
    ) -> Result<OverQuota, DbError> {
        let (used, limits) = self.usage(tenant, defaults, now).await?;
        let (quota, used, limit) = used.exceeded(&limits, size).unwrap_or((
            // Refused, yet nothing is over now: a concurrent request took the last of it and
            // has since given it back. Report what was tightest.
            Quota::JobsInFlight,
            used.in_flight,
            limits.jobs_in_flight,
        ));
        Ok(OverQuota { quota, used, limit })
    }

    /// Makes sure the tenant has a row (for overrides and keys).
    pub async fn ensure_tenant(&self, tenant: &TenantId, now: Millis) -> Result<(), DbError> {
        self.db
            .execute(Statement::new(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?1, ?2) \
                 ON CONFLICT DO NOTHING",
                vec![tenant.as_str().into(), crate::time::timestamp(now).into()],
            ))
            .await?;
        Ok(())
    }

    /// Sets a tenant's quota overrides (`None` takes the default).
    pub async fn set_quotas(
        &self,
        tenant: &TenantId,
        documents_per_day: Option<u64>,
        bytes_per_day: Option<u64>,
        jobs_in_flight: Option<u64>,
        tokens_per_day: Option<u64>,
    ) -> Result<(), DbError> {
        self.db
            .execute(Statement::new(
                "UPDATE tenants SET max_documents_per_day = ?2, max_bytes_per_day = ?3, \
                 max_jobs_in_flight = ?4, max_tokens_per_day = ?5 WHERE id = ?1",
                vec![
                    tenant.as_str().into(),
                    documents_per_day.into(),
                    bytes_per_day.into(),
                    jobs_in_flight.into(),
                    tokens_per_day.into(),
                ],
            ))
            .await?;
        Ok(())
    }
}
