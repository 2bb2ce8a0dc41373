//! Cold init: from process start until the first Runtime API poll
//! (`GET /2018-06-01/runtime/invocation/next`), under a minimal Runtime API stand-in on
//! loopback, for each deployment binary and for a Python process creating the same boto3
//! clients; peak RSS of each from `/proc/<pid>/status` (`VmHWM`) at the moment it polls.

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

#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    pub name: String,
    pub init_ms: Summary,
    pub peak_rss_kib: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdInit {
    pub runs: usize,
    pub python: Subject,
    pub functions: Vec<Subject>,
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

/// Runs every function binary and the Python baseline `runs` times each, interleaved so
/// that whatever else the machine does affects both alike.
pub async fn measure(
    bins: &[(String, PathBuf)],
    python: &Path,
    runs: usize,
    scratch: &Path,
) -> anyhow::Result<ColdInit> {
    let mut api = RuntimeApi::start().await?;
    let home = scratch.join("home");
    std::fs::create_dir_all(&home)?;
    let mut py = (vec![], vec![]);
    let mut per_fn: Vec<(Vec<f64>, Vec<f64>)> = bins.iter().map(|_| (vec![], vec![])).collect();
    for run in 0..runs {
        let env = lambda_env(api.addr, "python-baseline", &home);
        let (ms, rss) = run_once(&mut api, python, &["-c", PYTHON_INIT], &env).await?;
        py.0.push(ms);
        py.1.push(rss as f64);
        for ((name, bin), acc) in bins.iter().zip(per_fn.iter_mut()) {
            let mut env = lambda_env(api.addr, name, &home);
            // The step binary serves all 17 Task functions; rotate through them.
            let step = Step::ALL[run % Step::ALL.len()];
            env.push((tenant_steps::lambda::STEP_ENV.to_string(), step.name().to_string()));
            let (ms, rss) = run_once(&mut api, bin, &[], &env).await?;
            acc.0.push(ms);
            acc.1.push(rss as f64);
        }
    }
    Ok(ColdInit {
        runs,
        python: Subject {
            name: "python + boto3 (7 clients)".into(),
            init_ms: Summary::of(&py.0),
            peak_rss_kib: Summary::of(&py.1),
        },
        functions: bins
            .iter()
            .zip(per_fn)
            .map(|((name, _), (ms, rss))| Subject {
                name: name.clone(),
                init_ms: Summary::of(&ms),
                peak_rss_kib: Summary::of(&rss),
            })
            .collect(),
    })
}
