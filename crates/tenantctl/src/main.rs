//! `tenantctl`: operate tenant onboarding on AWS or on the local stack.

mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use tenant_domain::{MappingType, TenantId};
use tenant_localstack::stack::{StateDir, serve_foreground};
use tenant_steps::input::cause_message;
use tenantctl::isolation::{Access, check_isolation};
use tenantctl::{Ops, env_file, onboard, status};

/// Onboard tenants onto AWS with per-tenant Cognito groups and IAM roles, and operate the
/// onboarding workflow.
#[derive(Parser)]
#[command(version, after_help = EXIT_CODES)]
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
    /// Follow a tenant's current execution step by step (duration, retries) until it
    /// ends; on failure, print the failed step, the error and the command to run next.
    /// Exits 0 if it succeeded, 1 if not, 6 if still running at --timeout.
    Watch {
        /// Tenant id.
        tenant: String,
        /// Give up following after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Show a tenant's record, its attempts, the timeline of its current or last
    /// execution, and what exists for it in AWS right now. Exits 1 if the tenant needs an
    /// operator (FAILED, ROLLBACK_FAILED or stuck), 3 if unknown.
    Status {
        /// Tenant id.
        tenant: String,
    },
    /// List tenants: filtered by status and age, sorted, paged; with counts per status.
    List {
        /// Only tenants in this status (repeatable), e.g. --status failed --status rollback-failed.
        #[arg(long = "status", value_parser = render::parse_status)]
        statuses: Vec<tenant_domain::Status>,
        /// Only tenants last updated at least this long ago, e.g. 15m, 2h, 3days.
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Option<Duration>,
        /// Only tenants last updated at most this long ago.
        #[arg(long, value_parser = humantime::parse_duration)]
        newer_than: Option<Duration>,
        /// Order of the list.
        #[arg(long, value_enum, default_value = "updated")]
        sort: tenantctl::listing::SortBy,
        /// Tenants per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Continue after the previous page (its `next_page_token`).
        #[arg(long)]
        page_token: Option<String>,
    },
    /// Compare the account with the tenants table and the current templates: orphans and
    /// leftovers in the tenants' namespace, and drift of every ACTIVE tenant's role
    /// (trust, policy, boundary, tags), group, secret, prefix marker and mapping rule.
    /// Exit codes: 0 clean, 1 findings, 4 the audit could not complete.
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
        /// The SAM template whose function roles the steps run under (default: the
        /// repository's template.yaml): try a template change before deploying it.
        #[arg(long)]
        template: Option<PathBuf>,
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
        #[arg(long)]
        template: Option<PathBuf>,
    },
}

/// Exit codes are part of the interface: scripts branch on them (see `tenantctl::exit::Exit`).
const EXIT_CODES: &str = "Exit codes: 0 ok; 1 the outcome is bad (onboarding FAILED/ROLLBACK_FAILED, \
a tenant needing an operator, audit findings, isolation broken); 2 usage or invalid tenant id; \
3 tenant or execution not found; 4 AWS or environment error; 5 refused by the tenant's state; \
6 still running when --timeout passed. With --json, errors are a JSON object on stdout.";

fn parse_tenant(raw: &str) -> anyhow::Result<TenantId> {
    TenantId::parse(raw).map_err(|e| {
        tenantctl::exit::CliError::new(
            tenantctl::exit::Exit::Usage,
            Some(raw),
            format!("{e}; nothing was created"),
        )
        .into()
    })
}

