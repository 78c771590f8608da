//! The registration store: FreeSWITCH's `sip_registrations` table.
//!
//! The [`Registrar`](crate::registrar::Registrar) keeps the current bindings
//! in memory and describes every change as [`StoreOp`]s; a
//! [`RegistrationStore`] makes them durable and gives them back at start
//! ([`RegistrationStore::load`]), so registrations survive a restart.
//!
//! - [`SqliteStore`]: a table with FreeSWITCH's `sip_registrations` columns
//!   in an SQLite file (by default `sofia_reg_<profile>.db` in the data
//!   directory). Every call writes synchronously.
//! - [`BackgroundStore`]: runs any store on a dedicated writer thread fed by
//!   a bounded channel, so the signalling path never waits for the disk.
//! - [`MemoryRegistrationStore`]: a vector of rows, for tests and for
//!   profiles that keep nothing across restarts.
//!
//! The trait is the seam for a shared database later: an implementation
//! only has to apply the operations in order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use rusqlite::{Connection, params};
use sofia_su::su_log;

/// Errors of the registration store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation; the text says which.
    #[error("registration database {path}: {what}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What was being done.
        what: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer thread of a [`BackgroundStore`] is gone.
    #[error("registration store writer thread stopped")]
    WriterStopped,
    /// The writer thread could not be started.
    #[error("cannot start the registration store writer thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// One row of `sip_registrations`, with FreeSWITCH's column names. Times
/// (`expires`, `ping_time`, `ping_expires`) are seconds since the Unix
/// epoch; `expires` already includes the profile's late margin, as in
/// FreeSWITCH.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct Registration {
    pub call_id: String,
    pub sip_user: String,
    pub sip_host: String,
    pub presence_hosts: String,
    pub contact: String,
    pub status: String,
    pub ping_status: String,
    pub ping_count: i64,
    pub ping_time: i64,
    pub force_ping: i64,
    pub rpid: String,
    pub expires: i64,
    pub ping_expires: i64,
    pub user_agent: String,
    pub server_user: String,
    pub server_host: String,
    pub profile_name: String,
    pub hostname: String,
    pub network_ip: String,
    pub network_port: String,
    pub sip_username: String,
    pub sip_realm: String,
    pub mwi_user: String,
    pub mwi_host: String,
    pub orig_server_host: String,
    pub orig_hostname: String,
    pub sub_host: String,
}

/// The columns of `sip_registrations`, in table order.
pub const COLUMNS: [&str; 27] = [
    "call_id",
    "sip_user",
    "sip_host",
    "presence_hosts",
    "contact",
    "status",
    "ping_status",
    "ping_count",
    "ping_time",
    "force_ping",
    "rpid",
    "expires",
    "ping_expires",
    "user_agent",
    "server_user",
    "server_host",
    "profile_name",
    "hostname",
    "network_ip",
    "network_port",
    "sip_username",
    "sip_realm",
    "mwi_user",
    "mwi_host",
    "orig_server_host",
    "orig_hostname",
    "sub_host",
];

/// A change to the store, as the registrar decides it. Deletions are
/// scoped to one profile and mirror the `delete from sip_registrations`
/// statements of FreeSWITCH's `sofia_reg.c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Insert a row.
    Insert(Box<Registration>),
    /// Every binding of a user (`multiple-registrations` false, `Contact: *`).
    DeleteUser {
        /// The profile.
        profile_name: String,
        /// `sip_user`.
        sip_user: String,
        /// `sip_host`.
        sip_host: String,
    },
    /// Every binding made with a Call-ID (`multiple-registrations=call-id`).
    DeleteCallId {
        /// The profile.
        profile_name: String,
        /// `call_id`.
        call_id: String,
    },
    /// One contact of a user (`multiple-registrations=contact`).
    DeleteContact {
        /// The profile.
        profile_name: String,
        /// `sip_user`.
        sip_user: String,
        /// `sip_host`.
        sip_host: String,
        /// `contact`, as stored.
        contact: String,
    },
    /// Every binding with `0 < expires <= now` (the expiry sweep).
    DeleteExpired {
        /// The profile.
        profile_name: String,
        /// Seconds since the Unix epoch.
        now: i64,
    },
}

