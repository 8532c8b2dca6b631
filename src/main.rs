use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    veloxide::cli::Cli::parse().run().await
}
