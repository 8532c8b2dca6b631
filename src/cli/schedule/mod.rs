//! `veloxide schedule create|get|describe|pause|unpause|delete`, as Velero's commands behave,
//! plus the next run time Velero never shows.

mod create;
mod get;
mod select;

use std::process::ExitCode;

use clap::Subcommand;

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
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            ScheduleCommand::Create(args) => create::create(*args).await,
            ScheduleCommand::Get(args) => get::get(args).await,
            ScheduleCommand::Describe(args) => get::describe(args).await,
            ScheduleCommand::Pause(args) => select::pause(args.select, true, None).await,
            ScheduleCommand::Unpause(args) => {
                select::pause(args.select, false, args.skip_immediately).await
            }
            ScheduleCommand::Delete(args) => select::delete(args).await,
        }
    }
}
