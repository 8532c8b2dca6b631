//! Velero's verb-first forms, each an alias of a noun-first command with the same flags and
//! the same code: `veloxide get backups` is `veloxide backup get`, `veloxide describe backup
//! NAME` is `veloxide backup describe NAME`, and so on.
//!
//! One line per alias: `Variant "noun" ["other", "names"] (ArgsOfTheNounCommand) =>
//! |args| the noun-first Command`. The macro makes the clap subcommand (so help and shell
//! completion know it) and the mapping.

use super::Command;
use super::backup::{self, BackupCommand, DescribeArgs};
use super::location::{self, LocationCommand};
use super::restore::{self, RestoreCommand};
use super::schedule::{self, ScheduleCommand};

macro_rules! verb_first {
    (
        $(#[$meta:meta])*
        $verb:ident {
            $( $variant:ident $noun:literal [$($alias:literal),*] ($args:ty) => $to:expr; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(clap::Subcommand, Debug)]
        pub enum $verb {
            $(
                #[command(name = $noun, visible_aliases = [$($alias),*])]
                $variant($args),
            )*
        }

        impl $verb {
            /// The noun-first command this form stands for.
            pub fn noun_first(self) -> Command {
                match self {
                    $( $verb::$variant(args) => ($to)(args), )*
                }
            }
        }
    };
}

verb_first! {
    /// `veloxide get NOUN`.
    Get {
        Backups "backups" ["backup"] (backup::get::GetArgs) => |a| Command::Backup(BackupCommand::Get(a));
        Restores "restores" ["restore"] (restore::get::GetArgs) => |a| Command::Restore(RestoreCommand::Get(a));
        BackupLocations "backup-locations" ["backup-location", "bsl"] (location::get::GetArgs) => |a| Command::BackupLocation(LocationCommand::Get(a));
        Schedules "schedules" ["schedule", "sched"] (schedule::get::GetArgs) => |a| Command::Schedule(ScheduleCommand::Get(a));
    }
}

verb_first! {
    /// `veloxide describe NOUN NAME`.
    Describe {
        Backups "backups" ["backup"] (DescribeArgs) => |a| Command::Backup(BackupCommand::Describe(a));
        Restores "restores" ["restore"] (DescribeArgs) => |a| Command::Restore(RestoreCommand::Describe(a));
        Schedules "schedules" ["schedule", "sched"] (schedule::get::DescribeArgs) => |a| Command::Schedule(ScheduleCommand::Describe(a));
    }
}

verb_first! {
    /// `veloxide create NOUN NAME ...`.
    Create {
        Backup "backup" ["backups"] (backup::create::CreateArgs) => |a| Command::Backup(BackupCommand::Create(a));
        Restore "restore" ["restores"] (Box<restore::CreateArgs>) => |a| Command::Restore(RestoreCommand::Create(a));
        BackupLocation "backup-location" ["backup-locations", "bsl"] (location::create::CreateArgs) => |a| Command::BackupLocation(LocationCommand::Create(a));
        Schedule "schedule" ["schedules", "sched"] (Box<schedule::create::CreateArgs>) => |a| Command::Schedule(ScheduleCommand::Create(a));
    }
}

verb_first! {
    /// `veloxide delete NOUN NAME...`.
    Delete {
        Backup "backup" ["backups"] (backup::delete::DeleteArgs) => |a| Command::Backup(BackupCommand::Delete(a));
        Restore "restore" ["restores"] (restore::delete::DeleteArgs) => |a| Command::Restore(RestoreCommand::Delete(a));
        BackupLocation "backup-location" ["backup-locations", "bsl"] (location::delete::DeleteArgs) => |a| Command::BackupLocation(LocationCommand::Delete(a));
        Schedule "schedule" ["schedules", "sched"] (schedule::select::DeleteArgs) => |a| Command::Schedule(ScheduleCommand::Delete(a));
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::super::Cli;

    /// The verb-first form parses to exactly what the noun-first form parses to.
    #[test]
    fn each_alias_is_its_noun_first_command() {
        for (verb_first, noun_first) in [
            (
                "get backups -o json -l app=x",
                "backup get -o json -l app=x",
            ),
            ("get backup b1 b2", "backup get b1 b2"),
            ("get restores", "restore get"),
            (
                "get backup-locations --default",
                "backup-location get --default",
            ),
            ("get bsl", "backup-location get"),
            (
                "describe backup b1 --details",
                "backup describe b1 --details",
            ),
            ("describe restores r1", "restore describe r1"),
            (
                "create backup b1 --include-namespaces a,b --wait",
                "backup create b1 --include-namespaces a,b --wait",
            ),
            (
                "create restore --from-backup b1",
                "restore create --from-backup b1",
            ),
            (
                "create backup-location l --provider aws --bucket b",
                "backup-location create l --provider aws --bucket b",
            ),
            ("delete restore r1 --confirm", "restore delete r1 --confirm"),
            (
                "delete backup-location --all --confirm",
                "backup-location delete --all --confirm",
            ),
        ] {
            let parse = |line: &str| {
                let argv = std::iter::once("veloxide").chain(line.split(' '));
                let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{line}: {e}"));
                cli.command.noun_first_debug()
            };
            assert_eq!(parse(verb_first), parse(noun_first), "{verb_first}");
        }
    }
}
