//! Child processes that cannot outlive the test binary: each runs under `sh`, which kills it
//! as soon as its stdin (a pipe held by this process) closes, on drop or when the test
//! process dies. No `unsafe` (`prctl`) needed.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// Whether something accepts TCP connections on the loopback port.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}
