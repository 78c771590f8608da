//! `TPORT_LOG` and `TPORT_DUMP`: the message trace and the raw transport dump,
//! byte for byte as sofia-sip writes them (`tport_logging.c`).
//!
//! # `TPORT_LOG`: the message trace
//!
//! When `TPORT_LOG` is set (any non-empty value other than `0`), or when it is
//! switched on at run time with [`Logging::set_log`] (what FreeSWITCH's
//! `sofia profile X siptrace on` does), every message received or sent is
//! logged once, as one `tracing` event at level INFO with target
//! `sofia::tport::log`. Its text ([`log_text`]) is that of the FreeSWITCH fork
//! of sofia-sip (github.com/freeswitch/sofia-sip, `tport_log_msg()`), which
//! formats the whole message into one buffer and hands it to one
//! `su_log("%s\n", buffer)` call:
//!
//! ```text
//! recv 361 bytes from udp/[127.0.0.1]:5080 at 14:34:04.800384:
//! ------------------------------------------------------------------------
//! OPTIONS sip:alice@127.0.0.1 SIP/2.0
//! Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK1
//! ...
//! Content-Length: 0
//!
//!
//! ```
//!
//! that is the [stamp line](stamp), a separator of 72 `-`, then the message
//! with every line ending (CRLF, bare CR or bare LF) written as one `\n`
//! and no indentation, and one more `\n` from the format string. The
//! original Nokia sofia-sip instead indents every line by three spaces,
//! closes the message with a second, indented separator and cuts lines at
//! 2047 bytes; FreeSWITCH users know the fork's layout, so this module
//! follows the fork. Like the fork:
//!
//! - the text before the final `\n` is cut at 15 999 bytes (the fork's buffer
//!   is at most 16 000 bytes, NUL included), so a very large message is
//!   logged only in part;
//! - a NUL byte ends the logged text of the message (the rest is not
//!   printed; the byte count in the stamp is still the whole message);
//! - a message that does not end in a line break has no `\n` added except
//!   the final one.
//!
//! Bytes that are not UTF-8 are shown as U+FFFD, since a `tracing` message is
//! a string.
//!
//! # `TPORT_DUMP`: the raw dump
//!
//! `TPORT_DUMP=<file>` (`-` for standard output) appends the bytes of every
//! read and write to the file, before any parsing ([`Dump`]): once, at open,
//!
//! ```text
//! dump started at Tue Nov 14 22:13:20 2023
//!
//!
//! ```
//!
//! (`"dump started at %s\n\n"` with `ctime()`'s string, which ends in its own
//! `\n`), then per read or write the [stamp line](stamp) with `recv ... from`
//! or `sent ... to` (the dump says `sent` where the trace says `send`), the raw
//! bytes exactly as on the wire, and `"\v\n"`. Each record is flushed.
//!
//! # Stamp line and time
//!
//! `tport_stamp()` writes
//! `"%s %zu bytes %s %s/[%s]:%u%s%s at %02u:%02u:%02u.%06lu:\n"`: the word
//! (`recv`, `send`, `sent`), the byte count, `from` or `to`, the transport
//! name (`udp`, `tcp`, `tls`, ...), the peer address from `inet_ntop()`
//! always in brackets (IPv6 as RFC 5952 text, `[::1]`, `[2001:db8::1]`), the
//! port, `/<flowinfo>` for an IPv6 peer with a non-zero flow label, and the
//! time of day with microseconds. The time comes from `su_now()`, the
//! wall clock (`CLOCK_REALTIME`), and so here from [`SystemTime`]. The
//! FreeSWITCH fork converts it with `localtime_r()` (local time); the
//! original sofia-sip takes the seconds modulo a day (UTC). This module
//! writes **UTC**, for both the stamp and the dump header (the C library
//! uses `ctime()`, local time, there): it needs no time-zone database, and on
//! a host running in UTC, the usual case for servers and containers, the
//! output is the same. The `;comp=sigcomp` suffix of the C stamp never
//! appears, as there is no SigComp here.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, UNIX_EPOCH};
//! use sofia_tport::logging::{stamp, Direction};
//!
//! let peer: SocketAddr = "127.0.0.1:5080".parse().unwrap();
//! let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_800_384);
//! assert_eq!(
//!     stamp(Direction::Recv, 361, "udp", peer, at, false),
//!     "recv 361 bytes from udp/[127.0.0.1]:5080 at 22:13:20.800384:\n"
//! );
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use sofia_su::tracing;