/// A durable home for registrations.
pub trait RegistrationStore: Send {
    /// Every row of `profile_name` still valid at `now` (seconds since the
    /// Unix epoch); expired rows are dropped from the store.
    fn load(&mut self, profile_name: &str, now: i64) -> Result<Vec<Registration>, StoreError>;

    /// Applies operations in order. A [`BackgroundStore`] only queues them.
    fn apply(&mut self, ops: Vec<StoreOp>) -> Result<(), StoreError>;

    /// Returns once every operation applied before is durable.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Inserts a row (an upsert after the registrar's delete).
    fn upsert(&mut self, row: Registration) -> Result<(), StoreError> {
        self.apply(vec![StoreOp::Insert(Box::new(row))])
    }

    /// Deletes the bindings made with `call_id`.
    fn delete_call_id(&mut self, profile_name: &str, call_id: &str) -> Result<(), StoreError> {
        self.apply(vec![StoreOp::DeleteCallId {
            profile_name: profile_name.to_string(),
            call_id: call_id.to_string(),
        }])
    }

    /// Deletes one contact of a user.
    fn delete_contact(
        &mut self,
        profile_name: &str,
        user: &str,
        host: &str,
        contact: &str,
    ) -> Result<(), StoreError> {
        self.apply(vec![StoreOp::DeleteContact {
            profile_name: profile_name.to_string(),
            sip_user: user.to_string(),
            sip_host: host.to_string(),
            contact: contact.to_string(),
        }])
    }

    /// Deletes every binding of a user.
    fn delete_user(
        &mut self,
        profile_name: &str,
        user: &str,
        host: &str,
    ) -> Result<(), StoreError> {
        self.apply(vec![StoreOp::DeleteUser {
            profile_name: profile_name.to_string(),
            sip_user: user.to_string(),
            sip_host: host.to_string(),
        }])
    }

    /// Deletes the rows expired at `now`.
    fn delete_expired(&mut self, profile_name: &str, now: i64) -> Result<(), StoreError> {
        self.apply(vec![StoreOp::DeleteExpired {
            profile_name: profile_name.to_string(),
            now,
        }])
    }
}

fn matches(op: &StoreOp, r: &Registration) -> bool {
    match op {
        StoreOp::Insert(_) => false,
        StoreOp::DeleteUser {
            profile_name,
            sip_user,
            sip_host,
        } => r.profile_name == *profile_name && r.sip_user == *sip_user && r.sip_host == *sip_host,
        StoreOp::DeleteCallId {
            profile_name,
            call_id,
        } => r.profile_name == *profile_name && r.call_id == *call_id,
        StoreOp::DeleteContact {
            profile_name,
            sip_user,
            sip_host,
            contact,
        } => {
            r.profile_name == *profile_name
                && r.sip_user == *sip_user
                && r.sip_host == *sip_host
                && r.contact == *contact
        }
        StoreOp::DeleteExpired { profile_name, now } => {
            r.profile_name == *profile_name && r.expires > 0 && r.expires <= *now
        }
    }
}

/// Rows in a vector: for tests, and for profiles that keep nothing on disk.
#[derive(Debug, Default, Clone)]
pub struct MemoryRegistrationStore {
    rows: Vec<Registration>,
}

impl MemoryRegistrationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every row.
    pub fn rows(&self) -> &[Registration] {
        &self.rows
    }
}

impl RegistrationStore for MemoryRegistrationStore {
    fn load(&mut self, profile_name: &str, now: i64) -> Result<Vec<Registration>, StoreError> {
        self.rows.retain(|r| !(r.expires > 0 && r.expires <= now));
        Ok(self
            .rows
            .iter()
            .filter(|r| r.profile_name == profile_name)
            .cloned()
            .collect())
    }

