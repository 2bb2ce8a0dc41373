//! Cold init: from process start until the first Runtime API poll
//! (`GET /2018-06-01/runtime/invocation/next`), under a minimal Runtime API stand-in on
//! loopback, for each deployment binary, for the floor (a no-op Lambda on the same
//! runtime and release profile), and for the peers: a Python process creating the same
//! boto3 clients and a Node.js process creating the same AWS SDK v3 clients; peak RSS of
//! each from `/proc/<pid>/status` (`VmHWM`) at the moment it polls.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::routing::get;
use serde::Serialize;
use tenant_domain::MappingType;
use tenant_steps::{Settings, Step};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::stats::Summary;

pub const PYTHON_INIT: &str = include_str!("../python/boto3_init.py");
/// The Node.js peer's script, run from its directory (next to its `node_modules`).
pub const NODE_INIT: &str = "init.mjs";

#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    pub name: String,
    pub init_ms: Summary,
    pub peak_rss_kib: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdInit {
    pub runs: usize,
    /// The no-op Rust Lambda: the upper bound of what init can be on this runtime.
    pub floor: Subject,
    pub python: Subject,
    pub node: Subject,
    pub functions: Vec<Subject>,
}

/// What the cold-init part starts besides the function binaries.
pub struct Peers<'a> {
    /// The floor's `bootstrap`, extracted from its zip.
    pub floor: &'a Path,
    pub python: &'a Path,
    pub node: &'a Path,
    /// Holds `init.mjs` and its `node_modules`.
    pub node_dir: &'a Path,
}

