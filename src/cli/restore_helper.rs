//! `veloxide restore-helper`: the `restore-wait` init container's command
//! (`restore::fsb::helper`). It needs no cluster access: it only looks at its mounts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::restore::fsb::helper::{Look, clean, look};

#[derive(Args, Debug)]
pub struct RestoreHelperArgs {
    /// The Restore's uid: the done file the node agent writes is `.velero/<uid>` in each volume.
    restore_uid: String,
    /// Where the volumes being restored are mounted, one directory each.
    #[arg(long, default_value = crate::restore::fsb::RESTORES_DIR)]
    restores_dir: PathBuf,
}

pub async fn run(args: RestoreHelperArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !args.restore_uid.trim().is_empty() && !args.restore_uid.contains('/'),
        "the restore uid {:?} is not one; the restore-wait container is given its Restore's uid",
        args.restore_uid
    );
    let mut said = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match look(&args.restores_dir, &args.restore_uid) {
            Ok(Look::Done(volumes)) => {
                println!("All PodVolumeRestores are done");
                for problem in clean(&volumes) {
                    println!("{problem}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            Ok(Look::Waiting(volumes)) => {
                let now = format!("{volumes:?}");
                // Said when it changes, not every second.
                if said.as_ref() != Some(&now) {
                    println!(
                        "waiting for the done file .velero/{} in {now}",
                        args.restore_uid
                    );
                    said = Some(now);
                }
            }
            Err(e) => eprintln!("ERROR reading {}: {e}", args.restores_dir.display()),
        }
    }
}