    fn apply(&mut self, ops: Vec<StoreOp>) -> Result<(), StoreError> {
        for op in ops {
            match op {
                StoreOp::Insert(row) => self.rows.push(*row),
                op => self.rows.retain(|r| !matches(&op, r)),
            }
        }
        Ok(())
    }
}

/// FreeSWITCH's `sip_registrations` table in an SQLite file, with its
/// indexes and three composite ones (`sip_user, sip_host, profile_name`;
/// `call_id, profile_name`; `profile_name, expires`) that keep every
/// delete an index lookup: with single-column indexes alone SQLite may
/// pick `sr_profile_name` and scan the profile. Writes are synchronous;
/// wrap it in a [`BackgroundStore`] to keep them off the signalling path.
pub struct SqliteStore {
    conn: Connection,
    path: String,
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS sip_registrations (
   call_id          VARCHAR(255),
   sip_user         VARCHAR(255),
   sip_host         VARCHAR(255),
   presence_hosts   VARCHAR(255),
   contact          VARCHAR(1024),
   status           VARCHAR(255),
   ping_status      VARCHAR(255),
   ping_count       INTEGER,
   ping_time        BIGINT,
   force_ping       INTEGER,
   rpid             VARCHAR(255),
   expires          BIGINT,
   ping_expires     INTEGER not null default 0,
   user_agent       VARCHAR(255),
   server_user      VARCHAR(255),
   server_host      VARCHAR(255),
   profile_name     VARCHAR(255),
   hostname         VARCHAR(255),
   network_ip       VARCHAR(255),
   network_port     VARCHAR(6),
   sip_username     VARCHAR(255),
   sip_realm        VARCHAR(255),
   mwi_user         VARCHAR(255),
   mwi_host         VARCHAR(255),
   orig_server_host VARCHAR(255),
   orig_hostname    VARCHAR(255),
   sub_host         VARCHAR(255)
);
CREATE INDEX IF NOT EXISTS sr_call_id ON sip_registrations (call_id);
CREATE INDEX IF NOT EXISTS sr_sip_user ON sip_registrations (sip_user);
CREATE INDEX IF NOT EXISTS sr_sip_host ON sip_registrations (sip_host);
CREATE INDEX IF NOT EXISTS sr_profile_name ON sip_registrations (profile_name);
CREATE INDEX IF NOT EXISTS sr_contact ON sip_registrations (contact);
CREATE INDEX IF NOT EXISTS sr_expires ON sip_registrations (expires);
CREATE INDEX IF NOT EXISTS sr_ping_expires ON sip_registrations (ping_expires);
CREATE INDEX IF NOT EXISTS sr_user_host_profile ON sip_registrations (sip_user, sip_host, profile_name);
CREATE INDEX IF NOT EXISTS sr_call_id_profile ON sip_registrations (call_id, profile_name);
CREATE INDEX IF NOT EXISTS sr_profile_expires ON sip_registrations (profile_name, expires);";

impl SqliteStore {
    /// The file a profile's registrations live in by default:
    /// `<data_dir>/sofia_reg_<profile>.db`, FreeSWITCH's name for the
    /// profile database.
    pub fn default_path(data_dir: &Path, profile_name: &str) -> PathBuf {
        let safe: String = profile_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        data_dir.join(format!("sofia_reg_{safe}.db"))
    }

    /// Opens (creating when absent) the database at `path` and its table.
    /// The journal is WAL with `synchronous=NORMAL`: a crash may lose the
    /// last transactions but never corrupts the file.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let name = path.display().to_string();
        let err = |what| {
            let name = name.clone();
            move |source| StoreError::Sqlite {
                path: name,
                what,
                source,
            }
        };
        let conn = Connection::open(path).map_err(err("open"))?;
        // A database shared with another writer may be locked for a moment;
        // the writer thread waits rather than failing the batch.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err("set busy_timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err("set journal_mode"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err("set synchronous"))?;
        conn.execute_batch(CREATE)
            .map_err(err("create sip_registrations"))?;
        Ok(SqliteStore { conn, path: name })
    }

