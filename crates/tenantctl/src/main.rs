//! `tenantctl`: operate tenant onboarding on AWS or on the local stack. Parses the command
//! line (`cli`), calls the library, and prints through `render`.

mod cli;
mod render;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use cli::{Cli, Command, LocalCommand, RolloutCommand};
use tenant_domain::TenantId;
use tenant_localstack::stack::{StateDir, serve_foreground};
use tenant_localstack::{background, fault_api};
use tenantctl::isolation::check_isolation;
use tenantctl::outln;
use tenantctl::{Ops, env_file, onboard};

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

/// The same checks the workflow applies to `--company-name` and `--admin-email`, before any
/// AWS call.
fn check_contact(tenant: &TenantId, company_name: Option<&str>, admin_email: Option<&str>) -> anyhow::Result<()> {
    company_name
        .map_or(Ok(()), tenant_domain::contact::check_company_name)
        .and(admin_email.map_or(Ok(()), tenant_domain::contact::check_admin_email))
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

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Local { command } => local(&cli, command).await,
        Command::Onboard {
            tenant,
            company_name,
            admin_email,
            no_wait,
            timeout,
        } => {
            let tenant = parse_tenant(tenant)?;
            check_contact(&tenant, company_name.as_deref(), admin_email.as_deref())?;
            let ops = ops(&cli).await?;
            let started = onboard::start(&ops, &tenant, company_name.as_deref(), admin_email.as_deref()).await?;
            render::follow(cli.json, &ops, &tenant, started, *no_wait, *timeout).await
        }
        Command::Retry {
            tenant,
            no_wait,
            timeout,
        } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let started = onboard::retry(&ops, &tenant).await?;
            render::follow(cli.json, &ops, &tenant, started, *no_wait, *timeout).await
        }
        Command::Approve {
            tenant,
            no_wait,
            timeout,
        } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let started = onboard::approve(&ops, &tenant).await?;
            render::follow(cli.json, &ops, &tenant, started, *no_wait, *timeout).await
        }
        Command::Reject { tenant } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let rejected = onboard::reject(&ops, &tenant).await?;
            if cli.json {
                render::print_json(&rejected)?;
            } else {
                outln!("{}", rejected.message);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Offboard {
            tenant,
            keep_prefix,
            delete_data,
            secret_recovery_days,
            takeover_grace_seconds,
            no_wait,
            timeout,
        } => {
            let tenant = parse_tenant(tenant)?;
            if !*keep_prefix && !*delete_data {
                // Offboarding deletes customer data only when told to, whatever advice
                // or habit led here; nothing has been done yet.
                return Err(tenantctl::exit::CliError::new(
                    tenantctl::exit::Exit::Usage,
                    Some(tenant.as_str()),
                    format!(
                        "offboarding {tenant} would delete every object under its prefix tenants/{tenant}/; say which: \
                         `tenantctl offboard {tenant} --keep-prefix` keeps them (a later `retry` finds them again), \
                         `--delete-data` deletes them for good; nothing was changed"
                    ),
                )
                .into());
            }
            let ops = ops(&cli).await?;
            let started = onboard::offboard(
                &ops,
                &tenant,
                *keep_prefix,
                *secret_recovery_days,
                Duration::from_secs(*takeover_grace_seconds),
            )
            .await?;
            render::follow(cli.json, &ops, &tenant, started, *no_wait, *timeout).await
        }
        Command::Watch { tenant, timeout } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            render::watch(&ops, &tenant, cli.json, Duration::from_secs(*timeout)).await
        }
        Command::Reconcile { force } => {
            let ops = ops(&cli).await?;
            let done = tenantctl::reconcile::reconcile(&ops, *force).await?;
            render::reconciled(&done, cli.json)
        }
        Command::Migrate {
            to,
            max,
            shared_role,
            status,
        } => {
            let ops = ops(&cli).await?;
            let exit = match (to, status) {
                (Some(to), false) => {
                    let req = tenantctl::migrate::Request {
                        to: *to,
                        max: *max,
                        shared_role: shared_role.clone(),
                    };
                    let done = tenantctl::migrate::migrate(&ops, &req).await?;
                    tenantctl::migrate::report(&done, cli.json)?
                }
                _ => {
                    let p = tenantctl::migrate::status(&ops).await?;
                    tenantctl::migrate::report_status(p.as_ref(), cli.json)?
                }
            };
            Ok(ExitCode::from(exit.code()))
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
            render::audit(&findings, cli.json)
        }
        Command::List {
            statuses,
            older_than,
            newer_than,
            sort,
            limit,
            page_token,
            template_version,
            behind,
        } => {
            let ops = ops(&cli).await?;
            let query = tenantctl::listing::Query {
                statuses: statuses.clone(),
                older_than: *older_than,
                newer_than: *newer_than,
                sort: *sort,
                limit: *limit,
                page_token: page_token.clone(),
                template_version: template_version.clone(),
                behind: *behind,
            };
            render::list(&ops, &query, cli.json).await
        }
        Command::Repair { tenant } => {
            let tenant = parse_tenant(tenant)?;
            let ops = ops(&cli).await?;
            let repaired = tenantctl::repair::repair(&ops, &tenant).await?;
            render::repaired(&repaired, cli.json)
        }
        Command::Rollout { command } => {
            let ops = ops(&cli).await?;
            match command {
                RolloutCommand::Plan => {
                    let plan = tenantctl::plan::plan(&ops).await?;
                    render::plan(&plan, cli.json)
                }
                RolloutCommand::Start {
                    canary,
                    waves,
                    max_failures,
                    concurrency,
                    max_tenants,
                    wait,
                } => {
                    let shape = tenantctl::rollout::Shape {
                        canary: *canary,
                        sizes: waves.0.clone(),
                        max_failures: *max_failures,
                        concurrency: usize::from(*concurrency),
                    };
                    let started = tenantctl::rollout::start(&ops, &shape, usize::from(*max_tenants)).await?;
                    render::rollout_started(&ops, &started, wait, cli.json).await
                }
                RolloutCommand::Resume { wait } => {
                    let started = tenantctl::rollout::resume(&ops).await?;
                    render::rollout_started(&ops, &started, wait, cli.json).await
                }
                RolloutCommand::Status => {
                    let report = tenantctl::rollout::status(&ops).await?;
                    render::rollout_status(report.as_ref(), cli.json)
                }
                RolloutCommand::Watch { timeout } => match tenantctl::rollout::status(&ops).await? {
                    Some(report) => render::rollout_follow(&ops, &report.rollout.rollout_id, *timeout, cli.json).await,
                    None => render::rollout_status(None, cli.json),
                },
                RolloutCommand::Abort => {
                    let aborted = tenantctl::rollout::abort(&ops).await?;
                    render::rollout_aborted(&aborted, cli.json)
                }
            }
        }
        Command::CheckIsolation { tenants, user } => {
            let tenants = tenants
                .iter()
                .map(|t| parse_tenant(t))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let usage = |message: &str| -> anyhow::Error {
                tenantctl::exit::CliError::new(tenantctl::exit::Exit::Usage, None, message.to_string()).into()
            };
            let checks = match user {
                None if tenants.len() < 2 => {
                    return Err(usage("check-isolation needs two or more tenant ids (or --user)"));
                }
                None => check_isolation(&ops(&cli).await?, &tenants).await?,
                Some(user) => {
                    // Never a flag: a password on the command line is visible to every
                    // process on the machine.
                    let password = std::env::var("TENANTCTL_USER_PASSWORD")
                        .map_err(|_| usage("--user needs the user's password in TENANTCTL_USER_PASSWORD"))?;
                    let ops = ops(&cli).await?;
                    let targets = if tenants.is_empty() {
                        tenant_steps::record::list(&ops.ctx)
                            .await?
                            .into_iter()
                            .filter(|r| r.status == tenant_domain::Status::Active)
                            .filter_map(|r| TenantId::parse(&r.tenant_id).ok())
                            .collect()
                    } else {
                        tenants
                    };
                    tenantctl::isolation::check_user(&ops, user, &password, &targets).await?
                }
            };
            render::isolation(&checks, cli.json)
        }
    }
}