/// `tracing` target of the message trace events.
/// The `tracing` target of TPORT_LOG events.
pub const LOG_TARGET: &str = "sofia::tport::log";

/// The separator after the stamp line: 72 `-` and a newline.
const MSG_SEPARATOR: &str =
    "------------------------------------------------------------------------\n";

/// Size of the fork's `tport_log_msg()` buffer, NUL included: the text before
/// the final `\n` is at most one byte less.
const LOG_BUFFER_SIZE: usize = 16_000;

/// `TPORT_STAMP_SIZE`: the stamp is written with `snprintf()` into this many
/// bytes, NUL included.
const STAMP_SIZE: usize = 144;

/// Direction of a logged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received from the peer.
    Recv,
    /// Sent to the peer.
    Send,
}

impl Direction {
    /// The first word of the stamp: `tport_log_msg()` is called with
    /// `"recv"`/`"send"`, `tport_dump_iovec()` with `"recv"`/`"sent"`.
    fn what(self, dump: bool) -> &'static str {
        match (self, dump) {
            (Direction::Recv, _) => "recv",
            (Direction::Send, false) => "send",
            (Direction::Send, true) => "sent",
        }
    }

    /// The word before the address.
    fn via(self) -> &'static str {
        match self {
            Direction::Recv => "from",
            Direction::Send => "to",
        }
    }
}

/// The stamp line, e.g. `"recv 361 bytes from udp/[127.0.0.1]:5080 at 14:34:04.800384:\n"`.
///
/// `proto` is the lower-case transport name (`"udp"`, `"tcp"`, `"tls"`).
/// `dump` selects the `TPORT_DUMP` wording where it differs from `TPORT_LOG`
/// (`sent` instead of `send`). The time of day is UTC (see the
/// [module documentation](self)).
pub fn stamp(
    dir: Direction,
    len: usize,
    proto: &str,
    peer: SocketAddr,
    at: SystemTime,
    dump: bool,
) -> String {
    let (secs, micros) = unix_time(at);
    let of_day = secs.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let label = match peer {
        // The C code prints ntohl(sin6_flowinfo); std keeps sin6_flowinfo as
        // it is in the sockaddr, so the same value is u32::from_be().
        SocketAddr::V6(v6) if v6.flowinfo() != 0 => format!("/{}", u32::from_be(v6.flowinfo())),
        _ => String::new(),
    };
    let mut line = format!(
        "{} {} bytes {} {}/[{}]:{}{} at {:02}:{:02}:{:02}.{:06}:\n",
        dir.what(dump),
        len,
        dir.via(),
        proto,
        inet_ntop(peer.ip()),
        peer.port(),
        label,
        hour,
        minute,
        second,
        micros
    );
    // snprintf(stamp, TPORT_STAMP_SIZE, ...) keeps at most 143 bytes; only an
    // absurdly long transport name gets there.
    truncate_at_char(&mut line, STAMP_SIZE - 1);
    line
}

