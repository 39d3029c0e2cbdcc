//! What the queue consumer decides for each message, from its raw body: decode it on its own
//! (so an unreadable message still gets an answer), process it, and say whether to ack or
//! retry. A message never fails its batch; the Worker only carries the [`Action`] out.

use std::pin::pin;

use docpipe_docproc::Summarizer;
use docpipe_jobs::{DecodeError, JobId, JobMessage, Usage};
use futures_util::future::{Either, select};
use tracing::{Instrument, error, info, warn};

use crate::fetch::{FetchStage, Fetched};
use crate::ports::{Clock, Converter, Database, DocumentSource};
use crate::process::{Action, Lease, Outcome, Processor, new_lease_id};
use crate::store::{JobUsage, Store};
use crate::usage::metered;

/// How long to hold back messages this consumer cannot handle yet: a newer schema during a
/// deploy, or the Worker itself misconfigured.
pub const HOLD_BACK_SECONDS: u32 = 300;

/// How long before a dead letter whose failure could not be recorded comes back.
pub const DEAD_LETTER_RETRY_SECONDS: u32 = 60;

/// Takes, in one round trip, the leases of the jobs a batch starts with: those of its first
/// `concurrency` messages (the ones processed at once) that are not fetched first, each job
/// once. Returns each message's [`Lease`], in order; a job whose lease this did not take (held,
/// finished, gone, or the round trip failed) takes its own when it starts, which says why.
pub async fn lease_together<D: Database>(
    store: &Store<D>,
    clock: &impl Clock,
    lease_ms: i64,
    bodies: &[String],
    concurrency: usize,
) -> Vec<Lease> {
    let mut leases: Vec<Lease> = bodies.iter().map(|_| Lease::fresh(clock)).collect();
    let mut starting: Vec<(usize, JobId)> = Vec::new();
    for (i, body) in bodies.iter().enumerate().take(concurrency) {
        if let Ok(message) = JobMessage::decode(body)
            && !message.fetch
            && !starting.iter().any(|(_, job)| *job == message.job_id)
        {
            starting.push((i, message.job_id));
        }
    }
    if starting.len() < 2 {
        return leases;
    }
    let jobs: Vec<JobId> = starting.iter().map(|(_, job)| *job).collect();
    let lease_id = new_lease_id(clock);
    let started = clock.now_ms();
    let (taken, spent) = metered(store.acquire_leases(&jobs, &lease_id, started, lease_ms)).await;
    let taken = match taken {
        Ok(taken) => taken,
        Err(e) => {
            warn!(error = %e, jobs = jobs.len(), "could not take a batch's leases together");
            return leases;
        }
    };
    let write_ms = clock.now_ms() - started;
    let count = taken.len();
    for (share, job) in taken.into_iter().enumerate() {
        if let Some((i, _)) = starting.iter().find(|(_, id)| *id == job.job_id) {
            leases[*i] = Lease::Taken {
                job: Box::new(job),
                started,
                write_ms,
                spent: spent.share(share, count),
            };
        }
    }
    leases
}

/// One message of the jobs queue: its fetching stage first, when it has one.
pub async fn job_message<D, B, S, C, V>(
    processor: &Processor<'_, D, B, S, C, V>,
    fetcher: &impl FetchStage,
    body: &str,
    message_id: &str,
    lease: Lease,
) -> Action
where
    D: Database,
    B: DocumentSource,
    S: Summarizer,
    C: Clock,
    V: Converter,
{
    let message = match JobMessage::decode(body) {
        Ok(message) => message,
        Err(e @ DecodeError::UnsupportedVersion { .. }) => {
            // Likely a newer producer during a deploy: a newer consumer can read it. If none
            // comes, the queue dead-letters it and the job is failed there.
            warn!(error = %e, message_id, "message version not understood; retrying");
            return Action::Retry {
                delay_seconds: HOLD_BACK_SECONDS,
            };
        }
        Err(e) => {
            error!(error = %e, message_id, "unreadable job message; dropping it");
            if let Some(job) = JobMessage::peek_job_id(body) {
                let reason = format!("unreadable queue message: {e}");
                let now = processor.clock.now_ms();
                if let Err(e) = processor.store.fail_dead_lettered(&job, &reason, now).await {
                    error!(error = %e, %job, "could not record the failure");
                }
            }
            return Action::Ack;
        }
    };

    let span = tracing::info_span!(
        "job",
        job_id = %message.job_id,
        document_id = %message.document_id,
        request_id = %message.request_id,
        message_id,
    );
    async {
        if message.fetch {
            match fetcher.fetch(&message).await {
                Fetched::Ready => {}
                Fetched::Failed { error } => {
                    warn!(%error, "fetch failed; the job is failed");
                    return Action::Ack;
                }
                Fetched::Retry { delay_ms, error } => {
                    warn!(%error, delay_ms, "fetch will be retried");
                    return Outcome::Retry { delay_ms, error }.action();
                }
                Fetched::Skipped { reason } => {
                    info!(%reason, "message skipped");
                    return Action::Ack;
                }
            }
        }
        let outcome = within_deadline(processor, &message, lease).await;
        match &outcome {
            Outcome::Succeeded { attempt } => info!(attempt, "job succeeded"),
            Outcome::Failed { error } => warn!(%error, "job failed"),
            Outcome::Retry { delay_ms, error } => warn!(%error, delay_ms, "job will be retried"),
            Outcome::Skipped { reason } => info!(%reason, "message skipped"),
        }
        outcome.action()
    }
    .instrument(span)
    .await
}