    /// The number of rows (every profile).
    pub fn row_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("select count(*) from sip_registrations", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|source| self.error("count", source))
    }

    fn error(&self, what: &'static str, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            what,
            source,
        }
    }

    fn apply_in_tx(&mut self, ops: &[StoreOp]) -> Result<(), rusqlite::Error> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "insert into sip_registrations (call_id,sip_user,sip_host,presence_hosts,contact,\
                 status,ping_status,ping_count,ping_time,force_ping,rpid,expires,ping_expires,\
                 user_agent,server_user,server_host,profile_name,hostname,network_ip,network_port,\
                 sip_username,sip_realm,mwi_user,mwi_host,orig_server_host,orig_hostname,sub_host) \
                 values (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,\
                 ?21,?22,?23,?24,?25,?26,?27)",
            )?;
            for op in ops {
                match op {
                    StoreOp::Insert(r) => {
                        insert.execute(params![
                            r.call_id,
                            r.sip_user,
                            r.sip_host,
                            r.presence_hosts,
                            r.contact,
                            r.status,
                            r.ping_status,
                            r.ping_count,
                            r.ping_time,
                            r.force_ping,
                            r.rpid,
                            r.expires,
                            r.ping_expires,
                            r.user_agent,
                            r.server_user,
                            r.server_host,
                            r.profile_name,
                            r.hostname,
                            r.network_ip,
                            r.network_port,
                            r.sip_username,
                            r.sip_realm,
                            r.mwi_user,
                            r.mwi_host,
                            r.orig_server_host,
                            r.orig_hostname,
                            r.sub_host,
                        ])?;
                    }
                    StoreOp::DeleteUser {
                        profile_name,
                        sip_user,
                        sip_host,
                    } => {
                        tx.prepare_cached(
                            "delete from sip_registrations where profile_name=?1 and sip_user=?2 \
                             and sip_host=?3",
                        )?
                        .execute(params![
                            profile_name,
                            sip_user,
                            sip_host
                        ])?;
                    }
                    StoreOp::DeleteCallId {
                        profile_name,
                        call_id,
                    } => {
                        tx.prepare_cached(
                            "delete from sip_registrations where profile_name=?1 and call_id=?2",
                        )?
                        .execute(params![profile_name, call_id])?;
                    }
                    StoreOp::DeleteContact {
                        profile_name,
                        sip_user,
                        sip_host,
                        contact,
                    } => {
                        tx.prepare_cached(
                            "delete from sip_registrations where profile_name=?1 and sip_user=?2 \
                             and sip_host=?3 and contact=?4",
                        )?
                        .execute(params![
                            profile_name,
                            sip_user,
                            sip_host,
                            contact
                        ])?;
                    }
                    StoreOp::DeleteExpired { profile_name, now } => {
                        tx.prepare_cached(
                            "delete from sip_registrations where profile_name=?1 and expires > 0 \
                             and expires <= ?2",
                        )?
                        .execute(params![profile_name, now])?;
                    }
                }
            }
        }
        tx.commit()
    }
}