/// The whole `TPORT_LOG` text for one message (stamp line + FreeSWITCH
/// layout), ready to print.
///
/// The byte count in the stamp is `msg.len()`; the layout is described in the
/// [module documentation](self).
pub fn log_text(
    dir: Direction,
    proto: &str,
    peer: SocketAddr,
    at: SystemTime,
    msg: &[u8],
) -> String {
    let limit = LOG_BUFFER_SIZE - 1;
    let head = stamp(dir, msg.len(), proto, peer, at, false);
    let mut buf = Vec::with_capacity((head.len() + MSG_SEPARATOR.len() + msg.len()).min(limit) + 1);
    buf.extend_from_slice(head.as_bytes());
    buf.extend_from_slice(MSG_SEPARATOR.as_bytes());
    append_lines(&mut buf, msg, limit);
    buf.truncate(limit);
    // su_log("%s\n", buffer)
    buf.push(b'\n');
    match String::from_utf8(buf) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// The message loop of the fork's `tport_log_msg()` over one buffer: each
/// line's text, then one `\n` for its CRLF, CR or LF; a NUL ends the text.
/// Stops early once `out` holds `limit` bytes (the caller truncates there).
fn append_lines(out: &mut Vec<u8>, msg: &[u8], limit: usize) {
    let mut s = msg;
    while let Some(&first) = s.first() {
        if first == 0 || out.len() >= limit {
            break;
        }
        // su_strncspn(s, end - s, "\r\n") stops at a NUL too.
        let n = s
            .iter()
            .position(|&b| matches!(b, b'\r' | b'\n' | 0))
            .unwrap_or(s.len());
        out.extend_from_slice(&s[..n]);
        s = &s[n..];
        let Some(&eol) = s.first() else { break };
        out.push(b'\n');
        if eol == b'\r' {
            s = &s[1..];
        }
        if s.first() == Some(&b'\n') {
            s = &s[1..];
        }
    }
}

/// A `TPORT_DUMP` file: writes the header once at open, then one record per
/// message.
pub struct Dump {
    out: Box<dyn Write + Send>,
}

impl fmt::Debug for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dump").finish_non_exhaustive()
    }
}

impl Dump {
    /// Opens the dump: `"-"` means standard output, anything else a file
    /// opened for append (created if missing). Writes the
    /// `dump started at <ctime>` header with the time `now` (UTC).
    pub fn open(path: &str, now: SystemTime) -> io::Result<Dump> {
        Self::open_os(OsStr::new(path), now)
    }

    /// [`Dump::open`] for a path that need not be UTF-8 (from the environment).
    fn open_os(path: &OsStr, now: SystemTime) -> io::Result<Dump> {
        let out: Box<dyn Write + Send> = if path == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(Path::new(path))?,
            )
        };
        Self::with_writer(out, now)
    }

    /// A dump over any writer (tests use a `Vec<u8>` behind `Arc<Mutex<..>>`
    /// or similar). Writes the header with the time `now` (UTC).
    pub fn with_writer(mut w: Box<dyn Write + Send>, now: SystemTime) -> io::Result<Dump> {
        // fprintf(mr_dump_file, "dump started at %s\n\n", ctime(&now));
        let header = format!("dump started at {}\n\n", ctime(now));
        w.write_all(header.as_bytes())?;
        w.flush()?;
        Ok(Dump { out: w })
    }

    /// Appends one record: stamp line (`recv ... from` or `sent ... to`), the
    /// raw bytes, `"\v\n"`; flushes. The record goes out in one write.
    pub fn record(
        &mut self,
        dir: Direction,
        proto: &str,
        peer: SocketAddr,
        at: SystemTime,
        raw: &[u8],
    ) -> io::Result<()> {
        let head = stamp(dir, raw.len(), proto, peer, at, true);
        let mut rec = Vec::with_capacity(head.len() + raw.len() + 2);
        rec.extend_from_slice(head.as_bytes());
        rec.extend_from_slice(raw);
        rec.extend_from_slice(b"\x0b\n");
        self.out.write_all(&rec)?;
        self.out.flush()
    }
}

/// The logging switches of a transport: `TPORT_LOG` (changeable at run time)
/// and `TPORT_DUMP`.
pub struct Logging {
    log: AtomicBool,
    dump: Option<Mutex<Dump>>,
    /// Set after the first failed dump write, which is reported once.
    dump_failed: AtomicBool,
}

impl fmt::Debug for Logging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logging")
            .field("log", &self.log_enabled())
            .field("dump", &self.dump.is_some())
            .finish()
    }
}

