//! Logging set-up shared by every subcommand.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// The default filter: our own logs at info; the AWS SDK's only when something is wrong (at
/// info it logs which credentials it loaded, which does not belong in an operator's log).
const DEFAULT_FILTER: &str =
    "info,aws_config=warn,aws_smithy_runtime=warn,aws_sdk_s3=warn,aws_sdk_kms=warn";

/// Log to stderr, filtered by `RUST_LOG` (default [`DEFAULT_FILTER`]), as JSON when `json` is set.
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // Whatever RUST_LOG says: at trace the request signer logs the canonical request, SSE-C
    // key header included. Secret material never reaches a log.
    let filter = filter.add_directive(
        crate::storage::SECRET_SAFE_LOG_DIRECTIVES
            .parse()
            .expect("a valid directive"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second initialisation (tests calling in twice) is harmless; ignore it.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
