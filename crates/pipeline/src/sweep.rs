//! The scheduled sweep: the safety net that makes the D1 job row, not the queue message, the
//! source of truth. It re-enqueues jobs whose message was lost (a killed runtime, a failed
//! enqueue after upload, an expired lease) and deletes the objects of uploads that never
//! recorded their document.

use docpipe_jobs::{DocumentId, JobId, JobMessage, RequestId};

use crate::config::SweepConfig;
use crate::db::Database;
use crate::process::BlobError;
use crate::store::{DueJob, Store};
use crate::time::Clock;

/// Sending to the jobs queue failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue send failed: {0}")]
pub struct QueueError(pub String);

/// The jobs queue (a Queue producer binding in the Worker).
pub trait JobQueue {
    /// Sends up to 100 messages at once.
    async fn send_batch(&self, messages: &[JobMessage]) -> Result<(), QueueError>;
}

/// Deleting objects (R2 in the Worker).
pub trait ObjectDeleter {
    async fn delete(&self, keys: &[String]) -> Result<(), BlobError>;
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub requeued: usize,
    pub orphans_removed: usize,
    /// Problems met on the way; the sweep carries on where it can and the next one retries.
    pub errors: Vec<String>,
}

/// The message that re-enqueues a due job. A row with an unreadable id was written by hand;
/// it is reported instead of sent.
fn message(due: &DueJob) -> Result<JobMessage, String> {
    let job = JobId::parse(&due.job_id).map_err(|e| format!("job {}: {e}", due.job_id))?;
    let document = DocumentId::parse(&due.document_id)
        .map_err(|e| format!("job {}: document id: {e}", due.job_id))?;
    let request = RequestId::parse(&due.request_id).unwrap_or_else(|_| RequestId::generate());
    Ok(JobMessage::new(job, document, request))
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
        let due = match store
            .claim_due_jobs(clock.now_ms(), config.grace_ms, config.batch)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                report.errors.push(format!("claiming due jobs: {e}"));
                break;
            }
        };
        let claimed = due.len();
        let mut messages = Vec::with_capacity(claimed);
        for job in &due {
            match message(job) {
                Ok(message) => messages.push(message),
                Err(e) => report.errors.push(e),
            }
        }
        if !messages.is_empty() {
            // On failure the claimed jobs come due again after the grace period.
            if let Err(e) = queue.send_batch(&messages).await {
                report.errors.push(e.to_string());
                break;
            }
            report.requeued += messages.len();
        }
        if claimed < config.batch as usize {
            break;
        }
    }

    let cutoff = clock.now_ms() - config.orphan_after_ms;
    match store.stale_uploads(cutoff, config.batch).await {
        Ok(stale) if !stale.is_empty() => {
            let keys: Vec<String> = stale.iter().map(|u| u.object_key.clone()).collect();
            let ids: Vec<String> = stale.into_iter().map(|u| u.document_id).collect();
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
    report
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use pollster::block_on;

    use super::*;
    use crate::sqlite::{ManualClock, Sqlite};
    use crate::store::NewDocument;
    use crate::time::Millis;

    const T0: Millis = 1_795_381_560_000;

    #[derive(Default)]
    struct Recorder {
        sent: RefCell<Vec<JobMessage>>,
        deleted: RefCell<Vec<String>>,
        fail_send: Cell<bool>,
    }
    impl JobQueue for Recorder {
        async fn send_batch(&self, messages: &[JobMessage]) -> Result<(), QueueError> {
            assert!(
                messages.len() <= 100,
                "sendBatch takes at most 100 messages"
            );
            if self.fail_send.get() {
                return Err(QueueError("queue is down".into()));
            }
            self.sent.borrow_mut().extend_from_slice(messages);
            Ok(())
        }
    }
    impl ObjectDeleter for Recorder {
        async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
            self.deleted.borrow_mut().extend_from_slice(keys);
            Ok(())
        }
    }

    fn config() -> SweepConfig {
        SweepConfig {
            grace_ms: 60_000,
            orphan_after_ms: 3_600_000,
            batch: 2,
            rounds: 10,
        }
    }

    fn add_job(store: &Store<Sqlite>) -> (DocumentId, JobId) {
        let (doc, job) = (DocumentId::new(), JobId::new());
        let request = RequestId::parse("req-9").unwrap();
        let new = NewDocument {
            id: doc,
            filename: None,
            content_type: "text/plain".into(),
            size_bytes: 1,
            sha256: None,
            idempotency_key: None,
            request_id: request.clone(),
            upload_ms: None,
        };
        block_on(store.begin_upload(&doc, &request, T0)).unwrap();
        block_on(store.create_document(&new, &job, T0)).unwrap();
        (doc, job)
    }

    #[test]
    fn requeues_every_overdue_job_across_rounds_with_its_ids() {
        let store = Store::new(Sqlite::migrated());
        let jobs: Vec<_> = (0..5).map(|_| add_job(&store)).collect();
        let recorder = Recorder::default();
        let clock = ManualClock(Cell::new(T0 + 60_000));

        let report = block_on(sweep(&store, &recorder, &recorder, &clock, &config()));
        assert_eq!(
            report,
            SweepReport {
                requeued: 5,
                ..SweepReport::default()
            }
        );
        let sent = recorder.sent.borrow();
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
        let again = block_on(sweep(&store, &recorder, &recorder, &clock, &config()));
        assert_eq!(again.requeued, 0);
    }

    #[test]
    fn failed_send_leaves_jobs_for_the_next_sweep() {
        let store = Store::new(Sqlite::migrated());
        add_job(&store);
        let recorder = Recorder::default();
        recorder.fail_send.set(true);
        let clock = ManualClock(Cell::new(T0 + 60_000));
        let report = block_on(sweep(&store, &recorder, &recorder, &clock, &config()));
        assert_eq!(report.requeued, 0);
        assert_eq!(report.errors, ["queue send failed: queue is down"]);

        recorder.fail_send.set(false);
        clock.0.set(T0 + 120_000);
        let report = block_on(sweep(&store, &recorder, &recorder, &clock, &config()));
        assert_eq!(report.requeued, 1);
    }

    #[test]
    fn deletes_objects_of_uploads_that_never_finished() {
        let store = Store::new(Sqlite::migrated());
        let (finished, _) = add_job(&store);
        let orphan = DocumentId::new();
        block_on(store.begin_upload(&orphan, &RequestId::generate(), T0)).unwrap();
        let recorder = Recorder::default();

        let early = ManualClock(Cell::new(T0 + 3_599_999));
        block_on(sweep(&store, &recorder, &recorder, &early, &config()));
        assert!(
            recorder.deleted.borrow().is_empty(),
            "too young to be an orphan"
        );

        let late = ManualClock(Cell::new(T0 + 3_600_000));
        let report = block_on(sweep(&store, &recorder, &recorder, &late, &config()));
        assert_eq!(report.orphans_removed, 1);
        assert_eq!(*recorder.deleted.borrow(), [orphan.object_key()]);
        assert!(!recorder.deleted.borrow().contains(&finished.object_key()));
        assert_eq!(
            store.database().scalar_i64("SELECT COUNT(*) FROM uploads"),
            0
        );
    }
}
