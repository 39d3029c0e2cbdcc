//! The scheduled sweep: the safety net that makes the D1 job row, not the queue message, the
//! source of truth. It re-enqueues jobs whose message was lost (a killed runtime, a failed
//! enqueue after upload, an expired lease) and deletes the objects of uploads that never
//! recorded their document.

use docpipe_jobs::{DocumentId, JobMessage};

use crate::config::SweepConfig;
use crate::objects::remove_document;
use crate::ports::{Clock, Database, JobQueue, ObjectDeleter};
use crate::store::{DueJob, Store};

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub requeued: usize,
    pub orphans_removed: usize,
    /// Documents deleted for being older than their tenant's retention.
    pub expired_documents: usize,
    /// Problems met on the way; the sweep carries on where it can and the next one retries.
    pub errors: Vec<String>,
}

pub async fn sweep<D: Database>(
    store: &Store<D>,
    queue: &impl JobQueue,
    objects: &impl ObjectDeleter,
    clock: &impl Clock,
    config: &SweepConfig,
) -> SweepReport {
    let mut report = SweepReport::default();
    for _ in 0..config.rounds {
        let (now, grace, batch) = (clock.now_ms(), config.grace_ms, config.batch);
        let claimed = match store.claim_due_jobs(now, grace, batch).await {
            Ok(jobs) => match store.claim_due_fetches(now, grace, batch).await {
                Ok(fetches) => (jobs, fetches),
                Err(e) => {
                    report.errors.push(format!("claiming due fetches: {e}"));
                    (jobs, Vec::new())
                }
            },
            Err(e) => {
                report.errors.push(format!("claiming due jobs: {e}"));
                break;
            }
        };
        let (jobs, fetches) = claimed;
        let claimed = jobs.len().max(fetches.len());
        let messages: Vec<JobMessage> = jobs
            .iter()
            .map(DueJob::message)
            .chain(fetches.iter().map(DueJob::fetch_message))
            .collect();
        // A queue takes at most 100 messages at once. On failure the claimed jobs come due
        // again after the grace period.
        let mut sent = Ok(());
        for chunk in messages.chunks(100) {
            sent = queue.send_batch(chunk).await;
            if sent.is_err() {
                break;
            }
            report.requeued += chunk.len();
        }
        if let Err(e) = sent {
            report.errors.push(e.to_string());
            break;
        }
        if claimed < config.batch as usize {
            break;
        }
    }

    let cutoff = clock.now_ms() - config.orphan_after_ms;
    match store.stale_uploads(cutoff, config.batch).await {
        Ok(stale) if !stale.is_empty() => {
            let keys: Vec<String> = stale.iter().map(|u| u.object_key.clone()).collect();
            let ids: Vec<DocumentId> = stale.into_iter().map(|u| u.document_id).collect();
            match objects.delete(&keys).await {
                Ok(()) => match store.forget_uploads(&ids).await {
                    Ok(_) => report.orphans_removed += keys.len(),
                    Err(e) => report.errors.push(format!("forgetting uploads: {e}")),
                },
                Err(e) => report.errors.push(format!("deleting orphan objects: {e}")),
            }
        }
        Ok(_) => {}
        Err(e) => report.errors.push(format!("finding stale uploads: {e}")),
    }
    retention(store, objects, clock, config, &mut report).await;
    report
}