impl Logging {
    /// Reads `TPORT_LOG` (any non-empty value other than `"0"` turns it on)
    /// and `TPORT_DUMP` from the environment; a dump file that cannot be
    /// opened gets a one-line warning on stderr naming the file and the
    /// error, and no dump. An empty `TPORT_DUMP` means no dump.
    pub fn from_env() -> Logging {
        let log = std::env::var_os("TPORT_LOG").is_some_and(|v| !v.is_empty() && v != "0");
        let dump = match std::env::var_os("TPORT_DUMP") {
            Some(path) if !path.is_empty() => match Dump::open_os(&path, SystemTime::now()) {
                Ok(dump) => Some(dump),
                Err(err) => {
                    // Not eprintln!, which panics when stderr is gone.
                    let _ = writeln!(
                        io::stderr(),
                        "tport: cannot open TPORT_DUMP file {}: {}",
                        Path::new(&path).display(),
                        err
                    );
                    None
                }
            },
            _ => None,
        };
        Logging::new(log, dump)
    }

    /// Explicit settings (tests, embedding): log on/off and an optional dump.
    pub fn new(log: bool, dump: Option<Dump>) -> Logging {
        Logging {
            log: AtomicBool::new(log),
            dump: dump.map(Mutex::new),
            dump_failed: AtomicBool::new(false),
        }
    }

    /// Turns `TPORT_LOG` output on or off at run time.
    pub fn set_log(&self, on: bool) {
        self.log.store(on, Ordering::Relaxed);
    }

    /// Whether `TPORT_LOG` output is on.
    pub fn log_enabled(&self) -> bool {
        self.log.load(Ordering::Relaxed)
    }

    /// Called by the transport for every message read or written (raw bytes
    /// as on the wire), with the current wall-clock time: see
    /// [`message_at`](Logging::message_at).
    pub fn message(&self, dir: Direction, proto: &str, peer: SocketAddr, raw: &[u8]) {
        // The clock is read only for a record that will be written: with
        // neither a dump nor the log on, reading it for every message was
        // about one percent of a saturated responder's time (perf).
        if self.dump.is_some() || self.log_enabled() {
            self.message_at(dir, proto, peer, SystemTime::now(), raw);
        }
    }

    /// Same as [`message`](Logging::message) with an explicit time: writes
    /// the dump record if a dump is open, then, when logging is on, emits
    /// [`log_text`] as one `tracing` event at level INFO with target
    /// `sofia::tport::log` (the subscriber prints it; nothing else does).
    /// A failed dump write is reported once, at `TPORT_DEBUG` level 2.
    pub fn message_at(
        &self,
        dir: Direction,
        proto: &str,
        peer: SocketAddr,
        at: SystemTime,
        raw: &[u8],
    ) {
        if let Some(dump) = &self.dump {
            let result = dump
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(dir, proto, peer, at, raw);
            if let Err(err) = result
                && !self.dump_failed.swap(true, Ordering::Relaxed)
            {
                sofia_su::su_log!(TPORT, 2, "tport: cannot write TPORT_DUMP: {}", err);
            }
        }
        if self.log_enabled() && tracing::enabled!(target: LOG_TARGET, tracing::Level::INFO) {
            let text = log_text(dir, proto, peer, at, raw);
            tracing::event!(target: LOG_TARGET, tracing::Level::INFO, "{}", text);
        }
    }
}

/// Seconds and microseconds since the UNIX epoch, floored (`tv_sec`,
/// `tv_usec` of a `struct timeval`), also before 1970.
fn unix_time(at: SystemTime) -> (i64, u32) {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_micros(),
        ),
        Err(before) => {
            let nanos = -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX);
            let secs = nanos.div_euclid(1_000_000_000);
            let sub = nanos.rem_euclid(1_000_000_000) / 1000;
            (
                i64::try_from(secs).unwrap_or(i64::MIN),
                u32::try_from(sub).unwrap_or(0),
            )
        }
    }
}

/// `ctime()`'s text without its time zone: `"Tue Nov 14 22:13:20 2023\n"`
/// (`"%.3s %.3s%3d %.2d:%.2d:%.2d %d\n"`), in UTC.
fn ctime(at: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (secs, _) = unix_time(at);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS
        .get(usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0))
        .copied()
        .unwrap_or("???");
    let month = MONTHS
        .get(usize::try_from(month - 1).unwrap_or(0))
        .copied()
        .unwrap_or("???");
    format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}\n",
        weekday,
        month,
        day,
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        year
    )
}