/// Processes a job, or hands it back if it runs past the job deadline: its lease is still
/// held, so the message comes back when the lease has expired, and the attempt counts. The
/// deadline is checked whenever the job waits (storage, models); extraction and summarization
/// between waits are bounded by the document and text limits.
async fn within_deadline<D, B, S, C, V>(
    processor: &Processor<'_, D, B, S, C, V>,
    message: &JobMessage,
    lease: Lease,
) -> Outcome
where
    D: Database,
    B: DocumentSource,
    S: Summarizer,
    C: Clock,
    V: Converter,
{
    let deadline_ms = processor.config.job_deadline_ms;
    let work = pin!(processor.process(message, lease));
    let timer = pin!(processor.clock.sleep(deadline_ms));
    match select(work, timer).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => Outcome::Retry {
            delay_ms: processor.config.lease_ms,
            error: format!(
                "the job ran past its {} s deadline and was handed back",
                deadline_ms / 1_000
            ),
        },
    }
}

/// After a batch's messages were handled: records what each cost its job, and sends the
/// wake-up messages of the webhook deliveries the acked ones' jobs recorded (their jobs may
/// have ended), in one round trip.
pub async fn announce<D: Database>(
    store: &Store<D>,
    queue: &impl crate::ports::DeliveryQueue,
    clock: &impl Clock,
    acked: &[String],
    usage: &[JobUsage],
) {
    let jobs: Vec<docpipe_jobs::JobId> = acked
        .iter()
        .filter_map(|body| JobMessage::peek_job_id(body))
        .collect();
    crate::webhooks::dispatch(store, queue, clock, &jobs, usage).await;
}

/// What handling one message of a batch of `batch_len` cost its job: `spent` while handling
/// it, one queue read, one delete when it was acked, and the request's usage the message
/// carries. `None` when the message names no job.
pub fn job_usage(body: &str, spent: Usage, acked: bool, batch_len: usize) -> Option<JobUsage> {
    let (job, carried) = match JobMessage::decode(body) {
        Ok(message) => (message.job_id, message.usage),
        Err(_) => (JobMessage::peek_job_id(body)?, None),
    };
    let mut spent = spent;
    spent += Usage {
        queue_operations: 1 + u64::from(acked),
        ..Usage::default()
    };
    Some(JobUsage {
        job,
        share: 1.0 / batch_len.max(1) as f64,
        spent,
        carried,
    })
}

