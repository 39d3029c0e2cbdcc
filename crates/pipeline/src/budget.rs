//! A memory budget shared by the jobs of one queue batch. A Worker has 128 MB; jobs run
//! concurrently so that AI calls overlap, and each first reserves as many bytes as its document
//! will hold in memory, so a few large documents queue behind each other instead of running the
//! isolate out of memory. Waiters are served in order, so a large document is not starved by a
//! stream of small ones.
//!
//! The budget is tokio's semaphore with one permit per byte: it is fair (first come, first
//! served, `acquire_many` included), and budgets stay below its `u32` permits per call (the
//! config caps them at 1 GiB).

use tokio::sync::{Semaphore, SemaphorePermit};

#[derive(Debug)]
pub struct MemoryBudget {
    capacity: u64,
    semaphore: Semaphore,
}

/// Bytes reserved from a [`MemoryBudget`]; returned when dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    _permit: Option<SemaphorePermit<'a>>,
}

impl MemoryBudget {
    /// The largest budget: one call's permits are a `u32`.
    pub const MAX_CAPACITY: u64 = u32::MAX as u64;

    pub fn new(capacity: u64) -> Self {
        let capacity = capacity.min(Self::MAX_CAPACITY);
        Self {
            capacity,
            semaphore: Semaphore::new(usize::try_from(capacity).unwrap_or(usize::MAX)),
        }
    }

    pub fn available(&self) -> u64 {
        self.semaphore.available_permits() as u64
    }

    /// Waits until `bytes` (at most the whole budget) are free and reserves them.
    pub async fn reserve(&self, bytes: u64) -> Reservation<'_> {
        let permits = u32::try_from(bytes.min(self.capacity)).unwrap_or(u32::MAX);
        // The semaphore is never closed, so acquiring cannot fail; if it ever did, the job
        // would run without a reservation rather than not at all.
        Reservation {
            _permit: self.semaphore.acquire_many(permits).await.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::rc::Rc;
    use std::task::Context;

    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;

    use super::*;

    #[test]
    fn reservations_within_capacity_do_not_wait() {
        let budget = MemoryBudget::new(100);
        let a = pollster::block_on(budget.reserve(60));
        let b = pollster::block_on(budget.reserve(40));
        assert_eq!(budget.available(), 0);
        drop((a, b));
        assert_eq!(budget.available(), 100);
    }

    #[test]
    fn oversized_reservation_takes_the_whole_budget_instead_of_waiting_forever() {
        let budget = MemoryBudget::new(100);
        let all = pollster::block_on(budget.reserve(1_000));
        assert_eq!(budget.available(), 0);
        drop(all);
        assert_eq!(budget.available(), 100);
    }

    #[test]
    fn waiters_are_served_in_order_when_memory_frees_up() {
        let budget = Rc::new(MemoryBudget::new(100));
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut pool = LocalPool::new();
        let spawner = pool.spawner();

        let held = pollster::block_on(budget.reserve(90));
        for (name, bytes) in [("big", 80), ("small", 10), ("tiny", 5)] {
            let (budget, order) = (budget.clone(), order.clone());
            spawner
                .spawn_local(async move {
                    let _reservation = budget.reserve(bytes).await;
                    order.borrow_mut().push(name);
                })
                .unwrap();
        }
        pool.run_until_stalled();
        // 10 bytes are free and "small" would fit, but "big" arrived first.
        assert!(order.borrow().is_empty(), "{:?}", order.borrow());
        drop(held);
        pool.run_until_stalled();
        assert_eq!(*order.borrow(), ["big", "small", "tiny"]);
        assert_eq!(budget.available(), 100);
    }

    #[test]
    fn a_cancelled_waiter_does_not_block_the_queue() {
        let budget = Rc::new(MemoryBudget::new(100));
        let done = Rc::new(Cell::new(false));
        let mut pool = LocalPool::new();

        let held = pollster::block_on(budget.reserve(100));
        let mut cancelled = Box::pin(budget.reserve(50));
        let waker = futures::task::noop_waker();
        assert!(
            cancelled
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        {
            let (budget, done) = (budget.clone(), done.clone());
            pool.spawner()
                .spawn_local(async move {
                    let _r = budget.reserve(50).await;
                    done.set(true);
                })
                .unwrap();
        }
        pool.run_until_stalled();
        drop(cancelled);
        drop(held);
        pool.run_until_stalled();
        assert!(done.get());
    }
}