/// The stand-in: records when each poll arrives and never answers it (the process is
/// killed once measured).
struct RuntimeApi {
    addr: SocketAddr,
    polls: mpsc::UnboundedReceiver<Instant>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    async fn start() -> anyhow::Result<RuntimeApi> {
        let (tx, polls) = mpsc::unbounded_channel();
        let app = Router::new().route(
            "/2018-06-01/runtime/invocation/next",
            get(move || {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(Instant::now());
                    std::future::pending::<&'static str>().await
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the Runtime API stand-in")?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi { addr, polls, server })
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What a Lambda function's environment holds, with dummy credentials and settings: the
/// binaries only read them at init.
fn lambda_env(api: SocketAddr, function: &str, home: &Path) -> Vec<(String, String)> {
    let settings = Settings {
        table: "tenants".into(),
        bucket: "tenant-data".into(),
        user_pool_id: "us-east-1_Bench".into(),
        user_pool_client_id: "benchclient".into(),
        identity_pool_id: "us-east-1:00000000-0000-0000-0000-000000000000".into(),
        boundary_arn: "arn:aws:iam::123456789012:policy/tenant-permissions-boundary".into(),
        mapping_type: MappingType::Rules,
        partition: "aws".into(),
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        event_bus: "tenant-events".into(),
        verify: true,
        propagation_budget_seconds: tenant_steps::config::DEFAULT_PROPAGATION_BUDGET_SECONDS,
        tenant_template: Default::default(),
        signup_lifetime_seconds: tenant_steps::config::DEFAULT_SIGNUP_LIFETIME_SECONDS,
        signup_limit_per_email: tenant_steps::config::DEFAULT_SIGNUP_LIMIT_PER_EMAIL,
        signup_limit_per_source: tenant_steps::config::DEFAULT_SIGNUP_LIMIT_PER_SOURCE,
    };
    let mut env: Vec<(String, String)> = settings.to_env().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for (k, v) in [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCH".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_SESSION_TOKEN", "bench".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        (
            tenant_steps::config::env::STATE_MACHINE_ARN,
            "arn:aws:states:us-east-1:123456789012:stateMachine:tenant-onboarding".into(),
        ),
        // An empty home: neither side reads the caller's AWS profile.
        ("HOME", home.display().to_string()),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ] {
        env.push((k.to_string(), v));
    }
    env
}

fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<pid>/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}

/// One cold start: spawn, wait for the first poll, read the peak RSS, kill.
async fn run_once(
    api: &mut RuntimeApi,
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
) -> anyhow::Result<(f64, u64)> {
    while api.polls.try_recv().is_ok() {}
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id().context("child has no pid")?;
    let polled = tokio::select! {
        p = api.polls.recv() => p.context("Runtime API stand-in stopped")?,
        status = child.wait() => {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err).await;
            }
            bail!("{} exited ({}) before polling the Runtime API: {}", program.display(), status?, err.trim());
        }
        _ = tokio::time::sleep(Duration::from_secs(60)) => bail!("{} did not poll within 60 s", program.display()),
    };
    let rss = peak_rss_kib(pid)?;
    child.kill().await.ok();
    Ok(((polled - started).as_secs_f64() * 1000.0, rss))
}

/// Node's major version (`node --version` prints `v20.20.2`); the peer needs ≥ 20.
pub fn node_major(version: &str) -> Option<u32> {
    version.trim().strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// Samples of one subject.
#[derive(Default)]
struct Samples {
    ms: Vec<f64>,
    rss: Vec<f64>,
}

impl Samples {
    fn push(&mut self, (ms, rss): (f64, u64)) {
        self.ms.push(ms);
        self.rss.push(rss as f64);
    }

    fn subject(&self, name: &str) -> Subject {
        Subject {
            name: name.to_string(),
            init_ms: Summary::of(&self.ms),
            peak_rss_kib: Summary::of(&self.rss),
        }
    }
}

/// Runs every function binary, the floor and both peers `runs` times each, interleaved
/// so that whatever else the machine does affects all alike.
pub async fn measure(
    bins: &[(String, PathBuf)],
    peers: &Peers<'_>,
    runs: usize,
    scratch: &Path,
) -> anyhow::Result<ColdInit> {
    let version = std::process::Command::new(peers.node)
        .arg("--version")
        .output()
        .with_context(|| {
            format!(
                "running {} --version (install Node.js ≥ 20, or pass --node)",
                peers.node.display()
            )
        })?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    match node_major(&version) {
        Some(major) if major >= 20 => {}
        _ => bail!(
            "the Node.js peer needs Node.js ≥ 20; {} is {version:?}",
            peers.node.display()
        ),
    }
    let node_script = peers.node_dir.join(NODE_INIT);
    if !peers.node_dir.join("node_modules/@aws-sdk/client-iam").is_dir() {
        bail!(
            "{} has no node_modules: run `npm ci` there (make bench does)",
            peers.node_dir.display()
        );
    }
    let node_script = node_script
        .to_str()
        .context("node script path is not UTF-8")?
        .to_string();
    let mut api = RuntimeApi::start().await?;
    let home = scratch.join("home");
    std::fs::create_dir_all(&home)?;
    let (mut floor, mut py, mut node) = (Samples::default(), Samples::default(), Samples::default());
    let mut per_fn: Vec<Samples> = bins.iter().map(|_| Samples::default()).collect();
    for run in 0..runs {
        let env = lambda_env(api.addr, "floor", &home);
        floor.push(run_once(&mut api, peers.floor, &[], &env).await?);
        let env = lambda_env(api.addr, "python-baseline", &home);
        py.push(run_once(&mut api, peers.python, &["-c", PYTHON_INIT], &env).await?);
        let env = lambda_env(api.addr, "node-baseline", &home);
        node.push(run_once(&mut api, peers.node, &[&node_script], &env).await?);
        for ((name, bin), acc) in bins.iter().zip(per_fn.iter_mut()) {
            let mut env = lambda_env(api.addr, name, &home);
            // The step binary serves all 17 Task functions; rotate through them.
            let step = Step::ALL[run % Step::ALL.len()];
            env.push((tenant_steps::lambda::STEP_ENV.to_string(), step.name().to_string()));
            acc.push(run_once(&mut api, bin, &[], &env).await?);
        }
    }
    Ok(ColdInit {
        runs,
        floor: floor.subject("floor (no-op lambda_runtime)"),
        python: py.subject("python + boto3 (7 clients)"),
        node: node.subject(&format!("node {version} + SDK v3 (7 clients)")),
        functions: bins.iter().zip(per_fn).map(|((name, _), s)| s.subject(name)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions() {
        assert_eq!(node_major("v20.20.2\n"), Some(20));
        assert_eq!(node_major("v22.1.0"), Some(22));
        assert_eq!(node_major("20.1.0"), None);
        assert_eq!(node_major(""), None);
    }
}