/// One message the queue gave up on: fail its job with the reason, unless it finished or is
/// actively leased.
pub async fn dead_letter<D: Database>(
    store: &Store<D>,
    clock: &impl Clock,
    body: &str,
    message_id: &str,
) -> Action {
    let Some(job) = JobMessage::peek_job_id(body) else {
        error!(message_id, "dead letter without a job id; dropping it");
        return Action::Ack;
    };
    let reason = "the queue gave up delivering this job after its maximum retries";
    match store.fail_dead_lettered(&job, reason, clock.now_ms()).await {
        Ok(changed) => {
            warn!(job_id = %job, failed = changed, "dead-lettered job");
            Action::Ack
        }
        Err(e) => {
            error!(job_id = %job, error = %e, "could not fail a dead-lettered job; retrying");
            Action::Retry {
                delay_seconds: DEAD_LETTER_RETRY_SECONDS,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use docpipe_docproc::ExtractiveSummarizer;
    use docpipe_jobs::{JobStatus, SCHEMA_VERSION};
    use pollster::block_on;

    use super::*;
    use crate::sqlite::{ShakyWrites, Sqlite};
    use crate::testing::{NoFetching, ProcessFixture};

    const TEXT: &[u8] = b"Queues deliver messages at least once. Consumers must be idempotent.";

    /// A fixture with one uploaded document and its job's message.
    fn queued() -> (ProcessFixture, JobMessage) {
        let mut f = ProcessFixture::new();
        let message = f.upload(TEXT, "text/plain");
        (f, message)
    }

    fn consume(f: &ProcessFixture, body: &str) -> Action {
        let processor = f.processor(&f.store, &ExtractiveSummarizer);
        let lease = Lease::fresh(&f.clock);
        block_on(job_message(
            &processor,
            &NoFetching,
            body,
            "message-1",
            lease,
        ))
    }

    #[test]
    fn a_batch_takes_the_leases_it_starts_with_in_one_statement_and_each_job_finishes_once() {
        let mut f = ProcessFixture::new();
        let messages: Vec<JobMessage> = (0..4).map(|_| f.upload(TEXT, "text/plain")).collect();
        let mut bodies: Vec<String> = messages.iter().map(JobMessage::to_json).collect();
        // A copy of the first job's message, one that cannot be read, and one past the
        // messages processed at once.
        bodies.insert(1, messages[0].to_json());
        bodies.insert(2, "{not json".to_owned());
        let concurrency = 5;
        let leases = block_on(lease_together(
            &f.store,
            &f.clock,
            f.config.lease_ms,
            &bodies,
            concurrency,
        ));
        let taken: Vec<bool> = leases
            .iter()
            .map(|lease| matches!(lease, Lease::Taken { .. }))
            .collect();
        assert_eq!(taken, [true, false, false, true, true, false]);
        let db = f.store.database();
        for lease in &leases {
            if let Lease::Taken { job, .. } = lease {
                let held = db.scalar_text(&format!(
                    "SELECT lease_id FROM jobs WHERE id = '{}'",
                    job.job_id
                ));
                assert_eq!(held, job.lease_id);
            }
        }

        let processor = f.processor(&f.store, &ExtractiveSummarizer);
        let actions: Vec<Action> = bodies
            .iter()
            .zip(leases)
            .map(|(body, lease)| block_on(job_message(&processor, &NoFetching, body, "m", lease)))
            .collect();
        assert_eq!(actions[1], Action::Ack, "the copy finds its job finished");
        for message in &messages {
            let job = block_on(
                f.store
                    .job(&crate::store::fixtures::tenant(), &message.job_id),
            )
            .unwrap()
            .unwrap();
            assert_eq!((job.status, job.attempts), (JobStatus::Succeeded, 1));
        }
    }

    /// A summarizer that never answers: a model or storage call that hangs.
    struct Hangs;

    impl docpipe_docproc::Summarizer for Hangs {
        async fn summarize(
            &self,
            _: &str,
            _: &docpipe_docproc::SummaryOptions,
            _: &mut docpipe_docproc::summarize::Usage,
        ) -> Result<docpipe_docproc::Summary, docpipe_docproc::SummarizeError> {
            std::future::pending().await
        }
    }

    #[test]
    fn a_job_that_hangs_is_handed_back_at_its_deadline_and_taken_over_after_its_lease() {
        let (f, message) = queued();
        let started = f.clock.now_ms();
        let hung = f.processor(&f.store, &Hangs);
        assert_eq!(
            block_on(job_message(
                &hung,
                &NoFetching,
                &message.to_json(),
                "message-1",
                Lease::fresh(&f.clock),
            )),
            Action::Retry { delay_seconds: 300 },
            "handed back until its lease has expired"
        );
        assert_eq!(
            f.clock.now_ms() - started,
            i64::try_from(f.config.job_deadline_ms).unwrap(),
            "the deadline ended it"
        );
        assert_eq!(f.status(&message), (JobStatus::Processing, 1, None));
        assert_eq!(f.summaries(), 0);

        // Redelivered after the lease: another attempt takes the job over and finishes it.
        f.clock.0.set(started + f.config.lease_ms + 1);
        assert_eq!(consume(&f, &message.to_json()), Action::Ack);
        assert_eq!(f.status(&message).0, JobStatus::Succeeded);
        assert_eq!(f.summaries(), 1);
    }

    #[test]
    fn a_job_that_always_hangs_fails_after_its_attempts() {
        let (f, message) = queued();
        let hung = f.processor(&f.store, &Hangs);
        for _ in 0..f.config.retry.max_attempts {
            let action = block_on(job_message(
                &hung,
                &NoFetching,
                &message.to_json(),
                "message-1",
                Lease::fresh(&f.clock),
            ));
            assert!(matches!(action, Action::Retry { .. }), "{action:?}");
            f.clock.0.set(f.clock.now_ms() + f.config.lease_ms + 1);
        }
        assert_eq!(
            block_on(job_message(
                &hung,
                &NoFetching,
                &message.to_json(),
                "message-1",
                Lease::fresh(&f.clock),
            )),
            Action::Ack
        );
        let (status, _, error) = f.status(&message);
        assert_eq!(status, JobStatus::Failed);
        let attempts = f.config.retry.max_attempts;
        assert_eq!(error, Some(format!("gave up after {attempts} attempts")));
    }

    #[test]
    fn a_message_costs_its_job_a_read_a_delete_when_acked_and_what_it_carries() {
        let (_, mut message) = queued();
        message.usage = Some(Usage {
            requests: 1,
            d1_rows_written: 12,
            ..Usage::default()
        });
        let spent = Usage {
            d1_queries: 4,
            ..Usage::default()
        };
        let acked = job_usage(&message.to_json(), spent, true, 4).unwrap();
        assert_eq!(acked.job, message.job_id);
        assert_eq!(acked.share, 0.25);
        assert_eq!(
            (acked.spent.d1_queries, acked.spent.queue_operations),
            (4, 2)
        );
        assert_eq!(acked.carried, message.usage);
        let retried = job_usage(&message.to_json(), spent, false, 1).unwrap();
        assert_eq!((retried.spent.queue_operations, retried.share), (1, 1.0));
        assert_eq!(job_usage("{\"v\":1}", spent, true, 1), None);
    }

    #[test]
    fn a_good_message_is_processed_and_acked() {
        let (f, message) = queued();
        assert_eq!(consume(&f, &message.to_json()), Action::Ack);
        assert_eq!(f.status(&message).0, JobStatus::Succeeded);
        assert_eq!(f.summaries(), 1);
    }

    #[test]
    fn a_newer_schema_is_held_back_and_its_job_left_alone() {
        let (f, message) = queued();
        let newer = message
            .to_json()
            .replace(&format!("\"v\":{SCHEMA_VERSION}"), "\"v\":99");
        assert_eq!(
            consume(&f, &newer),
            Action::Retry {
                delay_seconds: HOLD_BACK_SECONDS
            }
        );
        assert_eq!(f.status(&message).0, JobStatus::Queued);
    }

    #[test]
    fn an_unreadable_message_fails_its_job_when_it_names_one_and_is_acked() {
        let (f, message) = queued();
        let broken = message
            .to_json()
            .replace(&message.document_id.to_string(), "not-a-document-id");
        assert_eq!(consume(&f, &broken), Action::Ack);
        let (status, _, error) = f.status(&message);
        assert_eq!(status, JobStatus::Failed);
        assert!(
            error.unwrap().starts_with("unreadable queue message: "),
            "the job says why"
        );
        assert_eq!(consume(&f, "not json at all"), Action::Ack);
        assert_eq!(f.summaries(), 0);
    }

    #[test]
    fn a_dead_letter_fails_its_job_and_is_acked() {
        let (f, message) = queued();
        let action = block_on(dead_letter(&f.store, &f.clock, &message.to_json(), "m"));
        assert_eq!(action, Action::Ack);
        let (status, _, error) = f.status(&message);
        assert_eq!(status, JobStatus::Failed);
        assert!(error.unwrap().contains("gave up delivering"));
        assert_eq!(
            block_on(dead_letter(&f.store, &f.clock, "{}", "m")),
            Action::Ack,
            "nothing to fail: dropped"
        );
    }

    #[test]
    fn a_dead_letter_whose_failure_cannot_be_recorded_comes_back() {
        let (mut f, message) = queued();
        let db = std::mem::replace(f.store.database_mut(), Sqlite::migrated());
        // A database that fails every write, single statements included.
        let unreachable = crate::store::Store::new(ShakyWrites::failing_everything(db));
        assert_eq!(
            block_on(dead_letter(&unreachable, &f.clock, &message.to_json(), "m")),
            Action::Retry {
                delay_seconds: DEAD_LETTER_RETRY_SECONDS
            }
        );
    }
}
