//! `tenantctl`: operate tenant onboarding on AWS or on the local stack.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use tenant_domain::{MappingType, TenantId};
use tenant_localstack::stack::{StateDir, serve_foreground};
use tenant_steps::input::cause_message;
use tenantctl::probe::{Outcome, check_isolation};
use tenantctl::{Ops, env_file, onboard, status};

/// Onboard tenants onto AWS with per-tenant Cognito groups and IAM roles, and operate the
/// onboarding workflow.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Read settings (table, pools, state machine, endpoint) from this env file; without
    /// it, the process environment and the default AWS credential chain are used.
    #[arg(long, global = true, env = "TENANTCTL_ENV_FILE")]
    env_file: Option<PathBuf>,
    /// Use the running local stack (same as --env-file <state-dir>/local.env).
    #[arg(long, global = true)]
    local: bool,
    /// Where the local stack keeps its env file, pid and logs.
    #[arg(long, global = true, default_value = ".tenant", env = "TENANTCTL_STATE_DIR")]
    state_dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the product on this machine with no AWS account.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// Start onboarding a tenant and, unless --no-wait, follow it to the end.
    Onboard {
        /// Tenant id: 3–32 lowercase letters, digits and single hyphens, starting with a letter.
        tenant: String,
        /// Display name of the tenant.
        #[arg(long)]
        name: Option<String>,
        /// Contact email of the tenant.
        #[arg(long)]
        email: Option<String>,
        /// Return once the execution has started.
        #[arg(long)]
        no_wait: bool,
        /// Give up following after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Start a new attempt for a FAILED or OFFBOARDED tenant (or resume a PROVISIONING one)
    /// and, unless --no-wait, follow it.
    Retry {
        /// Tenant id.
        tenant: String,
        /// Return once the execution has started.
        #[arg(long)]
        no_wait: bool,
        /// Give up following after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Remove a tenant: mapping rule, role, secret, objects and group; ends OFFBOARDED.
    Offboard {
        /// Tenant id.
        tenant: String,
        /// Keep the tenant's objects under its prefix.
        #[arg(long)]
        keep_prefix: bool,
        /// Days Secrets Manager keeps the secret recoverable (7–30).
        #[arg(long, default_value_t = 7)]
        secret_recovery_days: i64,
        /// When taking over a record whose execution stopped, wait this long after it
        /// stopped: a Lambda it started may still be running.
        #[arg(long, default_value_t = onboard::TAKEOVER_GRACE.as_secs())]
        takeover_grace_seconds: u64,
        /// Return once the execution has started.
        #[arg(long)]
        no_wait: bool,
        /// Give up following after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Rebuild the identity pool's role mapping from the tenants table (after a stack
    /// update reset it, for example).
    Reconcile,
    /// Follow a tenant's current execution step by step until it ends.
    Watch { tenant: String },
    /// Show a tenant's record and what exists for it in AWS right now.
    Status {
        /// Tenant id.
        tenant: String,
    },
    /// List every tenant and its status.
    List,
    /// Compare every tenant-named resource in the account with the tenants table and
    /// report leftovers. Exits 1 if any are found.
    Audit,
    /// Sign a throwaway user of each tenant in, and prove each reaches its own prefix and
    /// secret and is denied on every other tenant's. Exits 1 if isolation does not hold.
    CheckIsolation {
        /// Two or more tenant ids.
        #[arg(num_args = 2.., required = true)]
        tenants: Vec<String>,
    },
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Start moto, the local Lambda endpoint and the bootstrap in the background.
    Up {
        /// Seconds the state machine waits for IAM propagation.
        #[arg(long, default_value_t = 1)]
        iam_wait_seconds: u32,
        /// Role mapping type: rules (≤ 25 tenants) or token.
        #[arg(long, default_value = "rules")]
        mapping_type: MappingType,
    },
    /// Stop the background stack.
    Down,
    /// Print `export` lines that point the aws CLI, boto3 and the SDKs at the stack.
    Env,
    /// Make a step fail for a tenant on the local stack (never possible in AWS).
    Fault {
        /// Tenant id the fault applies to.
        tenant: Option<String>,
        /// Step name, e.g. create-role (see `tenantctl local fault` with no arguments).
        step: Option<String>,
        /// fail-once, fail-always, crash or timeout.
        mode: Option<String>,
        /// Remove every fault.
        #[arg(long)]
        clear: bool,
    },
    /// Run the stack in the foreground until interrupted (what `up` runs).
    #[command(hide = true)]
    Serve {
        #[arg(long, default_value_t = 1)]
        iam_wait_seconds: u32,
        #[arg(long, default_value = "rules")]
        mapping_type: MappingType,
    },
}

fn parse_tenant(raw: &str) -> anyhow::Result<TenantId> {
    TenantId::parse(raw).map_err(|e| anyhow::anyhow!("{e}; nothing was created"))
}

async fn ops(cli: &Cli) -> anyhow::Result<Ops> {
    let file = match (&cli.env_file, cli.local) {
        (Some(p), _) => Some(env_file::read(p)?),
        (None, true) => Some(env_file::read(&StateDir(cli.state_dir.clone()).env_file())?),
        (None, false) => None,
    };
    Ops::from_lookup(|k| {
        file.as_ref()
            .and_then(|f| f.get(k).cloned())
            .or_else(|| std::env::var(k).ok())
    })
    .await
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Local { command } => local(&cli, command).await,
        Command::Onboard {
            tenant,
            name,
            email,
            no_wait,
            timeout,
        } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let started = onboard::start(&ops, &tenant, name.as_deref(), email.as_deref()).await?;
            follow(&cli, &ops, &tenant, started, *no_wait, *timeout).await
        }
        Command::Retry {
            tenant,
            no_wait,
            timeout,
        } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let started = onboard::retry(&ops, &tenant).await?;
            follow(&cli, &ops, &tenant, started, *no_wait, *timeout).await
        }
        Command::Offboard {
            tenant,
            keep_prefix,
            secret_recovery_days,
            takeover_grace_seconds,
            no_wait,
            timeout,
        } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let started = onboard::offboard(
                &ops,
                &tenant,
                *keep_prefix,
                *secret_recovery_days,
                Duration::from_secs(*takeover_grace_seconds),
            )
            .await?;
            follow(&cli, &ops, &tenant, started, *no_wait, *timeout).await
        }
        Command::Watch { tenant } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let arn = onboard::current_execution(&ops, &tenant).await?;
            let json = cli.json;
            let finished = onboard::watch(&ops, &arn, |p| {
                if json {
                    println!("{}", serde_json::to_string(p).unwrap_or_default());
                    return;
                }
                // The states entered and every failure; the scheduling chatter is left out.
                if let Some(state) = &p.state {
                    println!("{:>7.2}s  {state}", p.elapsed);
                } else if let Some(err) = &p.error {
                    let cause = p.cause.as_deref().map(cause_message).unwrap_or_default();
                    println!("{:>7.2}s      x {err}: {cause}", p.elapsed);
                } else if p.event == "ExecutionSucceeded"
                    || p.event == "ExecutionAborted"
                    || p.event == "ExecutionTimedOut"
                {
                    println!("{:>7.2}s  {}", p.elapsed, p.event);
                }
            })
            .await?;
            let st = status::status(&ops, &tenant).await?;
            let state = st
                .record
                .as_ref()
                .map_or("NO RECORD".to_string(), |r| r.status.to_string());
            if !json {
                println!("{tenant}: {state} (execution {})", finished.status);
            }
            Ok(if finished.status == "SUCCEEDED" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Reconcile => {
            let ops = ops(&cli).await?;
            let n = tenant_steps::mapping::reconcile(&ops.ctx, "tenantctl-reconcile").await?;
            if cli.json {
                print_json(&serde_json::json!({ "mapped_tenants": n }))?;
            } else {
                println!("role mapping rebuilt from the table: {n} tenants mapped");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { tenant } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let st = status::status(&ops, &tenant).await?;
            if cli.json {
                return print_json(&st).map(|_| ExitCode::SUCCESS);
            }
            match &st.record {
                None => println!("{tenant}: no record"),
                Some(r) => {
                    println!(
                        "{tenant}: {} (attempt {}, execution {})",
                        r.status, r.attempt, r.execution
                    );
                    if !r.status.is_settled() && !onboard::owner_running(&ops, r).await? {
                        println!(
                            "  STUCK: execution {} has ended but left the record {}",
                            r.execution, r.status
                        );
                        println!(
                            "  next: `tenantctl offboard {tenant}` removes what exists, then `tenantctl retry {tenant}`"
                        );
                    }
                    if !r.remaining.is_empty() {
                        println!("  left behind: {}", r.remaining.join(", "));
                    }
                    if let Some(name) = &r.name {
                        println!("  name:      {name}");
                    }
                    if let (Some(step), Some(err)) = (&r.failed_step, &r.error_name) {
                        println!(
                            "  failed at: {step}: {err}: {}",
                            r.error_message.as_deref().unwrap_or("")
                        );
                    }
                }
            }
            let res = &st.resources;
            let yes = |b: bool| if b { "yes" } else { "no" };
            println!("  group:     {}", yes(res.group));
            println!("  role:      {}", res.role_arn.as_deref().unwrap_or("no"));
            println!("  boundary:  {}", res.role_boundary.as_deref().unwrap_or("no"));
            println!("  policy:    {}", yes(res.inline_policy));
            println!("  secret:    {}", res.secret_arn.as_deref().unwrap_or("no"));
            println!("  objects:   {}", res.prefix_objects);
            println!("  mapped:    {}", yes(res.mapped));
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit => {
            let ops = ops(&cli).await?;
            let findings = tenantctl::audit::audit(&ops).await?;
            if cli.json {
                print_json(&findings)?;
            } else if findings.is_empty() {
                println!("no leftovers: every tenant resource belongs to a tenant that should have it");
            } else {
                for f in &findings {
                    println!("{:<34} {:<60} {}", f.tenant, f.resource, f.detail);
                }
                println!(
                    "{} leftover resource(s); `tenantctl offboard <id>` removes a tenant's",
                    findings.len()
                );
            }
            Ok(if findings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::List => {
            let ops = ops(&cli).await?;
            let records = status::list(&ops).await?;
            if cli.json {
                return print_json(&records).map(|_| ExitCode::SUCCESS);
            }
            println!("{:<34} {:<16} {:>7}  execution", "tenant", "status", "attempt");
            for r in &records {
                println!(
                    "{:<34} {:<16} {:>7}  {}",
                    r.tenant_id,
                    r.status.as_str(),
                    r.attempt,
                    r.execution
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckIsolation { tenants } => {
            let tenants = tenants
                .iter()
                .map(|t| parse_tenant(t))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ops = ops(&cli).await?;
            let checks = check_isolation(&ops, &tenants).await?;
            let failed = checks.iter().filter(|c| !c.holds()).count();
            if cli.json {
                print_json(&checks)?;
            } else {
                println!(
                    "{:<12} {:<12} {:<32} {:<9} {:<9}",
                    "user of", "resource of", "action", "expected", "result"
                );
                for c in &checks {
                    let mark = if c.holds() { "ok" } else { "FAIL" };
                    let show = |o: Outcome| format!("{o:?}").to_lowercase();
                    println!(
                        "{:<12} {:<12} {:<32} {:<9} {:<9} {mark}",
                        c.actor,
                        c.target,
                        c.action,
                        show(c.expected),
                        show(c.actual)
                    );
                    if !c.holds() {
                        println!("    {}", c.detail);
                    }
                }
                let denied = checks.iter().filter(|c| c.actual == Outcome::Denied).count();
                if failed == 0 {
                    println!(
                        "isolation holds: {} checks, {denied} cross-tenant requests denied by IAM",
                        checks.len()
                    );
                } else {
                    println!("ISOLATION DOES NOT HOLD: {failed} of {} checks failed", checks.len());
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Prints the start, or follows the execution to its end and prints the outcome.
async fn follow(
    cli: &Cli,
    ops: &Ops,
    tenant: &TenantId,
    started: onboard::Started,
    no_wait: bool,
    timeout: u64,
) -> anyhow::Result<ExitCode> {
    if no_wait {
        if cli.json {
            print_json(&started)?;
        } else {
            let again = if started.already_running {
                " (already running)"
            } else {
                ""
            };
            println!("started {}{again}: {}", started.execution_name, started.execution_arn);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let finished = onboard::wait(ops, &started.execution_arn, Duration::from_secs(timeout)).await?;
    let st = status::status(ops, tenant).await?;
    if cli.json {
        print_json(&serde_json::json!({ "execution": finished, "tenant": st }))?;
    } else {
        let state = st
            .record
            .as_ref()
            .map_or("NO RECORD".to_string(), |r| r.status.to_string());
        println!(
            "{tenant}: {state} (execution {} {})",
            started.execution_name, finished.status
        );
        if let Some(err) = &finished.error {
            let message = cause_message(finished.cause.as_deref().unwrap_or(""));
            println!("  error: {err}: {message}");
            if let Some(r) = &st.record {
                if let Some(step) = &r.failed_step {
                    println!("  failed step: {step}");
                }
                if !r.remaining.is_empty() {
                    println!("  left behind: {}", r.remaining.join(", "));
                }
            }
            println!(
                "  next: `tenantctl status {tenant}` shows what exists; fix the cause, then `tenantctl retry {tenant}`"
            );
        }
    }
    Ok(if finished.status == "SUCCEEDED" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A minimal HTTP/1.1 exchange with the local Lambda endpoint's fault API (loopback only,
/// so no HTTP client dependency for one call).
async fn local_http(endpoint: &str, method: &str, body: Option<String>) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} /_local/faults HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status_ok = response.starts_with("HTTP/1.1 2");
    let payload = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    if !status_ok {
        bail!("fault API refused: {}", payload.trim());
    }
    Ok(payload)
}

async fn local(cli: &Cli, command: &LocalCommand) -> anyhow::Result<ExitCode> {
    let dir = StateDir(cli.state_dir.clone());
    match command {
        LocalCommand::Serve {
            iam_wait_seconds,
            mapping_type,
        } => {
            let options = tenant_localstack::Options {
                iam_wait_seconds: *iam_wait_seconds,
                mapping_type: *mapping_type,
                ..Default::default()
            };
            serve_foreground(&dir, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Up {
            iam_wait_seconds,
            mapping_type,
        } => {
            if dir.env_file().exists() {
                println!("local stack already up; settings in {}", dir.env_file().display());
                return Ok(ExitCode::SUCCESS);
            }
            std::fs::create_dir_all(&dir.0)?;
            let log = std::fs::File::create(dir.stack_log())?;
            let exe = std::env::current_exe()?;
            let mut child = std::process::Command::new(exe)
                .args(["--state-dir", &dir.0.to_string_lossy(), "local", "serve"])
                .args(["--iam-wait-seconds", &iam_wait_seconds.to_string()])
                .args(["--mapping-type", &format!("{mapping_type:?}").to_lowercase()])
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting the local stack in the background")?;
            let started = std::time::Instant::now();
            while !dir.env_file().exists() {
                if let Some(status) = child.try_wait()? {
                    let log = std::fs::read_to_string(dir.stack_log()).unwrap_or_default();
                    bail!("local stack exited ({status}) before it was ready:\n{log}");
                }
                if started.elapsed() > Duration::from_secs(90) {
                    let _ = child.kill();
                    bail!("local stack not ready after 90 s; see {}", dir.stack_log().display());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            println!(
                "local stack up in {:.1}s; settings in {}",
                started.elapsed().as_secs_f64(),
                dir.env_file().display()
            );
            println!("point the aws CLI at it with: eval \"$(tenantctl local env)\"");
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Down => {
            let Ok(pid) = std::fs::read_to_string(dir.pid_file()) else {
                println!("local stack is not running");
                return Ok(ExitCode::SUCCESS);
            };
            let pid = pid.trim().to_string();
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .context("signalling the local stack")?;
            let started = std::time::Instant::now();
            while dir.pid_file().exists() && started.elapsed() < Duration::from_secs(15) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = std::fs::remove_file(dir.env_file());
            let _ = std::fs::remove_file(dir.pid_file());
            println!("local stack stopped");
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Fault {
            tenant,
            step,
            mode,
            clear,
        } => {
            let vars = env_file::read(&dir.env_file())?;
            let endpoint = vars
                .get("TENANT_LAMBDA_ENDPOINT")
                .context("env file has no TENANT_LAMBDA_ENDPOINT")?;
            if *clear {
                local_http(endpoint, "DELETE", None).await?;
                println!("all faults cleared");
                return Ok(ExitCode::SUCCESS);
            }
            let (Some(tenant), Some(step), Some(mode)) = (tenant, step, mode) else {
                let faults = local_http(endpoint, "GET", None).await?;
                println!("{faults}");
                return Ok(ExitCode::SUCCESS);
            };
            let mode: tenant_localstack::lambda_endpoint::FaultMode =
                mode.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            if tenant_steps::Step::from_name(step).is_none() {
                let names: Vec<_> = tenant_steps::Step::ALL.iter().map(|s| s.name()).collect();
                bail!("unknown step {step:?}; one of: {}", names.join(", "));
            }
            let body = serde_json::json!({ "tenant": tenant, "step": step, "mode": mode }).to_string();
            local_http(endpoint, "PUT", Some(body)).await?;
            println!(
                "fault set: {step} will {} for tenant {tenant}",
                serde_json::to_value(mode)?.as_str().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Env => {
            let vars = env_file::read(&dir.env_file())?;
            let mut keys: Vec<_> = vars.keys().collect();
            keys.sort();
            for k in keys {
                println!("export {k}={}", vars[k]);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
