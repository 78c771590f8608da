//! Counters per transport.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Transport;

/// Live counters of one transport.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub msgs_in: AtomicU64,
    pub msgs_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub errors: AtomicU64,
    pub open_connections: AtomicU64,
}

impl Counters {
    pub(crate) fn received(&self, bytes: usize) {
        self.msgs_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(crate) fn sent(&self, bytes: usize) {
        self.msgs_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    fn snapshot(&self) -> TransportStats {
        TransportStats {
            msgs_in: self.msgs_in.load(Ordering::Relaxed),
            msgs_out: self.msgs_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            open_connections: self.open_connections.load(Ordering::Relaxed),
        }
    }
}

/// The counters of every transport.
#[derive(Debug, Default)]
pub(crate) struct AllCounters {
    udp: Counters,
    tcp: Counters,
    tls: Counters,
}

impl AllCounters {
    pub(crate) fn of(&self, t: Transport) -> &Counters {
        match t {
            Transport::Udp => &self.udp,
            Transport::Tcp => &self.tcp,
            Transport::Tls => &self.tls,
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            udp: self.udp.snapshot(),
            tcp: self.tcp.snapshot(),
            tls: self.tls.snapshot(),
        }
    }
}

/// A snapshot of one transport's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages received (parsed and delivered or dropped as unparsable).
    pub msgs_in: u64,
    /// Messages sent.
    pub msgs_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Errors: unparsable messages, framing errors, failed sends, refused
    /// connections.
    pub errors: u64,
    /// Connections open now (TCP and TLS).
    pub open_connections: u64,
}

/// A snapshot of every transport's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// UDP.
    pub udp: TransportStats,
    /// TCP.
    pub tcp: TransportStats,
    /// TLS.
    pub tls: TransportStats,
}

impl Stats {
    /// The counters of one transport.
    pub fn of(&self, t: Transport) -> &TransportStats {
        match t {
            Transport::Udp => &self.udp,
            Transport::Tcp => &self.tcp,
            Transport::Tls => &self.tls,
        }
    }
}
