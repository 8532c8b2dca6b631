//! veloxide's integration tests, one binary: every file beside this one is a group of tests
//! (`cargo test --test integration backup_run::` runs one group), the `*_support` and
//! `common` modules are what the groups share. One binary instead of one per file: each
//! binary links the whole product and its dependencies (about 70 MB each), so 37 of them
//! cost CI machines 2.5 GB of disk and a link each.
#![forbid(unsafe_code)]

// Shared by the groups.
mod agent_support;
mod backup_support;
mod common;
mod csi_support;
mod node_support;
mod repository_support;
mod restore_support;
mod server_support;
mod storage_support;
mod velero_support;
use e2e::peers;

mod admission_props;
mod api_server_restart;
mod backup_cli;
mod backup_faults;
mod backup_filters;
mod backup_fsb;
mod backup_lifecycle;
mod backup_not_done;
mod backup_ownership;
mod backup_partial;
mod backup_repointed;
mod backup_run;
mod backup_secrets_scope;
mod backup_shared_bucket;
mod backup_sync;
mod cli_everyday;
mod cli_install;
mod cli_install_agent;
mod crds;
mod create_flags;
mod csi_snapshots;
mod csi_velero;
mod delete_fsb;
mod download_trust;
mod hooks;
mod hooks_restore;
mod hooks_velero;
mod leader_fencing;
mod location_rules;
mod loops_end;
mod node;
mod node_agent;
mod node_csi;
mod node_fsb;
mod node_fsb_restore;
mod rbac;
mod rbac_crd_groups;
mod rbac_namespaces;
mod rbac_node_agent;
mod rbac_reach;
mod repository_damage;
mod repository_restic;
mod repository_sse_c;
mod restore_actions;
mod restore_bombs;
mod restore_crafted;
mod restore_delete;
mod restore_dry_run;
mod restore_guards;
mod restore_identity;
mod restore_localstack;
mod restore_modes;
mod restore_options;
mod restore_ownership;
mod restore_run;
mod restore_sse_c;
mod retention_shared_bucket;
mod schedule_retention;
mod schedules;
mod secrets_in_logs;
mod server_flags;
mod server_leader;
mod server_locations;
mod server_shutdown;
mod server_stalls;
mod storage_cli;
mod storage_moto;
mod storage_trust;
mod store_stalls;
mod structure;
mod velero_interop;
mod velero_manifests;
mod verify_cluster;
mod webhook_binary;
mod webhook_certs_script;
mod webhook_router;