impl cli::StackArgs {
    /// The local stack's options, every flag checked.
    fn options(&self) -> anyhow::Result<tenant_localstack::Options> {
        Ok(tenant_localstack::Options {
            iam_wait_seconds: self.iam_wait_seconds,
            mapping_type: self.mapping_type,
            template: self.template.clone(),
            signup_mode: tenant_steps::signup::Mode::parse(&self.signup_mode)?,
            signup_lifetime_seconds: self.signup_lifetime_seconds,
            signup_limit_per_email: self.signup_limit_per_email,
            signup_limit_per_source: self.signup_limit_per_source,
            tenant_template: read_tenant_template(self.tenant_template.as_deref())?,
            rate_limits: !self.no_rate_limits,
            propagation_budget_seconds: self.propagation_budget_seconds,
            ..Default::default()
        })
    }

    /// The same flags for the `serve` process, paths made absolute.
    fn serve_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--iam-wait-seconds".into(), self.iam_wait_seconds.to_string().into()];
        args.push("--mapping-type".into());
        args.push(format!("{:?}", self.mapping_type).to_lowercase().into());
        args.push("--signup-mode".into());
        args.push(self.signup_mode.clone().into());
        args.push("--signup-lifetime-seconds".into());
        args.push(self.signup_lifetime_seconds.to_string().into());
        args.push("--signup-limit-per-email".into());
        args.push(self.signup_limit_per_email.to_string().into());
        args.push("--signup-limit-per-source".into());
        args.push(self.signup_limit_per_source.to_string().into());
        if self.no_rate_limits {
            args.push("--no-rate-limits".into());
        }
        args.push("--propagation-budget-seconds".into());
        args.push(self.propagation_budget_seconds.to_string().into());
        for (flag, path) in [
            ("--template", &self.template),
            ("--tenant-template", &self.tenant_template),
        ] {
            if let Some(t) = path {
                args.push(flag.into());
                args.push(std::path::absolute(t).unwrap_or_else(|_| t.clone()).into_os_string());
            }
        }
        args
    }
}

