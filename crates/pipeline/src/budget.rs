//! A memory budget shared by the jobs of one queue batch. A Worker has 128 MB; jobs run
//! concurrently so that AI calls overlap, and each first reserves as many bytes as its document
//! will hold in memory, so a few large documents queue behind each other instead of running the
//! isolate out of memory. Waiters are served in order, so a large document is not starved by a
//! stream of small ones.
//!
//! Single-threaded by design (a Worker isolate runs one thread): interior mutability through
//! `Cell`/`RefCell`, no locks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug)]
pub struct MemoryBudget {
    capacity: u64,
    available: Cell<u64>,
    next_ticket: Cell<u64>,
    /// Tickets of waiting reservations, in arrival order, with their wakers.
    queue: RefCell<VecDeque<(u64, Waker)>>,
}

/// Bytes reserved from a [`MemoryBudget`]; returned when dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl MemoryBudget {
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            available: Cell::new(capacity),
            next_ticket: Cell::new(0),
            queue: RefCell::new(VecDeque::new()),
        }
    }

    pub fn available(&self) -> u64 {
        self.available.get()
    }

    /// Waits until `bytes` (at most the whole budget) are free and reserves them.
    pub fn reserve(&self, bytes: u64) -> Reserve<'_> {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        Reserve {
            budget: self,
            bytes: bytes.min(self.capacity),
            ticket,
            queued: false,
        }
    }

    fn release(&self, bytes: u64) {
        self.available.set(self.available.get() + bytes);
        if let Some((_, waker)) = self.queue.borrow().front() {
            waker.wake_by_ref();
        }
    }
}

/// The future returned by [`MemoryBudget::reserve`].
#[derive(Debug)]
pub struct Reserve<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
    ticket: u64,
    queued: bool,
}

impl<'a> Future for Reserve<'a> {
    type Output = Reservation<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reservation<'a>> {
        let budget = self.budget;
        let mut queue = budget.queue.borrow_mut();
        let first_in_line = queue.front().is_none_or(|(t, _)| *t == self.ticket);
        if first_in_line && budget.available.get() >= self.bytes {
            if self.queued {
                queue.pop_front();
                self.queued = false;
            }
            budget.available.set(budget.available.get() - self.bytes);
            // The next in line may fit in what is left.
            if let Some((_, waker)) = queue.front() {
                waker.wake_by_ref();
            }
            return Poll::Ready(Reservation {
                budget,
                bytes: self.bytes,
            });
        }
        match queue.iter_mut().find(|(t, _)| *t == self.ticket) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => {
                queue.push_back((self.ticket, cx.waker().clone()));
                self.queued = true;
            }
        }
        Poll::Pending
    }
}

impl Drop for Reserve<'_> {
    fn drop(&mut self) {
        if self.queued {
            let mut queue = self.budget.queue.borrow_mut();
            queue.retain(|(t, _)| *t != self.ticket);
            if let Some((_, waker)) = queue.front() {
                waker.wake_by_ref();
            }
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

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
