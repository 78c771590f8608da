//! The SQLite registration store, directly and through its writer thread.

use std::path::PathBuf;

use mod_sofia::store::{
    BackgroundStore, COLUMNS, Registration, RegistrationStore, SqliteStore, StoreOp,
};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "mod_sofia_store_{}_{}_{}",
            std::process::id(),
            name,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn row(user: &str, call_id: &str, contact: &str, expires: i64) -> Registration {
    Registration {
        call_id: call_id.into(),
        sip_user: user.into(),
        sip_host: "example.com".into(),
        contact: contact.into(),
        status: "Registered(UDP)".into(),
        ping_status: "Reachable".into(),
        rpid: "unknown".into(),
        expires,
        user_agent: "ua".into(),
        profile_name: "internal".into(),
        hostname: "h".into(),
        network_ip: "192.0.2.1".into(),
        network_port: "5060".into(),
        sip_username: user.into(),
        sip_realm: "example.com".into(),
        ..Registration::default()
    }
}

fn insert(r: Registration) -> StoreOp {
    StoreOp::Insert(Box::new(r))
}

#[test]
fn table_has_freeswitch_columns() {
    let dir = TempDir::new("cols");
    let path = SqliteStore::default_path(&dir.0, "internal");
    assert!(path.ends_with("sofia_reg_internal.db"));
    let _store = SqliteStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("select name from pragma_table_info('sip_registrations')")
        .unwrap();
    let cols: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(cols, COLUMNS);
}

#[test]
fn sqlite_operations() {
    let dir = TempDir::new("ops");
    let mut s = SqliteStore::open(&dir.0.join("r.db")).unwrap();
    s.apply(vec![
        insert(row("1000", "a", "<sip:1000@192.0.2.1>", 2000)),
        insert(row("1000", "b", "<sip:1000@192.0.2.2>", 2000)),
        insert(row("1001", "a", "<sip:1001@192.0.2.3>", 2000)),
        insert(row("1002", "c", "<sip:1002@192.0.2.4>", 1500)),
    ])
    .unwrap();
    assert_eq!(s.row_count().unwrap(), 4);
    s.delete_call_id("internal", "a").unwrap();
    assert_eq!(s.row_count().unwrap(), 2);
    s.delete_contact("internal", "1000", "example.com", "<sip:1000@192.0.2.2>")
        .unwrap();
    assert_eq!(s.row_count().unwrap(), 1);
    // Another profile's rows are untouched.
    let mut other = row("1002", "c", "<sip:1002@192.0.2.4>", 2000);
    other.profile_name = "external".into();
    s.upsert(other).unwrap();
    s.delete_user("internal", "1002", "example.com").unwrap();
    assert_eq!(s.row_count().unwrap(), 1);
    s.delete_expired("external", 1999).unwrap();
    assert_eq!(s.row_count().unwrap(), 1);
    s.delete_expired("external", 2000).unwrap();
    assert_eq!(s.row_count().unwrap(), 0);
}

#[test]
fn rows_survive_reopen_and_expired_are_dropped() {
    let dir = TempDir::new("reopen");
    let path = dir.0.join("r.db");
    let a = row(
        "1000",
        "a",
        "\"\" <sip:1000@10.0.0.5:5060;fs_nat=yes>",
        5000,
    );
    {
        let store = SqliteStore::open(&path).unwrap();
        let mut bg = BackgroundStore::spawn(store, 16, 1000, &[], 0).unwrap();
        bg.apply(vec![
            insert(a.clone()),
            insert(row("1001", "b", "<sip:1001@192.0.2.2>", 1000)),
        ])
        .unwrap();
        bg.flush().unwrap();
        assert_eq!(
            bg.stats()
                .applied
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
    }
    // Reopened after the writer stopped: rows are there; at time 1000 the
    // second has expired and is dropped from the file too.
    let mut s = SqliteStore::open(&path).unwrap();
    let rows = s.load("internal", 1000).unwrap();
    assert_eq!(rows, vec![a.clone()]);
    assert_eq!(s.row_count().unwrap(), 1);
    assert!(s.load("external", 1000).unwrap().is_empty());
    drop(s);

    // Preloaded by a background store at start.
    let store = SqliteStore::open(&path).unwrap();
    let mut bg = BackgroundStore::spawn(store, 16, 1000, &["internal"], 1000).unwrap();
    assert_eq!(bg.load("internal", 1000).unwrap(), vec![a]);
    assert!(bg.load("internal", 1000).unwrap().is_empty());
}

#[test]
fn drop_applies_queued_writes() {
    let dir = TempDir::new("drop");
    let path = dir.0.join("r.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let mut bg = BackgroundStore::spawn(store, 4, 100_000, &[], 0).unwrap();
        for i in 0..500 {
            bg.apply(vec![insert(row(
                &format!("u{i}"),
                &format!("c{i}"),
                "<sip:x@192.0.2.1>",
                9_999,
            ))])
            .unwrap();
        }
        // No flush: dropping the store waits for the writer.
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.row_count().unwrap(), 500);
}

#[test]
fn full_queue_loses_nothing() {
    let dir = TempDir::new("full");
    let path = dir.0.join("r.db");
    let store = SqliteStore::open(&path).unwrap();
    // A one-batch queue and a tiny overflow: apply waits for the writer
    // rather than dropping.
    let mut bg = BackgroundStore::spawn(store, 1, 3, &[], 0).unwrap();
    for i in 0..2000 {
        bg.apply(vec![
            StoreOp::DeleteUser {
                profile_name: "internal".into(),
                sip_user: format!("u{i}"),
                sip_host: "example.com".into(),
            },
            insert(row(
                &format!("u{i}"),
                &format!("c{i}"),
                "<sip:x@192.0.2.1>",
                9_999,
            )),
        ])
        .unwrap();
    }
    bg.flush().unwrap();
    assert_eq!(bg.overflowed(), 0);
    let stats = bg.stats();
    assert_eq!(
        stats.applied.load(std::sync::atomic::Ordering::Relaxed),
        4000
    );
    assert_eq!(stats.failed.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(bg);
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.load("internal", 0).unwrap().len(), 2000);
}
