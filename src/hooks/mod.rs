//! Hooks: Velero's exec hooks around a pod's backup, and its init-container and exec hooks on
//! restore, from `spec.hooks` and the pods' annotations (`docs/hooks.md`).
//!
//! ```text
//! spec.hooks ─▶ rules (parsed once, every problem naming its field)
//! pod annotations ─▶ annotations ─┐
//!                                 ├▶ backup::planned / restore (which hooks, pure) ─▶ exec (pods/exec)
//! rules ──────────────────────────┘                                              ─▶ outcome (log, status)
//! ```
//! Decisions are plain functions over plain data, table-tested beside the code; the only
//! effect is [`exec::exec`] (and the restore's wait for a pod to run).

pub mod annotations;
pub mod backup;
pub mod exec;
pub mod outcome;
pub mod pod;
pub mod restore;
pub mod restore_exec;
pub mod rules;

pub use annotations::Phase;
pub use backup::{BackupHooks, PhaseResult};
pub use outcome::{HookRecord, LOG_MARKER, Tally};
pub use rules::{BackupRules, DEFAULT_TIMEOUT, Exec, HookSource};
