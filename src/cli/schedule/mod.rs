//! `veloxide schedule create|get|describe|pause|unpause|delete`, as Velero's commands behave,
//! plus the next run time Velero never shows.

pub(super) mod create;
pub(super) mod get;
pub(super) mod select;

use std::process::ExitCode;

use clap::Subcommand;

use super::cluster::Globals;

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Create a schedule: a cron expression and the backup flags of `backup create`.
    Create(Box<create::CreateArgs>),
    /// List schedules, or show the named ones, as a table (with NEXT RUN), YAML or JSON.
    Get(get::GetArgs),
    /// Show a schedule's status, next run, retention and backup template.
    Describe(get::DescribeArgs),
    /// Pause schedules: they create no backups until unpaused.
    Pause(select::PauseArgs),
    /// Unpause schedules.
    Unpause(select::UnpauseArgs),
    /// Delete schedules (their backups stay).
    Delete(select::DeleteArgs),
}

impl ScheduleCommand {
    /// Runs the command in the global `-n` namespace (each command's `namespace` is set here).
    pub async fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let namespace = globals.namespace();
        match self {
            ScheduleCommand::Create(mut args) => {
                args.namespace = namespace;
                create::create(*args, globals).await
            }
            ScheduleCommand::Get(mut args) => {
                args.namespace = namespace;
                get::get(args, globals).await
            }
            ScheduleCommand::Describe(mut args) => {
                args.namespace = namespace;
                get::describe(args, globals).await
            }
            ScheduleCommand::Pause(mut args) => {
                args.select.namespace = namespace;
                select::pause(args.select, true, None, globals).await
            }
            ScheduleCommand::Unpause(mut args) => {
                args.select.namespace = namespace;
                select::pause(args.select, false, args.skip_immediately, globals).await
            }
            ScheduleCommand::Delete(mut args) => {
                args.select.namespace = namespace;
                select::delete(args, globals).await
            }
        }
    }
}
