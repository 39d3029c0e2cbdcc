//! API keys: finding the caller of a request by its key's hash, and noting when a key was last
//! used. Keys are created, listed and revoked by `scripts/keys` (or by tests, through
//! [`Store::create_key`]).

use docpipe_jobs::JobId;
use serde::Deserialize;

use super::{IdempotentUpload, Store};
use crate::auth::{Principal, Scopes, TenantId, key_hash};
use crate::db::{DbError, Statement};
use crate::ports::Database;
use crate::time::{Millis, Timestamp, timestamp};

/// How stale `last_used_at` may get before a request updates it: at most one write per key a
/// minute, however busy the key.
pub const LAST_USED_RESOLUTION_MS: Millis = 60_000;

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    tenant_id: TenantId,
    scopes: Scopes,
    last_used_at: Option<Timestamp>,
    /// The upload the `Idempotency-Key` asked about already names, if any.
    document_id: Option<docpipe_jobs::DocumentId>,
    job_id: Option<JobId>,
    sha256: Option<String>,
    size_bytes: Option<u64>,
}

impl<D: Database> Store<D> {
    /// The caller whose key hashes to `hash`, unless it is unknown or revoked; with an upload's
    /// `idempotency_key`, also the upload that key already names in the caller's tenant, in the
    /// same statement (one round trip before an upload's body is read).
    pub async fn authenticate(
        &self,
        hash: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Option<(Principal, Option<IdempotentUpload>)>, DbError> {
        let rows: Vec<KeyRow> = self
            .db
            .query(Statement::new(
                "SELECT k.id, k.tenant_id, k.scopes, k.last_used_at, d.id AS document_id, \
                 (SELECT j.id FROM jobs j WHERE j.document_id = d.id ORDER BY j.id LIMIT 1) AS job_id, \
                 d.sha256, d.size_bytes FROM api_keys k \
                 LEFT JOIN idempotency_keys i ON i.tenant_id = k.tenant_id AND i.key = ?2 \
                 LEFT JOIN documents d ON d.id = i.document_id \
                 WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
                vec![hash.into(), idempotency_key.into()],
            ))
            .await?;
        Ok(rows.into_iter().next().map(|row| {
            let original = row.document_id.map(|document_id| IdempotentUpload {
                document_id,
                job_id: row.job_id,
                sha256: row.sha256,
                size_bytes: row.size_bytes.unwrap_or(0),
            });
            let caller = Principal {
                key_id: row.id,
                tenant: row.tenant_id,
                scopes: row.scopes,
                last_used_at: row.last_used_at.map(|at| at.0),
            };
            (caller, original)
        }))
    }

    /// Notes that the key was used now, unless that was noted less than a minute ago.
    pub async fn touch_key(&self, key_id: &str, now: Millis) -> Result<(), DbError> {
        self.db
            .execute(Statement::new(
                "UPDATE api_keys SET last_used_at = ?2 \
                 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
                vec![
                    key_id.into(),
                    timestamp(now).into(),
                    timestamp(now - LAST_USED_RESOLUTION_MS).into(),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Stores a key (its hash) for `tenant`, creating the tenant if needed; returns its id.
    pub async fn create_key(
        &self,
        tenant: &TenantId,
        name: &str,
        key: &str,
        scopes: &str,
        now: Millis,
    ) -> Result<String, DbError> {
        self.ensure_tenant(tenant, now).await?;
        // Key ids are UUIDv7s, like every other id.
        let id = JobId::new().to_string();
        self.db
            .execute(Statement::new(
                "INSERT INTO api_keys (id, tenant_id, name, key_hash, scopes, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                vec![
                    id.clone().into(),
                    tenant.as_str().into(),
                    name.into(),
                    key_hash(key).into(),
                    scopes.into(),
                    timestamp(now).into(),
                ],
            ))
            .await?;
        Ok(id)
    }

    /// Revokes a key; it authenticates nothing from then on.
    pub async fn revoke_key(&self, key_id: &str, now: Millis) -> Result<bool, DbError> {
        let changed = self
            .db
            .execute(Statement::new(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                vec![key_id.into(), timestamp(now).into()],
            ))
            .await?;
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use pollster::block_on;

    use super::*;
    use crate::auth::{Scope, key_from_bytes};
    use crate::sqlite::Sqlite;
    use crate::store::fixtures::T0;

    #[test]
    fn a_key_authenticates_as_its_tenant_until_revoked() {
        let store = Store::new(Sqlite::migrated());
        let acme = TenantId::parse("acme").unwrap();
        let key = key_from_bytes(&[9; 32]);
        let id = block_on(store.create_key(&acme, "ci", &key, "read", T0)).unwrap();

        let (caller, _) = block_on(store.authenticate(&key_hash(&key), None))
            .unwrap()
            .unwrap();
        assert_eq!(
            (caller.key_id.as_str(), &caller.tenant),
            (id.as_str(), &acme)
        );
        assert!(caller.scopes.allows(Scope::Read) && !caller.scopes.allows(Scope::Write));
        let stored = store.database().scalar_i64(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE key_hash = '{}' AND instr(key_hash, '{key}') = 0",
            key_hash(&key)
        ));
        assert_eq!(stored, 1, "only the hash is stored");

        assert!(block_on(store.revoke_key(&id, T0)).unwrap());
        assert_eq!(
            block_on(store.authenticate(&key_hash(&key), None)).unwrap(),
            None
        );
        assert!(!block_on(store.revoke_key(&id, T0)).unwrap(), "once");
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let store = Store::new(Sqlite::migrated());
        let key = key_from_bytes(&[3; 32]);
        let id =
            block_on(store.create_key(&TenantId::default_tenant(), "k", &key, "read write", T0))
                .unwrap();
        let last_used = || {
            store.database().scalar_i64(&format!(
                "SELECT CAST(strftime('%s', last_used_at) AS INTEGER) FROM api_keys WHERE id = '{id}'"
            ))
        };
        block_on(store.touch_key(&id, T0)).unwrap();
        assert_eq!(last_used(), T0 / 1_000);
        block_on(store.touch_key(&id, T0 + 59_000)).unwrap();
        assert_eq!(last_used(), T0 / 1_000, "too soon to write again");
        block_on(store.touch_key(&id, T0 + 61_000)).unwrap();
        assert_eq!(last_used(), T0 / 1_000 + 61);
    }
}
