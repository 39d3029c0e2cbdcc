//! Each job's billed operations (`job_usage`), added to with every consumer batch.

use std::sync::LazyLock;

use docpipe_jobs::{JobId, Usage};
use serde::Serialize;

use crate::db::Statement;
use crate::time::{Millis, timestamp};

/// What one message of a consumer batch cost its job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobUsage {
    pub job: JobId,
    /// The job's share of the consumer's invocation: 1 / the batch's messages.
    pub share: f64,
    /// What handling the message spent.
    pub spent: Usage,
    /// What the request that created the job spent, as its message carried it: recorded only
    /// when the job's row is made, so a message delivered again does not count it twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carried: Option<Usage>,
}

/// The counted columns, as named in `job_usage` and [`Usage`].
const COUNTED: [&str; 8] = [
    "requests",
    "d1_queries",
    "d1_rows_read",
    "d1_rows_written",
    "r2_class_a",
    "r2_class_b",
    "r2_bytes_read",
    "queue_operations",
];

/// Makes each message's row, or adds to it. Model tokens and cost are copied from the job,
/// which totals them over its attempts.
static RECORD: LazyLock<String> = LazyLock::new(|| {
    let value = |column: &str| {
        let share = if column == "requests" {
            " + json_extract(u.value, '$.share')"
        } else {
            ""
        };
        format!(
            "json_extract(u.value, '$.spent.{column}'){share} + IIF(o.job_id IS NULL, \
             COALESCE(json_extract(u.value, '$.carried.{column}'), 0), 0)"
        )
    };
    let values: Vec<String> = COUNTED.iter().map(|c| value(c)).collect();
    let sums: Vec<String> = COUNTED
        .iter()
        .map(|c| format!("{c} = job_usage.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO job_usage (job_id, tenant_id, day, {columns}, ai_input_tokens, \
         ai_output_tokens, ai_cost_usd) \
         SELECT json_extract(u.value, '$.job'), j.tenant_id, ?2, {values}, \
         COALESCE(j.ai_input_tokens, 0), COALESCE(j.ai_output_tokens, 0), \
         COALESCE(j.ai_cost_usd, 0) \
         FROM json_each(?1) AS u \
         LEFT JOIN jobs AS j ON j.id = json_extract(u.value, '$.job') \
         LEFT JOIN job_usage AS o ON o.job_id = json_extract(u.value, '$.job') \
         WHERE true \
         ON CONFLICT (job_id) DO UPDATE SET \
         tenant_id = COALESCE(job_usage.tenant_id, excluded.tenant_id), {sums}, \
         ai_input_tokens = MAX(job_usage.ai_input_tokens, excluded.ai_input_tokens), \
         ai_output_tokens = MAX(job_usage.ai_output_tokens, excluded.ai_output_tokens), \
         ai_cost_usd = MAX(job_usage.ai_cost_usd, excluded.ai_cost_usd)",
        columns = COUNTED.join(", "),
        values = values.join(", "),
        sums = sums.join(", "),
    )
});

/// The statement that records a batch's usage, dated `now`'s UTC day when it makes a row. The
/// row written for each message is counted in it.
pub(crate) fn record_statement(usage: &[JobUsage], now: Millis) -> Option<Statement> {
    if usage.is_empty() {
        return None;
    }
    let day: String = timestamp(now).chars().take(10).collect();
    let rows: Vec<JobUsage> = usage
        .iter()
        .cloned()
        .map(|mut row| {
            row.spent.d1_rows_written += 1;
            row
        })
        .collect();
    Some(Statement::new(
        RECORD.as_str(),
        vec![
            serde_json::to_string(&rows).unwrap_or_default().into(),
            day.into(),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use pollster::block_on;
    use serde::Deserialize;

    use super::*;
    use crate::ports::Database;
    use crate::sqlite::Sqlite;
    use crate::store::Store;
    use crate::store::fixtures::{T0, store_with_job, tenant};

    #[derive(Debug, Deserialize)]
    struct Row {
        tenant_id: Option<String>,
        day: String,
        requests: f64,
        d1_queries: u64,
        d1_rows_written: u64,
        r2_class_b: u64,
        r2_bytes_read: u64,
        queue_operations: u64,
        ai_input_tokens: u64,
    }

    fn row(store: &Store<Sqlite>, job: &JobId) -> Row {
        let rows: Vec<Row> = block_on(store.database().query(Statement::new(
            "SELECT * FROM job_usage WHERE job_id = ?1",
            vec![job.to_string().into()],
        )))
        .unwrap();
        assert_eq!(rows.len(), 1, "one row per job");
        rows.into_iter().next().unwrap()
    }

    fn record(store: &Store<Sqlite>, usage: &[JobUsage], now: Millis) {
        block_on(store.record_usage_and_claim_deliveries(usage, &[], now)).unwrap();
    }

    #[test]
    fn a_job_row_takes_its_request_once_and_every_delivery_of_its_message() {
        let (store, _, job) = store_with_job();
        block_on(store.database().execute(Statement::new(
            "UPDATE jobs SET ai_input_tokens = 700 WHERE id = ?1",
            vec![job.to_string().into()],
        )))
        .unwrap();
        let upload = Usage {
            requests: 1,
            d1_queries: 3,
            d1_rows_written: 20,
            queue_operations: 1,
            ..Usage::default()
        };
        let delivery = JobUsage {
            job,
            share: 0.5,
            spent: Usage {
                d1_queries: 2,
                d1_rows_written: 9,
                r2_class_b: 1,
                r2_bytes_read: 4096,
                queue_operations: 1,
                ..Usage::default()
            },
            carried: Some(upload),
        };
        record(&store, std::slice::from_ref(&delivery), T0);
        let first = row(&store, &job);
        assert_eq!(first.tenant_id.as_deref(), Some(tenant().as_str()));
        assert_eq!(first.day, "2026-11-22");
        assert_eq!(first.requests, 1.5);
        assert_eq!(first.d1_queries, 5);
        assert_eq!(first.d1_rows_written, 20 + 9 + 1, "its own row counted");
        assert_eq!((first.r2_class_b, first.r2_bytes_read), (1, 4096));
        assert_eq!(first.queue_operations, 2);
        assert_eq!(first.ai_input_tokens, 700);

        // Delivered again the next day, with the same carried usage: only what it spent adds.
        record(&store, &[delivery], T0 + 86_400_000);
        let again = row(&store, &job);
        assert_eq!(again.day, "2026-11-22", "dated by its first count");
        assert_eq!(again.requests, 2.0);
        assert_eq!(again.d1_queries, 7);
        assert_eq!(again.d1_rows_written, 30 + 10);
        assert_eq!(again.queue_operations, 3);
        assert_eq!(again.r2_bytes_read, 8192);
    }

    #[test]
    fn a_job_gone_before_it_was_counted_still_gets_its_row() {
        let store = Store::new(Sqlite::migrated());
        let job = JobId::new();
        let usage = JobUsage {
            job,
            share: 1.0,
            spent: Usage::default(),
            carried: None,
        };
        record(&store, &[usage], T0);
        let gone = row(&store, &job);
        assert_eq!(gone.tenant_id, None);
        assert_eq!((gone.requests, gone.d1_rows_written), (1.0, 1));
    }
}