fn text(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<String> {
    Ok(row.get::<_, Option<String>>(i)?.unwrap_or_default())
}

fn int(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<i64> {
    Ok(row.get::<_, Option<i64>>(i)?.unwrap_or_default())
}

impl RegistrationStore for SqliteStore {
    fn load(&mut self, profile_name: &str, now: i64) -> Result<Vec<Registration>, StoreError> {
        self.conn
            .execute(
                "delete from sip_registrations where profile_name=?1 and expires > 0 and expires <= ?2",
                params![profile_name, now],
            )
            .map_err(|e| self.error("drop expired rows", e))?;
        let sql = format!(
            "select {} from sip_registrations where profile_name=?1",
            COLUMNS.join(",")
        );
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| self.error("select", e))?;
        let rows = stmt
            .query_map(params![profile_name], |row| {
                Ok(Registration {
                    call_id: text(row, 0)?,
                    sip_user: text(row, 1)?,
                    sip_host: text(row, 2)?,
                    presence_hosts: text(row, 3)?,
                    contact: text(row, 4)?,
                    status: text(row, 5)?,
                    ping_status: text(row, 6)?,
                    ping_count: int(row, 7)?,
                    ping_time: int(row, 8)?,
                    force_ping: int(row, 9)?,
                    rpid: text(row, 10)?,
                    expires: int(row, 11)?,
                    ping_expires: int(row, 12)?,
                    user_agent: text(row, 13)?,
                    server_user: text(row, 14)?,
                    server_host: text(row, 15)?,
                    profile_name: text(row, 16)?,
                    hostname: text(row, 17)?,
                    network_ip: text(row, 18)?,
                    network_port: text(row, 19)?,
                    sip_username: text(row, 20)?,
                    sip_realm: text(row, 21)?,
                    mwi_user: text(row, 22)?,
                    mwi_host: text(row, 23)?,
                    orig_server_host: text(row, 24)?,
                    orig_hostname: text(row, 25)?,
                    sub_host: text(row, 26)?,
                })
            })
            .map_err(|e| StoreError::Sqlite {
                path: self.path.clone(),
                what: "select",
                source: e,
            })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r.map_err(|e| StoreError::Sqlite {
                path: self.path.clone(),
                what: "read row",
                source: e,
            })?);
        }
        Ok(out)
    }

    fn apply(&mut self, ops: Vec<StoreOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.apply_in_tx(&ops).map_err(|e| self.error("write", e))
    }
}

enum Command {
    Ops(Vec<StoreOp>),
    Flush(SyncSender<()>),
}

/// Counters of a [`BackgroundStore`].
#[derive(Debug, Default)]
pub struct BackgroundStats {
    /// Operations applied by the writer.
    pub applied: AtomicU64,
    /// Write transactions that failed (each logged at level 1).
    pub failed: AtomicU64,
    /// Times the queue was full and operations waited in the overflow
    /// buffer.
    pub overflows: AtomicU64,
    /// Times the overflow buffer was full and `apply` waited for the writer.
    pub blocked: AtomicU64,
}

/// Runs a store on its own writer thread, fed by a bounded channel of
/// batches: [`apply`](RegistrationStore::apply) returns at once.
///
/// When the channel is full (the disk is slower than the registrations),
/// operations wait, in order, in an overflow buffer that the next `apply`
/// or `flush` sends first; the first overflow of an episode is logged at
/// level 3. Only when the overflow buffer also holds `max_overflow`
/// operations does `apply` wait for the writer (logged at level 2): an
/// accepted registration is never dropped, and memory stays bounded.
pub struct BackgroundStore {
    tx: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
    overflow: Vec<StoreOp>,
    max_overflow: usize,
    in_overflow: bool,
    stats: Arc<BackgroundStats>,
    /// Loads go to the inner store before the writer starts; afterwards
    /// the writer owns it.
    loaded: Option<Vec<(String, Vec<Registration>)>>,
}

