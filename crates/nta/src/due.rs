//! The engine's timer queue: which transaction's timer comes due next.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

/// Most runs kept; a deadline that fits none of them goes to the heap.
const RUNS: usize = 8;

/// Deadlines and what they are for, taken out in time order.
///
/// Almost every deadline is the current time plus one of a few fixed
/// durations (T1, T4, 64·T1, ...), so the deadlines of each duration come
/// in time order. Each is appended to the first-in-first-out run whose
/// last deadline is the latest one not after it: no comparisons down a
/// heap, and no cache misses in a heap of a million entries (a load
/// generator's timer heap was a twentieth of its time: perf). A deadline
/// that fits no run, when [`RUNS`] runs are in use, goes to a binary heap.
/// The earliest entry is the least of the runs' fronts and the heap's top.
/// sofia-sip's nta keeps one queue per timer for the same reason.
#[derive(Debug)]
pub(crate) struct DueQueue<T> {
    runs: Vec<VecDeque<(Instant, T)>>,
    heap: BinaryHeap<Reverse<(Instant, T)>>,
}

/// Where the earliest entry is.
#[derive(Clone, Copy)]
enum Head {
    Run(usize),
    Heap,
}

impl<T: Ord + Copy> DueQueue<T> {
    pub(crate) fn new() -> Self {
        DueQueue {
            runs: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// Room for `n` more entries without growing, in the run the next
    /// entries go to.
    pub(crate) fn reserve(&mut self, n: usize) {
        if self.runs.is_empty() {
            self.runs.push(VecDeque::new());
        }
        self.runs[0].reserve(n);
    }

    pub(crate) fn push(&mut self, at: Instant, item: T) {
        // The best fit: the run whose last deadline is the latest not after
        // `at`; an empty run only when no other fits.
        let mut best: Option<(usize, Option<Instant>)> = None;
        for (i, run) in self.runs.iter().enumerate() {
            let last = run.back().map(|&(last, _)| last);
            if last.is_some_and(|last| last > at) {
                continue;
            }
            if best.is_none_or(|(_, b)| last > b) {
                best = Some((i, last));
            }
        }
        match best {
            Some((i, _)) => self.runs[i].push_back((at, item)),
            None if self.runs.len() < RUNS => self.runs.push(VecDeque::from([(at, item)])),
            None => self.heap.push(Reverse((at, item))),
        }
    }

    fn head(&self) -> Option<(Instant, T, Head)> {
        let mut head = self
            .heap
            .peek()
            .map(|&Reverse((at, item))| (at, item, Head::Heap));
        for (i, run) in self.runs.iter().enumerate() {
            if let Some(&(at, item)) = run.front()
                && head.is_none_or(|(h, hitem, _)| (at, item) < (h, hitem))
            {
                head = Some((at, item, Head::Run(i)));
            }
        }
        head
    }

    /// The earliest entry.
    pub(crate) fn peek(&self) -> Option<(Instant, T)> {
        self.head().map(|(at, item, _)| (at, item))
    }

    /// Takes the earliest entry out.
    pub(crate) fn pop(&mut self) -> Option<(Instant, T)> {
        let (at, item, head) = self.head()?;
        match head {
            Head::Run(i) => {
                self.runs[i].pop_front();
            }
            Head::Heap => {
                self.heap.pop();
            }
        }
        Some((at, item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use std::time::Duration;

    /// Entries come out in the order of a binary heap's, whatever the mix
    /// of fixed delays, random ones and pops in between.
    #[test]
    fn pops_in_the_order_of_a_heap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let t0 = Instant::now();
        let delays = [500u64, 1000, 2000, 4000, 5000, 32_000, 200];
        let mut queue = DueQueue::new();
        let mut heap = BinaryHeap::new();
        let mut now = 0u64;
        for id in 0..50_000u32 {
            now += rng.random_range(0..3);
            let delay = if rng.random_bool(0.1) {
                rng.random_range(0..40_000)
            } else {
                delays[rng.random_range(0..delays.len())]
            };
            let at = t0 + Duration::from_millis(now + delay);
            queue.push(at, id);
            heap.push(Reverse((at, id)));
            if rng.random_bool(0.4) {
                let Reverse(expected) = heap.pop().unwrap();
                assert_eq!(queue.pop(), Some(expected));
            }
            assert_eq!(queue.peek(), heap.peek().map(|r| r.0));
        }
        while let Some(Reverse(expected)) = heap.pop() {
            assert_eq!(queue.pop(), Some(expected));
        }
        assert_eq!(queue.pop(), None);
        // The mix needed every run and the heap.
        assert_eq!(queue.runs.len(), RUNS);
    }
}
