//! The jobs queue as a [`JobQueue`].

use docpipe_jobs::JobMessage;
use docpipe_pipeline::ports::{JobQueue, QueueError};
use worker::Queue;

#[derive(Debug)]
pub struct JobsQueue(pub Queue);

impl JobQueue for JobsQueue {
    async fn send(&self, message: &JobMessage) -> Result<(), QueueError> {
        crate::usage::queue_messages(1);
        self.0
            .send(message)
            .await
            .map_err(|e| QueueError(e.to_string()))
    }

    async fn send_batch(&self, messages: &[JobMessage]) -> Result<(), QueueError> {
        crate::usage::queue_messages(messages.len() as u64);
        self.0
            .send_batch(messages.iter().cloned())
            .await
            .map_err(|e| QueueError(e.to_string()))
    }
}
