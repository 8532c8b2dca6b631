//! `make bench-storage`: upload a generated stream (1 GiB by default) through the multipart
//! path to moto over HTTPS, next to `aws s3 cp -` of the same bytes to the same server, and
//! print throughput, peak RSS and the ratio.
//!
//! Each upload runs in a child process (veloxide's: this binary re-run with
//! `VX_BENCH_CHILD=1`), and the parent samples the child's `VmHWM` from /proc, so the peak
//! RSS is the uploader's own and measured the same way for both. Size: `VX_BENCH_MIB`.

#[allow(dead_code, unused_imports)]
#[path = "../e2e/src/peers/mod.rs"]
mod peers;

use std::io::Write as _;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};

const MIB: u64 = 1024 * 1024;
const ACCESS_KEY: &str = "AKIAVELOXIDEBENCH";
const SECRET_KEY: &str = "veloxide-bench-secret";

/// A deterministic, cheap, not-very-compressible byte stream of `len` bytes.
struct Generated {
    left: u64,
    state: u64,
}

impl Generated {
    fn new(len: u64) -> Self {
        Generated {
            left: len,
            state: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn fill(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.left as usize);
        for chunk in out[..n].chunks_mut(8) {
            // xorshift64: fast enough that the generator never limits the upload.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let bytes = self.state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        self.left -= n as u64;
        n
    }
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.fill(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

fn size() -> u64 {
    std::env::var("VX_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
        * MIB
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    if std::env::var_os("VX_BENCH_CHILD").is_some() {
        child();
        return;
    }
    let moto = peers::Moto::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(moto.create_bucket("bench"));
    let size = size();
    println!(
        "storage benchmark: {} MiB through multipart upload to moto over HTTPS (127.0.0.1:{})",
        size / MIB,
        moto.port
    );

    let ours = measure(
        Command::new(std::env::current_exe().expect("own path"))
            .env("VX_BENCH_CHILD", "1")
            .env("VX_BENCH_URL", moto.url())
            .env("VX_BENCH_CA", &moto.ca_file)
            .env("VX_BENCH_BYTES", size.to_string()),
        None,
    );
    rt.block_on(moto.s3(reqwest::Method::DELETE, "/bench/veloxide.bin", Vec::new()));

    let aws = measure(
        Command::new(peers::venv_bin("aws"))
            .args(["s3", "cp", "-", "s3://bench/awscli.bin", "--endpoint-url"])
            .arg(moto.url())
            .arg("--ca-bundle")
            .arg(&moto.ca_file)
            .args(["--expected-size", &size.to_string()])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        Some(size),
    );
    rt.block_on(moto.s3(reqwest::Method::DELETE, "/bench/awscli.bin", Vec::new()));

    let mib = size as f64 / MIB as f64;
    let row = |name: &str, (secs, peak_kib): (f64, u64)| {
        println!(
            "  {name:<22} {:>8.1} MiB/s  {:>7.2} s  peak RSS {:>6.1} MiB",
            mib / secs,
            secs,
            peak_kib as f64 / 1024.0
        );
    };
    row("veloxide (multipart)", ours);
    row("aws s3 cp (awscli)", aws);
    println!(
        "  ratio (veloxide/awscli throughput): {:.2}   targets: ratio >= 1.0, veloxide peak RSS <= 64 MiB",
        aws.0 / ours.0
    );
}

/// Run `command` (feeding it `stdin_bytes` of the generated stream when given) and return
/// the wall time and the peak RSS (KiB) sampled from /proc while it ran.
fn measure(command: &mut Command, stdin_bytes: Option<u64>) -> (f64, u64) {
    let start = Instant::now();
    let mut child = command
        .stdin(if stdin_bytes.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the uploader");
    let pid = child.id();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0u64;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
            if status.contains("State:\tZ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    if let Some(len) = stdin_bytes {
        let mut stdin = child.stdin.take().expect("stdin");
        let mut generated = Generated::new(len);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = generated.fill(&mut buf);
            if n == 0 {
                break;
            }
            stdin.write_all(&buf[..n]).expect("feed the uploader");
        }
    }
    let output = child.wait_with_output().expect("uploader finishes");
    let secs = start.elapsed().as_secs_f64();
    let peak = sampler.join().expect("sampler");
    assert!(
        output.status.success(),
        "the uploader failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    (secs, peak)
}

/// The veloxide side: one store, one upload of the generated stream.
fn child() {
    use veloxide::storage::{ObjectStore, StaticSecrets, resolve};
    let url = std::env::var("VX_BENCH_URL").expect("url");
    let ca = std::fs::read(std::env::var("VX_BENCH_CA").expect("ca")).expect("read CA");
    let bytes: u64 = std::env::var("VX_BENCH_BYTES")
        .expect("bytes")
        .parse()
        .expect("a number");
    let spec: veloxide::api::BackupStorageLocationSpec =
        serde_json::from_value(serde_json::json!({
            "provider": "aws",
            "credential": {"name": "creds", "key": "cloud"},
            "objectStorage": {"bucket": "bench", "caCertRef": {"name": "ca", "key": "ca.crt"}},
            "config": {"region": "us-east-1", "s3Url": url, "s3ForcePathStyle": "true"},
        }))
        .expect("spec");
    let config = veloxide::location::LocationConfig::from_spec(&spec)
        .expect("valid")
        .config;
    let mut secrets = StaticSecrets::default();
    let credentials = format!(
        "[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    );
    secrets.secrets.insert(
        "creds".into(),
        [("cloud".to_owned(), credentials.into_bytes())].into(),
    );
    secrets
        .secrets
        .insert("ca".into(), [("ca.crt".to_owned(), ca)].into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let resolved = resolve(&config, &secrets).await.expect("resolve");
        let mut store = ObjectStore::build(&resolved).expect("store");
        // Overrides for tuning runs; the defaults are what the product uses.
        let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
        if let (Some(part), Some(in_flight)) = (env("VX_BENCH_PART_MIB"), env("VX_BENCH_IN_FLIGHT"))
        {
            store = store.with_multipart(veloxide::storage::MultipartOptions {
                part_size: part * MIB as usize,
                max_in_flight: in_flight,
            });
        }
        let uploaded = store
            .upload("veloxide.bin", Generated::new(bytes))
            .await
            .expect("upload");
        println!("{} bytes in {} parts", uploaded.size, uploaded.parts);
    });
}