/// Removes one batch of documents past their tenant's retention.
async fn retention<D: Database>(
    store: &Store<D>,
    objects: &impl ObjectDeleter,
    clock: &impl Clock,
    config: &SweepConfig,
    report: &mut SweepReport,
) {
    let expired = match store
        .expired_documents(clock.now_ms(), config.retention_days, config.batch)
        .await
    {
        Ok(expired) => expired,
        Err(e) => {
            report
                .errors
                .push(format!("finding expired documents: {e}"));
            return;
        }
    };
    for document in expired {
        match remove_document(store, objects, &document.tenant_id, &document.id).await {
            Ok(_) => report.expired_documents += 1,
            Err(e) => report.errors.push(format!("removing {}: {e}", document.id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use pollster::block_on;

    use docpipe_jobs::{JobId, RequestId};

    use super::*;
    use crate::objects::document_key;
    use crate::sqlite::{ManualClock, Sqlite};
    use crate::store::NewDocument;
    use crate::store::fixtures::{begin, document, tenant};
    use crate::testing::{MemoryObjects, MemoryQueue};
    use crate::time::Millis;

    const T0: Millis = 1_795_381_560_000;

    fn config() -> SweepConfig {
        SweepConfig {
            grace_ms: 60_000,
            orphan_after_ms: 3_600_000,
            batch: 2,
            rounds: 10,
            retention_days: 0,
        }
    }

    fn add_job(store: &Store<Sqlite>) -> (DocumentId, JobId) {
        let (doc, job) = (DocumentId::new(), JobId::new());
        let new = NewDocument {
            request_id: RequestId::parse("req-9").unwrap(),
            ..document(doc)
        };
        begin(store, &new);
        block_on(store.create_document(&new, &job, T0)).unwrap();
        (doc, job)
    }

    #[test]
    fn requeues_every_overdue_job_across_rounds_with_its_ids() {
        let store = Store::new(Sqlite::migrated());
        let jobs: Vec<_> = (0..5).map(|_| add_job(&store)).collect();
        let (queue, objects) = (MemoryQueue::default(), MemoryObjects::default());
        let clock = ManualClock(Cell::new(T0 + 60_000));

        let report = block_on(sweep(&store, &queue, &objects, &clock, &config()));
        assert_eq!(
            report,
            SweepReport {
                requeued: 5,
                ..SweepReport::default()
            }
        );
        let sent = queue.sent.borrow();
        for (doc, job) in &jobs {
            let message = sent
                .iter()
                .find(|m| m.job_id == *job)
                .expect("job re-enqueued");
            assert_eq!(message.document_id, *doc);
            assert_eq!(message.request_id.as_str(), "req-9");
        }
        drop(sent);

        // Just swept: nothing is due again until the grace period has passed once more.
        let again = block_on(sweep(&store, &queue, &objects, &clock, &config()));
        assert_eq!(again.requeued, 0);
    }

    #[test]
    fn failed_send_leaves_jobs_for_the_next_sweep() {
        let store = Store::new(Sqlite::migrated());
        add_job(&store);
        let (queue, objects) = (MemoryQueue::default(), MemoryObjects::default());
        queue.fail.set(true);
        let clock = ManualClock(Cell::new(T0 + 60_000));
        let report = block_on(sweep(&store, &queue, &objects, &clock, &config()));
        assert_eq!(report.requeued, 0);
        assert_eq!(report.errors, ["queue send failed: queue is down"]);

        queue.fail.set(false);
        clock.0.set(T0 + 120_000);
        let report = block_on(sweep(&store, &queue, &objects, &clock, &config()));
        assert_eq!(report.requeued, 1);
    }

    #[test]
    fn deletes_objects_of_uploads_that_never_finished() {
        let store = Store::new(Sqlite::migrated());
        let (finished, _) = add_job(&store);
        let orphan = DocumentId::new();
        begin(&store, &document(orphan));
        let (queue, objects) = (MemoryQueue::default(), MemoryObjects::default());
        for id in [finished, orphan] {
            objects.insert(document_key(&tenant(), &id), b"bytes", "text/plain");
        }
        let both = objects.keys();

        let early = ManualClock(Cell::new(T0 + 3_599_999));
        block_on(sweep(&store, &queue, &objects, &early, &config()));
        assert_eq!(objects.keys(), both, "too young to be an orphan");

        let late = ManualClock(Cell::new(T0 + 3_600_000));
        let report = block_on(sweep(&store, &queue, &objects, &late, &config()));
        assert_eq!(report.orphans_removed, 1);
        assert_eq!(
            objects.keys(),
            [document_key(&tenant(), &finished)],
            "only the orphan is deleted"
        );
        assert_eq!(
            store.database().scalar_i64("SELECT COUNT(*) FROM uploads"),
            0
        );
    }

    #[test]
    fn documents_past_their_tenants_retention_are_deleted_in_batches() {
        let store = Store::new(Sqlite::migrated());
        let old: Vec<_> = (0..3).map(|_| add_job(&store)).collect();
        let objects = MemoryObjects::default();
        for (doc, _) in &old {
            objects.insert(document_key(&tenant(), doc), b"x", "text/plain");
        }
        let day = 86_400_000;
        let clock = ManualClock(Cell::new(T0 + 31 * day));
        let queue = MemoryQueue::default();
        let keep = SweepConfig {
            retention_days: 0,
            ..config()
        };
        let report = block_on(sweep(&store, &queue, &objects, &clock, &keep));
        assert_eq!(report.expired_documents, 0, "0 keeps documents");
        // A tenant's own retention wins over the default.
        store
            .database()
            .run_sql("INSERT INTO tenants (id, name, created_at, retention_days) VALUES ('default2', 'x', 'x', 1)");
        store
            .database()
            .run_sql("UPDATE tenants SET retention_days = 60 WHERE id = 'default'");
        let thirty = SweepConfig {
            retention_days: 30,
            ..config()
        };
        assert_eq!(
            block_on(sweep(&store, &queue, &objects, &clock, &thirty)).expired_documents,
            0
        );
        store
            .database()
            .run_sql("UPDATE tenants SET retention_days = NULL WHERE id = 'default'");
        // Two per sweep (the batch), then the last.
        assert_eq!(
            block_on(sweep(&store, &queue, &objects, &clock, &thirty)).expired_documents,
            2
        );
        assert_eq!(
            block_on(sweep(&store, &queue, &objects, &clock, &thirty)).expired_documents,
            1
        );
        assert_eq!(
            store
                .database()
                .scalar_i64("SELECT COUNT(*) FROM documents"),
            0
        );
        assert_eq!(store.database().scalar_i64("SELECT COUNT(*) FROM jobs"), 0);
        assert!(objects.keys().is_empty());
    }
}
