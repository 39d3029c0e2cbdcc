//! Every SQL statement docpipe runs, by feature. The SQL lives here and nowhere else; rows
//! decode into typed values (ids, statuses, booleans, [`Timestamp`]s) once, through serde.
//!
//! ## Layout
//! - [`documents`]: documents as their owners see them.
//! - [`fetches`]: documents named by URL until they are fetched.
//! - [`uploads`]: uploads in flight, recording a document with its first job, idempotency keys.
//! - [`jobs`]: the job state machine (leases, finishing, hand-backs, dead letters) and model
//!   usage.
//! - [`keys`]: API keys: authentication, last use.
//! - [`resumable`]: resumable (tus) uploads, part by part.
//! - [`summaries`]: storing a summary with `succeeded`, and looking one up.
//! - [`sweep`]: what the scheduled sweep claims and cleans.
//! - [`tenants`]: quota counters and limits per tenant.
//! - [`usage`]: each job's billed operations.
//! - [`webhooks`]: endpoints, the signing secret, events, deliveries and their attempts.
//!
//! [`Timestamp`]: crate::time::Timestamp

pub mod documents;
pub mod fetches;
pub mod jobs;
pub mod keys;
pub mod resumable;
pub mod summaries;
pub mod sweep;
pub mod tenants;
pub mod uploads;
pub mod usage;
pub mod webhooks;

#[cfg(test)]
pub(crate) mod fixtures;

pub use documents::{DocumentListItem, DocumentRow};
pub use fetches::{FetchLease, LeasedFetch, NewFetch};
pub use jobs::{JobRow, LeaseOutcome, LeasedJob, NewJob};
pub use resumable::{LandedPart, NewResumable, ResumableRow};
pub use summaries::{Completion, SearchHit, SummaryContent, SummaryLookup, SummaryRow};
pub use sweep::{DueJob, ExpiredDocument, StaleUpload};
pub use tenants::OverQuota;
pub use uploads::{IdempotentUpload, NewDocument, NewUpload};
pub use usage::JobUsage;
pub use webhooks::{
    AttemptEnd, AttemptResult, DeliveryRow, EndpointRow, NewEndpoint, OutgoingDelivery,
};

/// The pipeline's view of D1.
#[derive(Debug, Clone)]
pub struct Store<D> {
    db: D,
}

impl<D> Store<D> {
    pub fn new(db: D) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &D {
        &self.db
    }

    pub fn database_mut(&mut self) -> &mut D {
        &mut self.db
    }

    pub fn into_database(self) -> D {
        self.db
    }
}