/// Year, month (1..=12) and day (1..=31) of a day count since 1970-01-01 in
/// the proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The address as glibc's `inet_ntop()` writes it. Rust's `Display` is the
/// same RFC 5952 text except for the deprecated IPv4-compatible form
/// (`::a.b.c.d`), which glibc writes with a dotted quad.
fn inet_ntop(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match ipv4_compatible(&v6) {
            Some([a, b, c, d]) => format!("::{a}.{b}.{c}.{d}"),
            None => v6.to_string(),
        },
    }
}

/// The embedded IPv4 address when glibc would print `::a.b.c.d`: the first
/// six words zero and the seventh not (`::1` and `::` stay hexadecimal).
fn ipv4_compatible(v6: &Ipv6Addr) -> Option<[u8; 4]> {
    let words = v6.segments();
    if words[..6].iter().all(|&w| w == 0) && words[6] != 0 {
        let o = v6.octets();
        Some([o[12], o[13], o[14], o[15]])
    } else {
        None
    }
}

/// Cuts `s` to at most `max` bytes, backing off to a character boundary.
fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV6};
    use std::sync::Arc;
    use std::time::Duration;

    /// 2023-11-14 22:13:20.800384 UTC, a Tuesday.
    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_micros(800_384)
    }

    fn v4() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 5080))
    }

    fn v6() -> SocketAddr {
        "[2001:db8::1]:5061".parse().unwrap()
    }

    /// A writer that tests can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().clone()
        }
    }

    #[test]
    fn stamp_recv_and_send_ipv4() {
        assert_eq!(
            stamp(Direction::Recv, 361, "udp", v4(), at(), false),
            "recv 361 bytes from udp/[127.0.0.1]:5080 at 22:13:20.800384:\n"
        );
        assert_eq!(
            stamp(Direction::Send, 512, "tcp", v4(), at(), false),
            "send 512 bytes to tcp/[127.0.0.1]:5080 at 22:13:20.800384:\n"
        );
        // The dump says "sent"; "recv" is the same in both.
        assert_eq!(
            stamp(Direction::Send, 512, "tcp", v4(), at(), true),
            "sent 512 bytes to tcp/[127.0.0.1]:5080 at 22:13:20.800384:\n"
        );
        assert_eq!(
            stamp(Direction::Recv, 361, "udp", v4(), at(), true),
            stamp(Direction::Recv, 361, "udp", v4(), at(), false)
        );
    }

    #[test]
    fn stamp_ipv6() {
        assert_eq!(
            stamp(Direction::Recv, 0, "tls", v6(), at(), false),
            "recv 0 bytes from tls/[2001:db8::1]:5061 at 22:13:20.800384:\n"
        );
        let lo: SocketAddr = "[::1]:5060".parse().unwrap();
        assert_eq!(
            stamp(Direction::Send, 7, "udp", lo, at(), true),
            "sent 7 bytes to udp/[::1]:5060 at 22:13:20.800384:\n"
        );
        // A scope id is not printed (inet_ntop of the address only).
        let scoped = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 5060, 0, 3));
        assert_eq!(
            stamp(Direction::Recv, 1, "udp", scoped, at(), false),
            "recv 1 bytes from udp/[fe80::1]:5060 at 22:13:20.800384:\n"
        );
        // A flow label is, after the port (sin6_flowinfo in network order).
        let flow = SocketAddr::V6(SocketAddrV6::new(
            "2001:db8::1".parse().unwrap(),
            5060,
            12345u32.to_be(),
            0,
        ));
        assert_eq!(
            stamp(Direction::Recv, 1, "udp", flow, at(), false),
            "recv 1 bytes from udp/[2001:db8::1]:5060/12345 at 22:13:20.800384:\n"
        );
    }

    #[test]
    fn inet_ntop_matches_glibc() {
        let text = |s: &str| inet_ntop(s.parse().unwrap());
        assert_eq!(text("::"), "::");
        assert_eq!(text("::1"), "::1");
        assert_eq!(text("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
        assert_eq!(text("::192.0.2.1"), "::192.0.2.1");
        assert_eq!(text("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(text("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(text("FE80::ABCD"), "fe80::abcd");
    }

    #[test]
    fn stamp_time_fields() {
        // Midnight, zero microseconds: all fields zero-padded.
        let midnight = UNIX_EPOCH + Duration::from_secs(1_700_006_400);
        assert!(
            stamp(Direction::Recv, 1, "udp", v4(), midnight, false)
                .ends_with(" at 00:00:00.000000:\n")
        );
        // Nanoseconds are truncated to microseconds, as tv_nsec / 1000.
        let t = UNIX_EPOCH + Duration::new(1_700_000_000 + 3600 * 2 + 61, 999_999_999);
        assert!(
            stamp(Direction::Recv, 1, "udp", v4(), t, false).ends_with(" at 00:14:21.999999:\n")
        );
        // Before 1970: floored, like a timeval.
        let before = UNIX_EPOCH - Duration::from_micros(1);
        assert!(
            stamp(Direction::Recv, 1, "udp", v4(), before, false)
                .ends_with(" at 23:59:59.999999:\n")
        );
    }

    #[test]
    fn stamp_is_cut_like_snprintf() {
        let long = "x".repeat(200);
        let s = stamp(Direction::Recv, 1, &long, v4(), at(), false);
        assert_eq!(s.len(), STAMP_SIZE - 1);
        assert!(s.starts_with("recv 1 bytes from xxx"));
    }

    #[test]
    fn log_text_two_lines_with_crlf() {
        let msg = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        let text = log_text(Direction::Recv, "udp", v4(), at(), msg);
        let expected = format!(
            "recv {} bytes from udp/[127.0.0.1]:5080 at 22:13:20.800384:\n\
             {}\n\
             OPTIONS sip:a@127.0.0.1 SIP/2.0\n\
             Content-Length: 0\n\
             \n\
             \n",
            msg.len(),
            "-".repeat(72)
        );
        assert_eq!(text, expected);
        assert_eq!(MSG_SEPARATOR.len(), 73);
    }

    #[test]
    fn log_text_with_body() {
        let msg = b"INVITE sip:b@h SIP/2.0\r\nContent-Length: 5\r\n\r\nv=0\r\n";
        let text = log_text(Direction::Send, "tcp", v6(), at(), msg);
        assert_eq!(
            text,
            format!(
                "send 50 bytes to tcp/[2001:db8::1]:5061 at 22:13:20.800384:\n{}\n\
                 INVITE sip:b@h SIP/2.0\nContent-Length: 5\n\nv=0\n\n",
                "-".repeat(72)
            )
        );
    }

    #[test]
    fn log_text_odd_line_endings() {
        let body = |msg: &[u8]| {
            let text = log_text(Direction::Recv, "udp", v4(), at(), msg);
            let start = text.find(MSG_SEPARATOR).unwrap() + MSG_SEPARATOR.len();
            text[start..].to_string()
        };
        // No trailing line break: only the final "\n".
        assert_eq!(
            body(b"SIP/2.0 200 OK\r\nCSeq: 1 BYE"),
            "SIP/2.0 200 OK\nCSeq: 1 BYE\n"
        );
        // Bare LF and bare CR are line breaks too.
        assert_eq!(body(b"A\nB\n\nC"), "A\nB\n\nC\n");
        assert_eq!(body(b"A\rB\r"), "A\nB\n\n");
        assert_eq!(body(b"A\r\r\nB"), "A\n\nB\n");
        // LF CR is two line breaks.
        assert_eq!(body(b"A\n\rB"), "A\n\nB\n");
        // Empty message.
        assert_eq!(body(b""), "\n");
        // A NUL ends the text; the line break before it is still written.
        assert_eq!(body(b"AB\0CD\r\nEF"), "AB\n\n");
        assert_eq!(body(b"AB\r\n\0CD"), "AB\n\n");
        // Not UTF-8: replaced, never a panic.
        assert_eq!(body(b"A\xffB\r\n"), "A\u{fffd}B\n\n");
        // The byte count is the whole message.
        assert!(
            log_text(Direction::Recv, "udp", v4(), at(), b"AB\0CD").starts_with("recv 5 bytes")
        );
    }

    #[test]
    fn log_text_cut_at_fork_buffer_size() {
        let mut msg = Vec::new();
        for i in 0..2000 {
            msg.extend_from_slice(format!("X-Header-{i}: value\r\n").as_bytes());
        }
        let text = log_text(Direction::Recv, "tcp", v4(), at(), &msg);
        assert_eq!(text.len(), LOG_BUFFER_SIZE);
        assert!(text.ends_with('\n'));
        // The cut text is a prefix of the uncut one.
        let mut full = Vec::new();
        full.extend_from_slice(
            stamp(Direction::Recv, msg.len(), "tcp", v4(), at(), false).as_bytes(),
        );
        full.extend_from_slice(MSG_SEPARATOR.as_bytes());
        append_lines(&mut full, &msg, usize::MAX);
        assert_eq!(
            text.as_bytes()[..LOG_BUFFER_SIZE - 1],
            full[..LOG_BUFFER_SIZE - 1]
        );
    }

    #[test]
    fn ctime_format() {
        assert_eq!(ctime(at()), "Tue Nov 14 22:13:20 2023\n");
        assert_eq!(ctime(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970\n");
        // 2000-02-29 (leap day of a century leap year), 2026-11-23 07:02:35.
        assert_eq!(
            ctime(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue Feb 29 00:00:00 2000\n"
        );
        assert_eq!(
            ctime(UNIX_EPOCH + Duration::from_secs(1_795_417_355)),
            "Mon Nov 23 07:02:35 2026\n"
        );
        assert_eq!(
            ctime(UNIX_EPOCH - Duration::from_secs(1)),
            "Wed Dec 31 23:59:59 1969\n"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn dump_header_and_records() {
        let buf = Shared::default();
        let mut dump = Dump::with_writer(Box::new(buf.clone()), at()).unwrap();
        dump.record(
            Direction::Recv,
            "udp",
            v4(),
            at(),
            b"OPTIONS sip:a SIP/2.0\r\n\r\n",
        )
        .unwrap();
        let later = at() + Duration::from_micros(1_200);
        dump.record(
            Direction::Send,
            "udp",
            v4(),
            later,
            b"SIP/2.0 200 OK\r\n\r\n",
        )
        .unwrap();
        let expected: &[u8] = b"dump started at Tue Nov 14 22:13:20 2023\n\n\n\
            recv 25 bytes from udp/[127.0.0.1]:5080 at 22:13:20.800384:\n\
            OPTIONS sip:a SIP/2.0\r\n\r\n\x0b\n\
            sent 18 bytes to udp/[127.0.0.1]:5080 at 22:13:20.801584:\n\
            SIP/2.0 200 OK\r\n\r\n\x0b\n";
        assert_eq!(buf.bytes(), expected);
    }

    #[test]
    fn dump_keeps_every_byte() {
        let buf = Shared::default();
        let mut dump = Dump::with_writer(Box::new(buf.clone()), at()).unwrap();
        let raw: Vec<u8> = (0..=255u8).collect();
        dump.record(Direction::Send, "tcp", v6(), at(), &raw)
            .unwrap();
        let bytes = buf.bytes();
        let head = "sent 256 bytes to tcp/[2001:db8::1]:5061 at 22:13:20.800384:\n";
        let start = bytes.len() - raw.len() - 2;
        assert_eq!(&bytes[start - head.len()..start], head.as_bytes());
        assert_eq!(&bytes[start..start + raw.len()], &raw[..]);
        assert_eq!(&bytes[bytes.len() - 2..], b"\x0b\n");
    }

    #[test]
    fn dump_file_appends() {
        let dir = std::env::temp_dir().join(format!("sofia-tport-dump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dump.txt");
        let _ = std::fs::remove_file(&path);
        let path_str = path.to_str().unwrap();
        {
            let mut dump = Dump::open(path_str, at()).unwrap();
            dump.record(Direction::Recv, "udp", v4(), at(), b"one")
                .unwrap();
        }
        {
            let mut dump = Dump::open(path_str, at()).unwrap();
            dump.record(Direction::Send, "udp", v4(), at(), b"two")
                .unwrap();
        }
        let text = std::fs::read(&path).unwrap();
        let header = b"dump started at Tue Nov 14 22:13:20 2023\n\n\n";
        let mut expected = Vec::new();
        expected.extend_from_slice(header);
        expected.extend_from_slice(
            b"recv 3 bytes from udp/[127.0.0.1]:5080 at 22:13:20.800384:\none\x0b\n",
        );
        expected.extend_from_slice(header);
        expected.extend_from_slice(
            b"sent 3 bytes to udp/[127.0.0.1]:5080 at 22:13:20.800384:\ntwo\x0b\n",
        );
        assert_eq!(text, expected);
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(Dump::open("/nonexistent-dir-sofia/dump", at()).is_err());
    }

    #[test]
    fn logging_switch() {
        let logging = Logging::new(false, None);
        assert!(!logging.log_enabled());
        // Off and no dump: nothing to do, nothing panics.
        logging.message_at(Direction::Recv, "udp", v4(), at(), b"OPTIONS");
        logging.set_log(true);
        assert!(logging.log_enabled());
        logging.set_log(false);
        assert!(!logging.log_enabled());
    }

    #[test]
    fn logging_writes_exactly_the_dump_record() {
        let buf = Shared::default();
        let dump = Dump::with_writer(Box::new(buf.clone()), at()).unwrap();
        let header_len = buf.bytes().len();
        for log in [false, true] {
            let logging = Logging::new(log, None);
            logging.message_at(Direction::Recv, "udp", v4(), at(), b"x");
        }
        let logging = Logging::new(false, Some(dump));
        let raw = b"OPTIONS sip:a SIP/2.0\r\n\r\n";
        logging.message_at(Direction::Send, "udp", v4(), at(), raw);
        let bytes = buf.bytes();
        let mut expected = stamp(Direction::Send, raw.len(), "udp", v4(), at(), true).into_bytes();
        expected.extend_from_slice(raw);
        expected.extend_from_slice(b"\x0b\n");
        assert_eq!(&bytes[header_len..], &expected[..]);
    }

    #[test]
    fn failing_dump_does_not_panic() {
        struct Broken(bool);
        impl Write for Broken {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 {
                    Err(io::Error::other("disk full"))
                } else {
                    Ok(buf.len())
                }
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(Dump::with_writer(Box::new(Broken(true)), at()).is_err());
        let mut dump = Dump::with_writer(Box::new(Broken(false)), at()).unwrap();
        dump.out = Box::new(Broken(true));
        assert!(
            dump.record(Direction::Recv, "udp", v4(), at(), b"x")
                .is_err()
        );
        let logging = Logging::new(true, Some(dump));
        logging.message_at(Direction::Recv, "udp", v4(), at(), b"x");
        logging.message_at(Direction::Recv, "udp", v4(), at(), b"x");
        assert!(logging.dump_failed.load(Ordering::Relaxed));
    }

    /// A subscriber that records the events of the trace target.
    struct Capture(Arc<Mutex<Vec<(String, tracing::Level, String)>>>);

    struct MessageField(String);

    impl tracing::field::Visit for MessageField {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
            meta.target() == LOG_TARGET
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut visitor = MessageField(String::new());
            event.record(&mut visitor);
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((meta.target().to_string(), *meta.level(), visitor.0));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn log_is_one_tracing_event() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let subscriber = Capture(events.clone());
        let raw = b"OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n";
        tracing::subscriber::with_default(subscriber, || {
            let logging = Logging::new(false, None);
            logging.message_at(Direction::Recv, "udp", v4(), at(), raw);
            logging.set_log(true);
            logging.message_at(Direction::Recv, "udp", v4(), at(), raw);
            logging.set_log(false);
            logging.message_at(Direction::Send, "udp", v4(), at(), raw);
        });
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, LOG_TARGET);
        assert_eq!(events[0].1, tracing::Level::INFO);
        assert_eq!(
            events[0].2,
            log_text(Direction::Recv, "udp", v4(), at(), raw)
        );
    }
}
