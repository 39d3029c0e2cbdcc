//! The cron trigger. This Worker owns everything the sweep touches (D1, the jobs queue's
//! producer side, the R2 bucket), and in local development `/__scheduled` reaches it.

use docpipe_cloudflare::{WorkerClock, bindings, logging, vars};
use docpipe_pipeline::config::UploadConfig;
use docpipe_pipeline::sweep::sweep;
use docpipe_pipeline::webhooks;
use tracing::{Instrument, error, info, warn};
use worker::{Env, ScheduleContext, ScheduledEvent, event};

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    logging::init_from(&env);
    let span = tracing::info_span!("sweep", cron = %event.cron());
    run(&env).instrument(span).await;
}

async fn run(env: &Env) {
    let parts = (|| -> Result<_, String> {
        let config = UploadConfig::from_vars(vars(env)).map_err(|e| e.to_string())?;
        let store = bindings::store(env).map_err(|e| e.to_string())?;
        let queue = bindings::jobs_queue(env).map_err(|e| e.to_string())?;
        let objects = bindings::objects(env).map_err(|e| e.to_string())?;
        Ok((config, store, queue, objects))
    })();
    let (config, store, queue, objects) = match parts {
        Ok(parts) => parts,
        Err(e) => {
            error!(error = %e, "cannot sweep");
            return;
        }
    };
    let mut report = sweep(&store, &queue, &objects, &WorkerClock, &config.sweep).await;
    let resent = match bindings::webhooks_queue(env) {
        Ok(webhooks) => {
            let grace = config.sweep.grace_ms;
            webhooks::resend_overdue(&store, &webhooks, &WorkerClock, grace).await
        }
        Err(e) => Err(e.to_string()),
    }
    .unwrap_or_else(|e| {
        report.errors.push(e);
        0
    });
    let expired = match crate::resumable::sweep_expired(env, &config).await {
        Ok((expired, errors)) => {
            report.errors.extend(errors);
            expired
        }
        Err(e) => {
            report.errors.push(format!("resumable uploads: {e}"));
            0
        }
    };
    if report.errors.is_empty() {
        info!(
            requeued = report.requeued,
            orphans_removed = report.orphans_removed,
            expired_uploads_aborted = expired,
            expired_documents = report.expired_documents,
            webhook_deliveries_resent = resent,
            "sweep finished"
        );
    } else {
        warn!(
            requeued = report.requeued,
            orphans_removed = report.orphans_removed,
            expired_uploads_aborted = expired,
            expired_documents = report.expired_documents,
            webhook_deliveries_resent = resent,
            errors = ?report.errors,
            "sweep finished with errors"
        );
    }
}
