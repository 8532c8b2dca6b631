//! `veloxide completion bash|zsh|fish|...`: the shell completion script, generated from the
//! same command definitions that parse the command line (clap_complete).

use std::process::ExitCode;

use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

#[derive(Args, Debug)]
#[command(after_help = "Load it in the current shell:\n  \
    bash:  source <(veloxide completion bash)\n  \
    zsh:   source <(veloxide completion zsh)\n  \
    fish:  veloxide completion fish | source")]
pub struct CompletionArgs {
    /// The shell to complete for.
    shell: Shell,
}

impl CompletionArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut command = super::Cli::command();
        clap_complete::generate(self.shell, &mut command, "veloxide", &mut std::io::stdout());
        Ok(ExitCode::SUCCESS)
    }
}
