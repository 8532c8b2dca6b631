//! The BackupStorageLocation controller's names. What it remembers between reconciles (when
//! each location was last checked) is `controller::ValidationLog`, held by the shared `Context`
//! so that the server can forget a deleted location.

/// The label this controller's metrics carry.
pub const CONTROLLER: &str = "backupstoragelocation";