/// The same checks the workflow applies to `--name` and `--email`, before any AWS call.
fn check_contact(tenant: &TenantId, name: Option<&str>, email: Option<&str>) -> anyhow::Result<()> {
    name.map_or(Ok(()), tenant_domain::contact::check_name)
        .and(email.map_or(Ok(()), tenant_domain::contact::check_email))
        .map_err(|e| {
            let message = format!("tenant {tenant}: {e}; nothing was created");
            tenantctl::exit::CliError::new(tenantctl::exit::Exit::Usage, Some(tenant.as_str()), message).into()
        })
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
            check_contact(&tenant, name.as_deref(), email.as_deref())?;
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
        Command::Watch { tenant, timeout } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            render::watch(&ops, &tenant, cli.json, Duration::from_secs(*timeout)).await
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
            render::status(&ops, &tenant, cli.json).await
        }
        Command::Audit => {
            let ops = ops(&cli).await?;
            let findings = match tenantctl::audit::audit(&ops).await {
                Ok(f) => f,
                Err(e) => {
                    let message = format!("audit could not complete: {e:#}; nothing was changed");
                    return Err(
                        tenantctl::exit::CliError::new(tenantctl::exit::Exit::Environment, None, message)
                            .next("check the endpoint and credentials, then run `tenantctl audit` again")
                            .into(),
                    );
                }
            };
            if cli.json {
                print_json(&findings)?;
            } else if findings.is_empty() {
                println!(
                    "clean: every tenant resource belongs to a tenant that should have it, and every ACTIVE tenant matches the templates"
                );
            } else {
                for f in &findings {
                    let kind = serde_json::to_value(f.kind)?;
                    println!(
                        "{:<34} {:<8} {} — {}",
                        f.tenant,
                        kind.as_str().unwrap_or_default(),
                        f.resource,
                        f.detail
                    );
                    if let Some(e) = &f.expected {
                        println!("{:<43} expected: {e}", "");
                    }
                    if let Some(found) = &f.found {
                        println!("{:<43} found:    {found}", "");
                    }
                }
                println!(
                    "{} finding(s). next: drift — restore the expected value, or `tenantctl offboard <id>` then `tenantctl retry <id>`; a missing mapping rule — `tenantctl reconcile`; an orphan of a tenant — `tenantctl offboard <id>`; of no tenant — delete it by hand",
                    findings.len()
                );
            }
            // Anything that could not be read is the environment's failure (exit 4).
            let unreadable = findings.iter().any(|f| f.kind == tenantctl::audit::Kind::Unavailable);
            Ok(if findings.is_empty() {
                ExitCode::SUCCESS
            } else if unreadable {
                ExitCode::from(tenantctl::exit::Exit::Environment.code())
            } else {
                ExitCode::FAILURE
            })
        }
        Command::List {
            statuses,
            older_than,
            newer_than,
            sort,
            limit,
            page_token,
        } => {
            let ops = ops(&cli).await?;
            let query = tenantctl::listing::Query {
                statuses: statuses.clone(),
                older_than: *older_than,
                newer_than: *newer_than,
                sort: *sort,
                limit: *limit,
                page_token: page_token.clone(),
            };
            render::list(&ops, &query, cli.json).await
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
                    "{:<12} {:<12} {:<32} {:<11} {:<11}",
                    "user of", "resource of", "action", "expected", "result"
                );
                for c in &checks {
                    let mark = if c.holds() { "ok" } else { "FAIL" };
                    let show = |o: Access| format!("{o:?}").to_lowercase();
                    println!(
                        "{:<12} {:<12} {:<32} {:<11} {:<11} {mark}",
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
                let denied = checks.iter().filter(|c| c.actual == Access::Denied).count();
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
            template,
        } => {
            let options = tenant_localstack::Options {
                iam_wait_seconds: *iam_wait_seconds,
                mapping_type: *mapping_type,
                template: template.clone(),
                ..Default::default()
            };
            // The stack's log gets each step's EMF line, as CloudWatch would.
            tenant_steps::metrics::enable();
            serve_foreground(&dir, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Up {
            iam_wait_seconds,
            mapping_type,
            template,
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
                .args(template.iter().flat_map(|t| {
                    [
                        std::ffi::OsString::from("--template"),
                        std::path::absolute(t).unwrap_or_else(|_| t.clone()).into_os_string(),
                    ]
                }))
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
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(code) => code,
        Err(e) => render::error(&e, json),
    }
}
