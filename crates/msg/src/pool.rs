//! Per-thread pools of vectors: a buffer given back is handed out again
//! instead of freeing it and allocating another. Parsing and building a
//! message each need one (the index of its lines, the text being
//! written), and a server handles thousands per second on one thread.

use std::cell::RefCell;
use std::thread::LocalKey;

/// A pool: the vectors given back on this thread.
pub(crate) type Pool<T> = LocalKey<RefCell<Vec<Vec<T>>>>;

/// An empty vector from `pool` with room for at least `capacity` items,
/// or a new one.
pub(crate) fn take<T: 'static>(pool: &'static Pool<T>, capacity: usize) -> Vec<T> {
    let pooled = pool
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten();
    match pooled {
        Some(v) if v.capacity() >= capacity => v,
        _ => Vec::with_capacity(capacity),
    }
}

/// Gives `v` back (emptied) when `keep` accepts its capacity and the pool
/// holds fewer than `most`.
pub(crate) fn give<T: 'static>(
    pool: &'static Pool<T>,
    mut v: Vec<T>,
    most: usize,
    keep: impl FnOnce(usize) -> bool,
) {
    if !keep(v.capacity()) {
        return;
    }
    v.clear();
    let _ = pool.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut()
            && p.len() < most
        {
            p.push(v);
        }
    });
}

/// Vectors in `pool` on this thread.
#[cfg(test)]
pub(crate) fn pooled<T: 'static>(pool: &'static Pool<T>) -> usize {
    pool.with(|p| p.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TEST: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    #[test]
    fn given_back_vectors_are_handed_out_again() {
        let mut v = take(&TEST, 100);
        v.extend_from_slice(b"abc");
        let ptr = v.as_ptr();
        give(&TEST, v, 2, |c| c <= 1000);
        assert_eq!(pooled(&TEST), 1);
        let again = take(&TEST, 50);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr);
        // Too large for `keep`, and beyond `most`: freed.
        give(&TEST, Vec::with_capacity(2000), 2, |c| c <= 1000);
        assert_eq!(pooled(&TEST), 0);
        for _ in 0..3 {
            give(&TEST, Vec::with_capacity(10), 2, |c| c <= 1000);
        }
        assert_eq!(pooled(&TEST), 2);
        // A pooled vector smaller than asked for is not handed out.
        assert!(take(&TEST, 500).capacity() >= 500);
    }
}
