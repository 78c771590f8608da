//! `mod_sofia`: what FreeSWITCH operators know as mod_sofia, without
//! FreeSWITCH: SIP profiles read from a FreeSWITCH-style `sofia.conf.xml`,
//! a registrar whose bindings live in an embedded SQLite store, gateways,
//! and the `sofia ...` console commands with FreeSWITCH's reply formats,
//! served by the `sofia` daemon. It composes the sofia-rs crates below it:
//! `sofia-nua`/`sofia-nta` for signalling, `sofia-iptsec` for digest
//! authentication against the directory, `sofia-nea` for presence.
//!
//! `docs/mod_sofia.md` lists what it does, command by command, and every
//! deliberate difference from FreeSWITCH.
#![forbid(unsafe_code)]

pub mod acl;
pub mod b2bua;
pub mod commands;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dial;
pub mod directory;
pub mod events;
pub mod gateway;
pub mod presence;
pub mod registrar;
pub mod store;
pub mod switch;
pub mod watchdog;
