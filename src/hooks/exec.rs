//! The one effect hooks have: a command run in a pod's container through the API server's
//! `pods/exec` subresource (kube's websocket client), bounded by its timeout, its output kept
//! up to [`MAX_OUTPUT`] bytes per stream. Nothing is sent to the container but the command:
//! no stdin, no environment of ours.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Bytes of stdout (and of stderr) kept for the log; the rest is read and dropped so the
/// command never blocks on a full pipe.
pub const MAX_OUTPUT: usize = 4096;

/// What a command printed, each stream cut at [`MAX_OUTPUT`] bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// Whether either stream was cut.
    pub truncated: bool,
}

/// Why a hook's command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("timed out after {}s (the command may still run in the container)", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the API server refused the exec: {0}")]
    Refused(kube::Error),
    #[error("the command exited with code {code}")]
    Exit { code: i32, output: Output },
    #[error("the command failed: {message}")]
    Failed { message: String, output: Output },
}

impl ExecError {
    /// What the command printed before it failed, when it ran.
    pub fn output(&self) -> Option<&Output> {
        match self {
            ExecError::Exit { output, .. } | ExecError::Failed { output, .. } => Some(output),
            _ => None,
        }
    }
}

/// Run `command` in `container` of `namespace/pod`, for at most `timeout`.
///
/// The exec runs on a task of its own: the websocket handshake (TLS, HTTP upgrade) polls deep
/// and wide in a debug build, and nested under a backup's futures it overflowed a worker
/// thread's 2 MiB stack (observed: the server aborted). A task starts from a fresh stack.
pub async fn exec(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
    timeout: Duration,
) -> Result<Output, ExecError> {
    let (client, namespace, pod, container, command) = (
        client.clone(),
        namespace.to_owned(),
        pod.to_owned(),
        container.to_owned(),
        command.to_vec(),
    );
    let task = tokio::spawn(async move {
        exec_here(&client, &namespace, &pod, &container, &command, timeout).await
    });
    match task.await {
        Ok(result) => result,
        Err(e) => Err(ExecError::Failed {
            message: format!("the exec's task ended: {e}"),
            output: Output::default(),
        }),
    }
}

async fn exec_here(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
    command: &[String],
    timeout: Duration,
) -> Result<Output, ExecError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = AttachParams::default()
        .container(container)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let run = async {
        let mut process = pods
            .exec(pod, command.iter().map(String::as_str), &params)
            .await
            .map_err(ExecError::Refused)?;
        let status = process.take_status();
        let (stdout, stderr) = (process.stdout(), process.stderr());
        let ((out, out_cut), (err, err_cut)) = tokio::join!(bounded(stdout), bounded(stderr));
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        // The stream has ended; the connection's task only has to close.
        let _ = process.join().await;
        let output = Output {
            stdout: out,
            stderr: err,
            truncated: out_cut || err_cut,
        };
        match status {
            Some(s) if s.status.as_deref() == Some("Success") => Ok(output),
            Some(s) => {
                let code = s
                    .details
                    .as_ref()
                    .and_then(|d| d.causes.as_ref())
                    .into_iter()
                    .flatten()
                    .find(|c| c.reason.as_deref() == Some("ExitCode"))
                    .and_then(|c| c.message.as_deref()?.parse::<i32>().ok());
                match code {
                    Some(code) => Err(ExecError::Exit { code, output }),
                    None => Err(ExecError::Failed {
                        message: s.message.unwrap_or_else(|| "no reason given".into()),
                        output,
                    }),
                }
            }
            // The connection closed without a status: the command's end is unknown.
            None => Err(ExecError::Failed {
                message: "the connection closed before the command's status arrived".into(),
                output,
            }),
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(result) => result,
        // Dropping the process closes the websocket; like Velero, nothing kills the command.
        Err(_) => Err(ExecError::Timeout(timeout)),
    }
}

/// Read a stream to its end, keeping the first [`MAX_OUTPUT`] bytes.
async fn bounded(reader: Option<impl AsyncRead + Unpin>) -> (String, bool) {
    let Some(mut reader) = reader else {
        return (String::new(), false);
    };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                cut |= n > room;
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_is_bounded_and_drained() {
        let big = vec![b'x'; 3 * MAX_OUTPUT + 5];
        let (text, cut) = bounded(Some(&big[..])).await;
        assert_eq!(text.len(), MAX_OUTPUT);
        assert!(cut);
        let (text, cut) = bounded(Some(&b"ok\n"[..])).await;
        assert_eq!((text.as_str(), cut), ("ok\n", false));
        assert_eq!(bounded(None::<&[u8]>).await, (String::new(), false));
    }
}