/// A tenant permission template file, checked (the error names the statement); none: the default.
fn read_tenant_template(path: Option<&std::path::Path>) -> anyhow::Result<tenant_domain::template::TenantTemplate> {
    let Some(path) = path else {
        return Ok(Default::default());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    tenant_domain::template::TenantTemplate::parse(&text).with_context(|| format!("{} is refused", path.display()))
}

async fn local(cli: &Cli, command: &LocalCommand) -> anyhow::Result<ExitCode> {
    let dir = StateDir(cli.state_dir.clone());
    match command {
        LocalCommand::Serve { stack } => {
            let options = stack.options()?;
            // The stack's log gets each step's EMF line, as CloudWatch would.
            tenant_steps::metrics::enable();
            serve_foreground(&dir, options).await?;
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Up { stack } => {
            // Refused here, naming the statement, rather than in the background process.
            stack.options()?;
            let mut args: Vec<OsString> = ["--state-dir".into(), dir.0.clone().into_os_string()].into();
            args.extend(["local", "serve"].map(OsString::from));
            args.extend(stack.serve_args());
            match background::up(&dir, &std::env::current_exe()?, args).await? {
                background::Up::AlreadyUp { pid } => {
                    outln!(
                        "local stack already up (pid {pid}); settings in {}",
                        dir.env_file().display()
                    );
                }
                background::Up::Started { took, stale } => {
                    if let Some(stale) = stale {
                        outln!("cleaned up after a stopped local stack: {stale}");
                    }
                    outln!(
                        "local stack up in {:.1}s; settings in {}",
                        took.as_secs_f64(),
                        dir.env_file().display()
                    );
                    outln!("point the aws CLI at it with: eval \"$(tenantctl local env)\"");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Down => {
            match background::down(&dir).await? {
                background::Down::NotRunning => outln!("local stack is not running"),
                background::Down::Stopped { pid } => outln!("local stack stopped (pid {pid})"),
                background::Down::Stale(stale) => {
                    outln!("local stack was not running ({stale}); its files were removed")
                }
            }
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
                .get(tenant_localstack::stack::ADMIN_URL)
                .with_context(|| format!("env file has no {}", tenant_localstack::stack::ADMIN_URL))?;
            if *clear {
                fault_api::request(endpoint, "DELETE", None).await?;
                outln!("all faults cleared");
                return Ok(ExitCode::SUCCESS);
            }
            let (Some(tenant), Some(step), Some(mode)) = (tenant, step, mode) else {
                let faults = fault_api::request(endpoint, "GET", None).await?;
                outln!("{faults}");
                return Ok(ExitCode::SUCCESS);
            };
            let mode: tenant_localstack::lambda_endpoint::FaultMode =
                mode.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            if tenant_steps::Step::from_name(step).is_none() {
                let names: Vec<_> = tenant_steps::Step::ALL.iter().map(|s| s.name()).collect();
                bail!("unknown step {step:?}; one of: {}", names.join(", "));
            }
            let body = serde_json::json!({ "tenant": tenant, "step": step, "mode": mode }).to_string();
            fault_api::request(endpoint, "PUT", Some(body)).await?;
            outln!(
                "fault set: {step} will {} for tenant {tenant}",
                serde_json::to_value(mode)?.as_str().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Mail { address } => {
            let vars = env_file::read(&dir.env_file())?;
            let path = vars
                .get(tenant_localstack::stack::MAILBOX)
                .with_context(|| format!("env file has no {}", tenant_localstack::stack::MAILBOX))?;
            let messages = tenant_localstack::mailbox::read(std::path::Path::new(path), address.as_deref())?;
            if messages.is_empty() {
                outln!(
                    "no mail{}",
                    address.as_ref().map(|a| format!(" to {a}")).unwrap_or_default()
                );
            }
            for m in messages {
                outln!("{}  to {}  {}: {}", m.sent_at, m.to, m.subject, m.body);
            }
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Deploy {
            tenant_template,
            mapping_type,
            shared_role,
        } => {
            if let Some(tenant_template) = tenant_template {
                deploy_template(&dir, tenant_template).await?;
            }
            if *shared_role || mapping_type.is_some() {
                deploy_mapping_type(&dir, *shared_role, *mapping_type).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LocalCommand::Env => {
            let vars = env_file::read(&dir.env_file())?;
            let mut keys: Vec<_> = vars.keys().collect();
            keys.sort();
            for k in keys {
                outln!("export {k}={}", tenant_localstack::stack::shell_quote(&vars[k]));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `local deploy --tenant-template`: the running functions render the new template.
async fn deploy_template(dir: &StateDir, tenant_template: &std::path::Path) -> anyhow::Result<()> {
    let template = read_tenant_template(Some(tenant_template)).map_err(|e| {
        tenantctl::exit::CliError::new(
            tenantctl::exit::Exit::Usage,
            None,
            format!("{e:#}; the running stack was not changed"),
        )
    })?;
    let vars = env_file::read(&dir.env_file())?;
    let endpoint = vars
        .get(tenant_localstack::stack::ADMIN_URL)
        .with_context(|| format!("env file has no {}", tenant_localstack::stack::ADMIN_URL))?;
    let answer = fault_api::request_to(
        endpoint,
        "PUT",
        "/_local/template",
        Some(template.unrendered().to_string()),
    )
    .await?;
    tenant_localstack::stack::set_env_tenant_template(dir, &template)?;
    let version: serde_json::Value = serde_json::from_str(&answer)?;
    outln!(
        "local stack deployed with template {}: new onboardings and repairs render it; tenants, records and resources stay",
        version["template_version"].as_str().unwrap_or("?")
    );
    outln!("next: `tenantctl --local rollout plan` lists the tenants behind it");
    Ok(())
}

/// `local deploy --shared-role` / `--mapping-type`: what the stack update does to the pool
/// (with the stack's admin credentials), then the running functions and the env files.
async fn deploy_mapping_type(
    dir: &StateDir,
    shared_role: bool,
    mapping_type: Option<tenant_domain::MappingType>,
) -> anyhow::Result<()> {
    use tenant_domain::MappingType;
    let vars = env_file::read(&dir.env_file())?;
    let ops = Ops::from_lookup(|k| vars.get(k).cloned()).await?;
    let (clients, settings) = (&ops.ctx.clients, &ops.ctx.settings);
    if settings.mapping_type == MappingType::Abac && mapping_type.is_some_and(|m| m != MappingType::Abac) {
        return Err(tenantctl::exit::CliError::new(
            tenantctl::exit::Exit::Refused,
            None,
            "the local stack is in Abac mode: leaving it is not supported (tenants have no role of their own to go back to); the running stack was not changed",
        )
        .next("start a stack in the mode wanted: `tenantctl local up --mapping-type ...`")
        .into());
    }
    if shared_role || mapping_type == Some(MappingType::Abac) {
        let arn = tenant_localstack::bootstrap::ensure_shared_role(clients, settings).await?;
        outln!("shared tenant role {arn} and the principal tag map (tenant <- tenant_id) are in place");
        if mapping_type == Some(MappingType::Abac) {
            tenant_localstack::bootstrap::make_shared_role_default(clients, settings, &arn).await?;
            outln!(
                "the identity pool's default authenticated role is the shared one; its role mappings were reset, as the stack update does"
            );
        }
    }
    if let Some(mode) = mapping_type {
        let endpoint = vars
            .get(tenant_localstack::stack::ADMIN_URL)
            .with_context(|| format!("env file has no {}", tenant_localstack::stack::ADMIN_URL))?;
        fault_api::request_to(endpoint, "PUT", "/_local/mapping-type", Some(format!("{mode:?}"))).await?;
        tenant_localstack::stack::set_env_mapping_type(dir, mode)?;
        outln!(
            "local stack deployed with MappingType={mode:?}: new onboardings use it; tenants, records and resources stay"
        );
    }
    Ok(())
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
