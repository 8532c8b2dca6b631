use clap::Parser;

/// Each runtime worker's stack. A backup's future nests deeply (controller, claimed run,
/// archive, producer, item), and in debug builds every nested poll keeps a large frame: at
/// tokio's 2 MiB default the server aborted with a stack overflow once the archive's lists
/// were fetched ahead (release frames are a fraction of that). Reserved, not resident: RSS
/// grows only by the pages a worker touches.
const WORKER_STACK: usize = 8 << 20;

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
        .expect("the tokio runtime starts");
    runtime.block_on(veloxide::cli::Cli::parse().run())
}
