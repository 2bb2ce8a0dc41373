//! The local stack as a background process (`tenantctl local up` / `down`): started as a
//! child running `local serve`, ready when its env file appears, stopped by its PID file.
//! A PID file is trusted only while that process is alive and is the stack (or moto):
//! after a crash the files stay behind and the PID may belong to anyone by now.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::stack::StateDir;

/// How long `up` waits for the env file before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `down` waits for a process to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// What the serving process's command line contains (`tenantctl ... local serve`).
const SERVE_MARK: &str = "local serve";
/// What moto's command line contains (`python -m tenant_moto ...`).
const MOTO_MARK: &str = "tenant_moto";

/// What `up` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Up {
    /// A live stack owns this state directory.
    AlreadyUp { pid: u32 },
    /// Started; ready after this long. `stale` names what a dead earlier stack left behind
    /// and was cleaned up first.
    Started { took: Duration, stale: Option<Stale> },
}

/// What `down` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    /// No PID file and no emulator: nothing was running.
    NotRunning,
    /// The serving process was stopped (and its emulator with it).
    Stopped { pid: u32 },
    /// The serving process was already gone; its files were removed and an emulator it left
    /// running was stopped.
    Stale(Stale),
}

/// What a serving process that died left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The PID in its PID file (not running, or not the stack any more).
    pub pid: Option<u32>,
    /// The emulator it left running, now stopped.
    pub moto_stopped: Option<u32>,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "the stack's process {pid} is not running")?,
            None => write!(f, "the stack left its files but no PID")?,
        }
        match self.moto_stopped {
            Some(pid) => write!(f, "; its emulator (moto, pid {pid}) was still running and was stopped"),
            None => Ok(()),
        }
    }
}

/// The command line of a live process, None if there is none (or it is a zombie, whose
/// command line is empty). `ps` rather than /proc so this also holds on macOS.
fn command_line(pid: u32) -> Option<String> {
    let out = std::process::Command::new("ps")
        .args(["-o", "command=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !line.is_empty() && !line.contains("<defunct>")).then_some(line)
}

/// Whether `pid` is alive and its command line contains `mark`.
pub fn alive_and_ours(pid: u32, mark: &str) -> bool {
    command_line(pid).is_some_and(|c| c.contains(mark))
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn signal(pid: u32, sig: &str) -> anyhow::Result<()> {
    std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .with_context(|| format!("signalling process {pid}"))?;
    Ok(())
}

/// SIGTERM, then SIGKILL if `pid` is still ours after the timeout.
async fn stop(pid: u32, mark: &str) -> anyhow::Result<()> {
    signal(pid, "-TERM")?;
    let started = Instant::now();
    while alive_and_ours(pid, mark) {
        if started.elapsed() > STOP_TIMEOUT {
            signal(pid, "-KILL")?;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Removes a dead stack's files and stops the emulator it left running.
async fn clean_stale(dir: &StateDir, pid: Option<u32>) -> anyhow::Result<Stale> {
    let moto = read_pid(&dir.moto_pid_file()).filter(|p| alive_and_ours(*p, MOTO_MARK));
    if let Some(moto) = moto {
        stop(moto, MOTO_MARK).await?;
    }
    remove_files(dir);
    Ok(Stale {
        pid,
        moto_stopped: moto,
    })
}

fn remove_files(dir: &StateDir) {
    for f in [dir.env_file(), dir.pid_file(), dir.moto_pid_file()] {
        let _ = std::fs::remove_file(f);
    }
}

/// The live stack of this state directory: its PID if the PID file names a running
/// `local serve`.
fn live(dir: &StateDir) -> Option<u32> {
    read_pid(&dir.pid_file()).filter(|p| alive_and_ours(*p, SERVE_MARK))
}

/// Starts `exe args` (the `local serve` command) in the background with its output in the
/// stack log, and waits until it wrote the env file. A dead earlier stack's files (and
/// emulator) are cleaned up first.
pub async fn up(dir: &StateDir, exe: &Path, args: Vec<OsString>) -> anyhow::Result<Up> {
    let mut stale = None;
    if dir.env_file().exists() || dir.pid_file().exists() {
        if let Some(pid) = live(dir) {
            return Ok(Up::AlreadyUp { pid });
        }
        stale = Some(clean_stale(dir, read_pid(&dir.pid_file())).await?);
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
    Ok(Up::Started {
        took: started.elapsed(),
        stale,
    })
}

/// Stops the background stack, or cleans up after one that died. Never signals a PID that
/// is not (any more) the stack or its emulator.
pub async fn down(dir: &StateDir) -> anyhow::Result<Down> {
    if let Some(pid) = live(dir) {
        stop(pid, SERVE_MARK).await?;
        // A serving process that exits on SIGTERM stops moto itself; one that had to be
        // killed did not.
        clean_stale(dir, Some(pid)).await?;
        return Ok(Down::Stopped { pid });
    }
    let pid = read_pid(&dir.pid_file());
    if pid.is_none() && !dir.env_file().exists() && read_pid(&dir.moto_pid_file()).is_none() {
        return Ok(Down::NotRunning);
    }
    Ok(Down::Stale(clean_stale(dir, pid).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live process is recognised by its command line; once it exited (and was reaped)
    /// it is not, so its PID is never signalled again.
    #[test]
    fn a_pid_is_ours_only_while_alive_with_our_command_line() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        assert!(alive_and_ours(pid, "sleep"));
        assert!(!alive_and_ours(pid, MOTO_MARK));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!alive_and_ours(pid, "sleep"));
    }

    /// Files left by a stack whose process is gone are cleaned up and reported as stale,
    /// naming the dead PID; nothing is signalled.
    #[tokio::test]
    async fn down_after_a_crash_cleans_up_without_signalling_a_stale_pid() {
        let dir = StateDir(std::env::temp_dir().join(format!("tenant-bg-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let dead = child.id();
        child.kill().unwrap();
        child.wait().unwrap();
        std::fs::write(dir.pid_file(), dead.to_string()).unwrap();
        std::fs::write(dir.env_file(), "AWS_ENDPOINT_URL=http://127.0.0.1:1\n").unwrap();
        assert_eq!(
            down(&dir).await.unwrap(),
            Down::Stale(Stale {
                pid: Some(dead),
                moto_stopped: None
            })
        );
        assert!(!dir.env_file().exists() && !dir.pid_file().exists());
        assert_eq!(down(&dir).await.unwrap(), Down::NotRunning);
        let _ = std::fs::remove_dir_all(&dir.0);
    }
}
