//! Child processes that cannot outlive the test binary: each runs under `sh`, which kills it
//! as soon as its stdin (a pipe held by this process) closes, on drop or when the test
//! process dies. No `unsafe` (`prctl`) needed.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running peer. Dropping it stops it.
#[derive(Debug)]
pub struct Supervised {
    child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Supervised {
    /// Start `program args...`, its output going to `log`.
    pub fn start(name: &str, program: &Path, args: &[String], log: PathBuf) -> Supervised {
        let out = std::fs::File::create(&log).expect("create a log file");
        let err = out.try_clone().expect("clone the log file");
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#""$@" <&- & c=$!; cat >/dev/null; kill $c 2>/dev/null; wait $c"#)
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Supervised {
            child,
            log,
            name: name.to_owned(),
        }
    }

    /// The log so far, for failure messages.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Panic with the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log_text());
        }
    }

    /// Wait until `ready` says yes, failing with the log after `timeout`.
    pub fn wait_until(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ready() {
            self.assert_running();
            assert!(
                start.elapsed() < timeout,
                "{} did not become ready in {timeout:?}:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// How long a started process has to print its listening lines.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Start `command` with its stdout piped and wait, at most [`LISTEN_TIMEOUT`], until it has
/// printed a line starting with each of `prefixes` (`veloxide webhook listening on `). Returns
/// the child and, for each prefix, the rest of its line. Stdout is read to its end on a thread,
/// so the child never blocks on a full pipe or writes to a closed one. If the child exits first
/// or time runs out, it is killed and the call panics with what it printed.
pub fn spawn_listening(command: &mut Command, prefixes: &[&str]) -> (Child, Vec<String>) {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    let mut found: Vec<Option<String>> = vec![None; prefixes.len()];
    let mut printed = Vec::new();
    while found.iter().any(Option::is_none) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                for (prefix, slot) in prefixes.iter().zip(&mut found) {
                    if let (Some(rest), None) = (line.strip_prefix(prefix), &slot) {
                        *slot = Some(rest.trim().to_owned());
                    }
                }
                printed.push(line);
            }
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                let why = match e {
                    mpsc::RecvTimeoutError::Timeout => format!("within {LISTEN_TIMEOUT:?}"),
                    mpsc::RecvTimeoutError::Disconnected => {
                        format!("before it exited ({status:?})")
                    }
                };
                panic!("{program} did not print {prefixes:?} {why}; its stdout: {printed:?}");
            }
        }
    }
    (child, found.into_iter().flatten().collect())
}

/// Whether something accepts TCP connections on the loopback port.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}