impl BackgroundStore {
    /// Starts the writer for `inner` with a queue of `queue` batches and an
    /// overflow buffer of `max_overflow` operations. `preload` profiles are
    /// read (and their expired rows dropped) before the writer starts, at
    /// `now` (seconds since the Unix epoch).
    pub fn spawn<S: RegistrationStore + 'static>(
        mut inner: S,
        queue: usize,
        max_overflow: usize,
        preload: &[&str],
        now: i64,
    ) -> Result<BackgroundStore, StoreError> {
        let mut loaded = Vec::new();
        for p in preload {
            loaded.push((p.to_string(), inner.load(p, now)?));
        }
        let (tx, rx) = mpsc::sync_channel(queue.max(1));
        let stats = Arc::new(BackgroundStats::default());
        let st = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("sofia-reg-db".into())
            .spawn(move || writer(inner, rx, st))
            .map_err(StoreError::Spawn)?;
        Ok(BackgroundStore {
            tx: Some(tx),
            thread: Some(thread),
            overflow: Vec::new(),
            max_overflow: max_overflow.max(1),
            in_overflow: false,
            stats,
            loaded: Some(loaded),
        })
    }

    /// The writer's counters.
    pub fn stats(&self) -> &BackgroundStats {
        &self.stats
    }

    /// Operations waiting in the overflow buffer.
    pub fn overflowed(&self) -> usize {
        self.overflow.len()
    }

    fn send_overflow(&mut self, block: bool) -> Result<(), StoreError> {
        if self.overflow.is_empty() {
            return Ok(());
        }
        let tx = self.tx.as_ref().ok_or(StoreError::WriterStopped)?;
        let batch = std::mem::take(&mut self.overflow);
        if block {
            return tx
                .send(Command::Ops(batch))
                .map_err(|_| StoreError::WriterStopped);
        }
        match tx.try_send(Command::Ops(batch)) {
            Ok(()) => {
                if self.in_overflow {
                    su_log!(SOFIA, 3, "sofia: registration store queue drained");
                    self.in_overflow = false;
                }
                Ok(())
            }
            Err(TrySendError::Full(Command::Ops(batch))) => {
                self.overflow = batch;
                if !self.in_overflow {
                    self.in_overflow = true;
                    self.stats.overflows.fetch_add(1, Ordering::Relaxed);
                    su_log!(
                        SOFIA,
                        3,
                        "sofia: registration store queue full; {} writes wait in memory",
                        self.overflow.len()
                    );
                }
                Ok(())
            }
            Err(_) => Err(StoreError::WriterStopped),
        }
    }
}

fn writer<S: RegistrationStore>(mut inner: S, rx: Receiver<Command>, stats: Arc<BackgroundStats>) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Command::Ops(mut ops) => {
                // Group what is already queued into one transaction.
                let mut flushes = Vec::new();
                while let Ok(next) = rx.try_recv() {
                    match next {
                        Command::Ops(more) => ops.extend(more),
                        Command::Flush(done) => {
                            flushes.push(done);
                            break;
                        }
                    }
                }
                let n = ops.len() as u64;
                match inner.apply(ops) {
                    Ok(()) => {
                        stats.applied.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        su_log!(SOFIA, 1, "sofia: {} registration writes failed: {}", n, e);
                    }
                }
                for f in flushes {
                    let _ = inner.flush();
                    let _ = f.send(());
                }
            }
            Command::Flush(done) => {
                let _ = inner.flush();
                let _ = done.send(());
            }
        }
    }
}

impl RegistrationStore for BackgroundStore {
    /// Rows read when the writer started (for the profiles named then);
    /// later loads of other profiles return nothing, as the writer owns the
    /// database.
    fn load(&mut self, profile_name: &str, now: i64) -> Result<Vec<Registration>, StoreError> {
        let Some(loaded) = self.loaded.as_mut() else {
            return Ok(Vec::new());
        };
        let rows = match loaded.iter().position(|(p, _)| p == profile_name) {
            Some(i) => loaded.swap_remove(i).1,
            None => Vec::new(),
        };
        Ok(rows
            .into_iter()
            .filter(|r| !(r.expires > 0 && r.expires <= now))
            .collect())
    }

    fn apply(&mut self, ops: Vec<StoreOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.overflow.extend(ops);
        if self.overflow.len() >= self.max_overflow {
            self.stats.blocked.fetch_add(1, Ordering::Relaxed);
            su_log!(
                SOFIA,
                2,
                "sofia: registration store {} writes behind; waiting for the disk",
                self.overflow.len()
            );
            return self.send_overflow(true);
        }
        self.send_overflow(false)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.send_overflow(true)?;
        let tx = self.tx.as_ref().ok_or(StoreError::WriterStopped)?;
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        tx.send(Command::Flush(done_tx))
            .map_err(|_| StoreError::WriterStopped)?;
        done_rx.recv().map_err(|_| StoreError::WriterStopped)
    }
}

impl Drop for BackgroundStore {
    fn drop(&mut self) {
        // Queued writes are applied before the thread ends.
        let _ = self.send_overflow(true);
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
