//! Scan slots: at most so many scans run at once; held bodies wait for a
//! slot in the order they arrived, and for a bounded time.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A fixed number of scan slots, given first come, first served.
#[derive(Debug)]
pub struct ScanSlots {
    state: Mutex<State>,
    changed: Condvar,
    max: usize,
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    next_ticket: u64,
    /// Tickets of the waiters, oldest first.
    waiting: VecDeque<u64>,
}

/// A slot taken; given back when dropped.
#[derive(Debug)]
pub struct ScanSlot<'s>(&'s ScanSlots);

impl ScanSlots {
    /// `max` slots (at least one).
    pub fn new(max: usize) -> ScanSlots {
        ScanSlots {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            max: max.max(1),
        }
    }

    /// Scans running now.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// Bodies waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Takes a slot once every earlier waiter has one, or `None` when that
    /// takes longer than `wait`.
    pub fn take(&self, wait: Duration) -> Option<ScanSlot<'_>> {
        // A wait too long to add ("for ever") is a day: past any client's
        // patience.
        let now = Instant::now();
        let deadline = now
            .checked_add(wait)
            .unwrap_or(now + Duration::from_secs(86_400));
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back(ticket);
        loop {
            if state.running < self.max && state.waiting.front() == Some(&ticket) {
                state.waiting.pop_front();
                state.running += 1;
                if state.running < self.max && !state.waiting.is_empty() {
                    // The next waiter may take a slot too.
                    self.changed.notify_all();
                }
                return Some(ScanSlot(self));
            }
            let now = Instant::now();
            if now >= deadline {
                state.waiting.retain(|&t| t != ticket);
                // The waiter behind this one may now be first.
                self.changed.notify_all();
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ScanSlot<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running = state.running.saturating_sub(1);
        self.0.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn slots_are_bounded_and_come_back() {
        let slots = ScanSlots::new(2);
        assert!(slots.take(Duration::MAX).is_some(), "a huge wait is taken");
        let a = slots.take(Duration::ZERO).unwrap();
        let _b = slots.take(Duration::ZERO).unwrap();
        assert!(slots.take(Duration::from_millis(20)).is_none());
        assert_eq!(slots.waiting(), 0, "a waiter that gave up left the queue");
        drop(a);
        assert_eq!(slots.running(), 1);
        assert!(slots.take(Duration::ZERO).is_some());
    }

    #[test]
    fn waiters_are_served_in_arrival_order() {
        let slots = Arc::new(ScanSlots::new(1));
        let held = slots.take(Duration::ZERO).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..6 {
            let (waiter, order) = (slots.clone(), order.clone());
            waiters.push(std::thread::spawn(move || {
                let _slot = waiter.take(Duration::from_secs(30)).unwrap();
                order.lock().unwrap().push(i);
                std::thread::sleep(Duration::from_millis(2));
            }));
            // Each waiter is queued before the next one starts.
            while slots.waiting() < i + 1 {
                std::thread::yield_now();
            }
        }
        drop(held);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn a_waiter_giving_up_lets_the_next_one_through() {
        let slots = Arc::new(ScanSlots::new(1));
        let held = slots.take(Duration::ZERO).unwrap();
        let impatient = {
            let slots = slots.clone();
            std::thread::spawn(move || slots.take(Duration::from_millis(50)).is_some())
        };
        while slots.waiting() < 1 {
            std::thread::yield_now();
        }
        let patient = {
            let slots = slots.clone();
            std::thread::spawn(move || slots.take(Duration::from_secs(30)).is_some())
        };
        while slots.waiting() < 2 {
            std::thread::yield_now();
        }
        assert!(!impatient.join().unwrap());
        drop(held);
        assert!(patient.join().unwrap());
    }
}
