//! Logging set-up shared by every subcommand.
//!
//! Two filters, one after the other: the user's (`RUST_LOG`), and a fixed one that drops events
//! which can carry secret material ([`crate::storage::log_event_is_secret_safe`]). The second
//! is a separate filter, not a directive added to the first, so no `RUST_LOG` can override it:
//! an `EnvFilter` lets the most specific directive win, so `aws_sigv4::http_request=trace`
//! used to beat a built-in `aws_sigv4=off`.

use std::io::IsTerminal as _;

use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, fmt};

/// Our own logs at info unless `RUST_LOG` says otherwise.
const DEFAULT_FILTER: &str = "info";

/// The AWS SDK's crates. They stay at WARN unless `RUST_LOG` names them: at info aws-config
/// logs which credentials it loaded (their key id) on every client it builds, one line per
/// location check; at debug and trace they log requests. None of that belongs in an operator's
/// log by default, even when the user turns everything else up with `RUST_LOG=trace`.
const SDK_TARGETS: [&str; 8] = [
    "aws_config",
    "aws_runtime",
    "aws_sdk_kms",
    "aws_sdk_s3",
    "aws_sigv4",
    "aws_smithy_http_client",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
];

/// The user's filter: `rust_log` (or [`DEFAULT_FILTER`]) with every SDK crate it does not name
/// held at WARN. An unparsable `rust_log` falls back to the default (and says so).
pub fn user_filter(rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    let (text, problem) = match rust_log {
        None => (DEFAULT_FILTER.to_owned(), None),
        Some(s) => match EnvFilter::try_new(s) {
            Ok(_) => (s.to_owned(), None),
            Err(e) => (
                DEFAULT_FILTER.to_owned(),
                Some(format!(
                    "RUST_LOG {s:?} is not a valid filter ({e}); using {DEFAULT_FILTER:?}"
                )),
            ),
        },
    };
    let named: Vec<&str> = text
        .split(',')
        .filter_map(|d| d.split(['=', '[']).next())
        .map(str::trim)
        .collect();
    let mut filter = EnvFilter::new(&text);
    for target in SDK_TARGETS {
        let asked = named
            .iter()
            .any(|n| *n == target || n.starts_with(&format!("{target}::")));
        if !asked {
            filter =
                filter.add_directive(format!("{target}=warn").parse().expect("a valid directive"));
        }
    }
    (filter, problem)
}

/// Log to stderr, filtered by `RUST_LOG` (see [`user_filter`]) and, whatever it says, by
/// [`crate::storage::log_event_is_secret_safe`]; as JSON when `json` is set.
///
/// `level` (the server's `--log-level`) stands in for `RUST_LOG` when that is unset: the
/// variable can name single modules, the flag cannot, so the finer one wins.
pub fn init(json: bool, level: Option<&str>) {
    // An empty RUST_LOG (`RUST_LOG=` in a manifest) is unset, not "log nothing".
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| level.map(str::to_owned));
    let ansi = std::io::stderr().is_terminal();
    let (layer, problem) = layer(json, rust_log.as_deref(), ansi, std::io::stderr);
    // A second initialisation (tests calling in twice) is harmless; ignore it.
    if tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .is_ok()
        && let Some(problem) = problem
    {
        tracing::warn!("{problem}");
    }
}

/// The formatting layer with both filters, writing to `writer`.
fn layer<S, W>(
    json: bool,
    rust_log: Option<&str>,
    ansi: bool,
    writer: W,
) -> (Box<dyn Layer<S> + Send + Sync>, Option<String>)
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (user, problem) = user_filter(rust_log);
    let filter = user.and(filter_fn(crate::storage::log_event_is_secret_safe));
    let layer = if json {
        fmt::layer()
            .json()
            .with_writer(writer)
            .with_filter(filter)
            .boxed()
    } else {
        fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed()
    };
    (layer, problem)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the events below print under `rust_log`.
    fn logged(rust_log: Option<&str>) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let (layer, _) = layer(false, rust_log, false, move || sink.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "aws_sigv4::http_request::sign", canonical_request = "x-amz-server-side-encryption-customer-key:SSECKEY", "calculated signing parameters");
            tracing::debug!(target: "aws_sigv4::http_request::sign", "SIGNERDEBUG");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", request = "HEADERS", "transmitting request");
            tracing::info!(target: "aws_config::profile::credentials", creds = "AKIAKEYID", "loaded base credentials");
            tracing::info!(target: "aws_config::meta::region", "SDKINFO");
            tracing::warn!(target: "aws_config::meta::region", "SDKWARN");
            tracing::info!(target: "veloxide::server", "OURINFO");
            tracing::trace!(target: "veloxide::server", "OURTRACE");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn no_rust_log_can_bring_back_what_may_carry_secrets() {
        for rust_log in [
            None,
            Some("trace"),
            Some("trace,aws_sigv4::http_request=trace"),
            Some("aws_sigv4::http_request::sign=trace,aws_smithy_runtime=trace,aws_config=trace"),
            Some("not a [valid filter"),
        ] {
            let out = logged(rust_log);
            for secret in ["SSECKEY", "SIGNERDEBUG", "HEADERS", "AKIAKEYID"] {
                assert!(
                    !out.contains(secret),
                    "{rust_log:?} let {secret} through:\n{out}"
                );
            }
            assert!(out.contains("SDKWARN"), "{rust_log:?}:\n{out}");
        }
    }

    #[test]
    fn the_sdk_stays_at_warn_unless_named() {
        let out = logged(Some("trace"));
        assert!(
            out.contains("OURTRACE") && !out.contains("SDKINFO"),
            "{out}"
        );
        let out = logged(None);
        assert!(
            out.contains("OURINFO") && !out.contains("OURTRACE") && !out.contains("SDKINFO"),
            "{out}"
        );
        let out = logged(Some("info,aws_config=info"));
        assert!(out.contains("SDKINFO"), "asked for: {out}");
    }
}
