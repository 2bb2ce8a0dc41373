//! The local stack as a background process (`tenantctl local up` / `down`): started as a
//! child running `local serve`, ready when its env file appears, stopped by its PID file.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::stack::StateDir;

/// How long `up` waits for the env file before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `down` waits for the stack to remove its PID file.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// What `up` found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Up {
    /// A stack's env file was already there.
    AlreadyUp,
    /// Started; ready after this long.
    Started(Duration),
}

/// Starts `exe args` (the `local serve` command) in the background with its output in the
/// stack log, and waits until it wrote the env file.
pub async fn up(dir: &StateDir, exe: &std::path::Path, args: Vec<OsString>) -> anyhow::Result<Up> {
    if dir.env_file().exists() {
        return Ok(Up::AlreadyUp);
    }
    std::fs::create_dir_all(&dir.0)?;
    let log = std::fs::File::create(dir.stack_log())?;
    let mut child = std::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the local stack in the background")?;
    let started = Instant::now();
    while !dir.env_file().exists() {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(dir.stack_log()).unwrap_or_default();
            bail!("local stack exited ({status}) before it was ready:\n{log}");
        }
        if started.elapsed() > READY_TIMEOUT {
            let _ = child.kill();
            bail!(
                "local stack not ready after {} s; see {}",
                READY_TIMEOUT.as_secs(),
                dir.stack_log().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Up::Started(started.elapsed()))
}

/// Stops the background stack. `false`: there was no PID file (nothing running).
pub async fn down(dir: &StateDir) -> anyhow::Result<bool> {
    let Ok(pid) = std::fs::read_to_string(dir.pid_file()) else {
        return Ok(false);
    };
    let pid = pid.trim().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .context("signalling the local stack")?;
    let started = Instant::now();
    while dir.pid_file().exists() && started.elapsed() < STOP_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_file(dir.env_file());
    let _ = std::fs::remove_file(dir.pid_file());
    Ok(true)
}
