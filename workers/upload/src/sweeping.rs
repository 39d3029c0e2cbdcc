//! The cron trigger. This Worker owns everything the sweep touches (D1, the jobs queue's
//! producer side, the R2 bucket), and in local development `/__scheduled` reaches it.

use docpipe_cloudflare::{D1, JobsQueue, R2Objects, WorkerClock, logging, vars};
use docpipe_pipeline::config::{UploadConfig, names};
use docpipe_pipeline::store::Store;
use docpipe_pipeline::sweep::sweep;
use tracing::{Instrument, error, info, warn};
use worker::{Env, ScheduleContext, ScheduledEvent, event};

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    logging::init(vars(&env)(names::LOG_LEVEL));
    let span = tracing::info_span!("sweep", cron = %event.cron());
    run(&env).instrument(span).await;
}

async fn run(env: &Env) {
    let parts = (|| -> Result<_, String> {
        let config = UploadConfig::from_vars(vars(env)).map_err(|e| e.to_string())?;
        let db = env.d1(names::DB).map_err(|e| format!("D1 binding: {e}"))?;
        let queue = env
            .queue(names::JOBS)
            .map_err(|e| format!("queue binding: {e}"))?;
        let bucket = env
            .bucket(names::DOCUMENTS)
            .map_err(|e| format!("R2 binding: {e}"))?;
        Ok((
            config,
            Store::new(D1(db)),
            JobsQueue(queue),
            R2Objects(bucket),
        ))
    })();
    let (config, store, queue, objects) = match parts {
        Ok(parts) => parts,
        Err(e) => {
            error!(error = %e, "cannot sweep");
            return;
        }
    };
    let report = sweep(&store, &queue, &objects, &WorkerClock, &config.sweep).await;
    if report.errors.is_empty() {
        info!(
            requeued = report.requeued,
            orphans_removed = report.orphans_removed,
            "sweep finished"
        );
    } else {
        warn!(
            requeued = report.requeued,
            orphans_removed = report.orphans_removed,
            errors = ?report.errors,
            "sweep finished with errors"
        );
    }
}
