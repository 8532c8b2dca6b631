//! The images the test nodes run, built locally by `e2e/images/build.sh` (nothing can be pulled)
//! and cached per machine. `pause` and `busybox` are in every node from the start; the
//! `veloxide` image is built from a binary and loaded with [`crate::cluster::Cluster::load_image`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Busybox (Debian's busybox-static, every applet): `sh`, `wget`, `httpd`, `nc`, ...
pub const BUSYBOX: &str = "veloxide.test/busybox:e2e";
/// The sandbox image (catatonit).
pub const PAUSE: &str = "veloxide.test/pause:e2e";
/// The veloxide binary (entrypoint) with the shared libraries it needs.
pub const VELOXIDE: &str = "veloxide.test/veloxide:e2e";

fn build(args: &[&std::ffi::OsStr]) -> anyhow::Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running e2e/images/build.sh")?;
    if !out.status.success() {
        bail!(
            "e2e/images/build.sh {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// The tarball of the [`VELOXIDE`] image holding `binary` (a test passes
/// `env!("CARGO_BIN_EXE_veloxide")`).
pub fn veloxide(binary: &Path) -> anyhow::Result<PathBuf> {
    build(&["veloxide".as_ref(), binary.as_os_str()])
}
