//! The moto server process, started with the project's extension loaded first.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where the extension's Python package lives (overridable for installed binaries).
pub fn extension_path() -> PathBuf {
    std::env::var_os("TENANT_MOTO_EXT_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("python"))
}

/// The virtualenv's Python that has the pinned moto (`make venv` creates it).
pub fn python_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("TENANT_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    bail!("no Python with moto found: run `make venv` (creates .venv) or set TENANT_PYTHON")
}

pub struct MotoServer {
    child: Child,
    pub port: u16,
    pub endpoint: String,
}

/// A free TCP port on loopback. Released before moto binds it: a small race that a
/// retry of the whole start would absorb; in practice the kernel does not reuse it soon.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl MotoServer {
    /// Starts moto on a free port; its Step Functions interpreter will invoke Lambda at
    /// `lambda_port`. `log` receives moto's request log (discarded when `None`).
    /// `env` is passed to the extension (e.g. its simulated IAM propagation delay).
    pub async fn start(lambda_port: u16, log: Option<&Path>, env: &[(&str, String)]) -> anyhow::Result<MotoServer> {
        // The free port is released before moto binds it; if another process took it in
        // between, moto exits early and a new port is tried.
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(lambda_port, log, env).await {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    async fn start_once(lambda_port: u16, log: Option<&Path>, env: &[(&str, String)]) -> anyhow::Result<MotoServer> {
        let python = python_path()?;
        let port = free_port()?;
        let stderr = match log {
            Some(path) => {
                Stdio::from(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?)
            }
            None => Stdio::null(),
        };
        let mut child = Command::new(&python)
            .args([
                "-m",
                "tenant_moto",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--lambda-port",
                &lambda_port.to_string(),
            ])
            .env("PYTHONPATH", extension_path())
            .env("PYTHONUNBUFFERED", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting moto with {}", python.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if line.trim() == "ready" {
                    return Ok(true);
                }
            }
            Ok::<_, std::io::Error>(false)
        })
        .await;
        match ready {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Ok(Err(_)) => bail!("moto exited before it was ready (see its log)"),
            Err(_) => bail!("moto did not become ready within 60 s"),
        }
        // Keep draining stdout so moto never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(MotoServer {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
