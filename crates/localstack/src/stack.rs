//! Starting and stopping the local stack: in-process for tests, in the background for
//! `tenantctl local up`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tenant_steps::config::env;
use tenant_steps::{Clients, Context};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::bootstrap::{self, Bootstrap, Options};
use crate::function_roles::{FunctionContexts, Operators};
use crate::lambda_endpoint::Faults;
use crate::moto::MotoServer;

/// The env-file key of the local-only admin routes (`tenantctl local fault`).
pub const ADMIN_URL: &str = "TENANT_LOCAL_ADMIN_URL";
/// The env-file key of the local mailbox (`tenantctl local mail`).
pub const MAILBOX: &str = "TENANT_LOCAL_MAILBOX";

pub struct LocalStack {
    pub moto: MotoServer,
    /// The internal port: the Lambda Invoke API moto calls and the fault API.
    pub lambda_port: u16,
    /// The public port: the signup page and API only.
    pub signup_port: u16,
    /// The local mailbox: sign-up codes, one JSON line per message.
    pub mailbox: PathBuf,
    pub bootstrap: Bootstrap,
    /// Clients and settings pointed at the emulator, as the step handlers see them.
    pub ctx: Arc<Context>,
    /// Fault injection for the local Lambda endpoint.
    pub faults: Arc<Faults>,
    /// The operators' roles from the template's managed policies (with the function roles).
    pub operators: Option<Operators>,
    lambda: JoinHandle<()>,
    signup_page: JoinHandle<()>,
    signup_events: JoinHandle<()>,
}

impl LocalStack {
    /// Starts moto and the Lambda endpoint on free ports and bootstraps the resources.
    pub async fn start(options: Options, moto_log: Option<&Path>) -> anyhow::Result<LocalStack> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the local Lambda endpoint")?;
        let lambda_port = listener.local_addr()?.port();
        let signup_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the local signup page")?;
        let signup_port = signup_listener.local_addr()?.port();
        // Where the extension delivers sign-up codes: beside moto's log for a background
        // stack, else a file of this process.
        let mailbox = match moto_log {
            Some(log) => log.with_file_name("mailbox.jsonl"),
            None => std::env::temp_dir().join(format!("tenant-mailbox-{}-{lambda_port}.jsonl", std::process::id())),
        };
        let _ = std::fs::remove_file(&mailbox);
        let moto_env = [
            (
                "TENANT_MOTO_IAM_PROPAGATION_SECONDS",
                options.simulated_propagation_seconds.to_string(),
            ),
            ("TENANT_MOTO_MAILBOX", mailbox.display().to_string()),
            (
                "TENANT_MOTO_RATE_LIMITS",
                if options.rate_limits { "on" } else { "off" }.to_string(),
            ),
        ];
        let moto = MotoServer::start(lambda_port, moto_log, &moto_env).await?;
        let config = tenant_steps::aws::local_sdk_config(&moto.endpoint, crate::REGION).await;
        let clients = Clients::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let bootstrap = bootstrap::run(&clients, &sqs, &options)
            .await
            .context("bootstrapping the local stack")?;
        let (functions, operators) = if options.function_roles {
            let template = options
                .template
                .clone()
                .unwrap_or_else(crate::function_roles::default_template);
            let (functions, operators) = crate::function_roles::create(&clients, &config, &bootstrap, &template)
                .await
                .with_context(|| format!("creating the function roles of {}", template.display()))?;
            (functions, operators)
        } else {
            (FunctionContexts::default(), None)
        };
        let ctx = Arc::new(Context {
            settings: bootstrap.settings.clone(),
            clients,
        });
        let events_ctx = if functions.is_empty() {
            ctx.clone()
        } else {
            functions
                .get(crate::lambda_endpoint::SIGNUP_EVENTS_HANDLER)
                .context("the template defines no signup-events function")?
        };
        let served = ctx.clone();
        let served_functions = functions.clone();
        let faults = Arc::new(Faults::default());
        let served_faults = faults.clone();
        let onboarding_arn = bootstrap.onboarding_state_machine_arn.clone();
        let lambda = tokio::spawn(async move {
            if let Err(e) =
                crate::lambda_endpoint::serve(listener, served, served_functions, served_faults, &onboarding_arn).await
            {
                tracing::error!(error = %e, "local Lambda endpoint stopped");
            }
        });
        let served = ctx.clone();
        let served_functions = functions.clone();
        let onboarding_arn = bootstrap.onboarding_state_machine_arn.clone();
        let signup_mode = options.signup_mode;
        let signup_page = tokio::spawn(async move {
            if let Err(e) = crate::lambda_endpoint::serve_signup(
                signup_listener,
                served,
                served_functions,
                &onboarding_arn,
                signup_mode,
            )
            .await
            {
                tracing::error!(error = %e, "local signup page stopped");
            }
        });
        let signup_events = tokio::spawn(crate::events::poll_signup_requests(
            events_ctx,
            sqs,
            bootstrap.signup_requests_queue_url.clone(),
            bootstrap.onboarding_state_machine_arn.clone(),
        ));
        Ok(LocalStack {
            moto,
            lambda_port,
            signup_port,
            mailbox,
            bootstrap,
            ctx,
            faults,
            operators,
            lambda,
            signup_page,
            signup_events,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.moto.endpoint
    }

    /// `KEY=value` lines that point the aws CLI, boto3, the SDKs and `tenantctl` at the
    /// stack, as the emulator's admin.
    pub fn env_lines(&self) -> Vec<(String, String)> {
        self.env_lines_as(Principal::Admin).expect("the admin needs no role")
    }

    /// The same lines with `principal`'s credentials; None if the stack created no
    /// operator roles (started without function roles).
    pub fn env_lines_as(&self, principal: Principal) -> Option<Vec<(String, String)>> {
        let credentials = match principal {
            Principal::Admin => vec![
                ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ],
            Principal::Operator | Principal::OperatorReadOnly => {
                let operators = self.operators.as_ref()?;
                let c = if principal == Principal::Operator {
                    &operators.full
                } else {
                    &operators.read_only
                };
                vec![
                    ("AWS_ACCESS_KEY_ID".into(), c.access_key_id.clone()),
                    ("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key.clone()),
                    ("AWS_SESSION_TOKEN".into(), c.session_token.clone()),
                ]
            }
        };
        let mut lines: Vec<(String, String)> = vec![("AWS_ENDPOINT_URL".into(), self.moto.endpoint.clone())];
        lines.extend(credentials);
        lines.push(("AWS_DEFAULT_REGION".into(), crate::REGION.into()));
        lines.extend(
            self.bootstrap
                .settings
                .to_env()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        lines.push((
            env::STATE_MACHINE_ARN.into(),
            self.bootstrap.onboarding_state_machine_arn.clone(),
        ));
        lines.push((
            env::OFFBOARDING_STATE_MACHINE_ARN.into(),
            self.bootstrap.offboarding_state_machine_arn.clone(),
        ));
        lines.push((
            env::ROLLOUT_STATE_MACHINE_ARN.into(),
            self.bootstrap.rollout_state_machine_arn.clone(),
        ));
        lines.push((
            "TENANT_SIGNUP_PAGE_URL".into(),
            format!("http://127.0.0.1:{}/", self.signup_port),
        ));
        lines.push((
            "TENANT_SIGNUP_URL".into(),
            format!("http://127.0.0.1:{}/signup", self.signup_port),
        ));
        lines.push((
            "TENANT_LAMBDA_ENDPOINT".into(),
            format!("http://127.0.0.1:{}", self.lambda_port),
        ));
        lines.push((MAILBOX.into(), self.mailbox.display().to_string()));
        // Fault injection and the other local-only routes: never the page's port.
        lines.push((ADMIN_URL.into(), format!("http://127.0.0.1:{}", self.lambda_port)));
        Some(lines)
    }

    pub async fn stop(self) {
        self.lambda.abort();
        self.signup_page.abort();
        self.signup_events.abort();
        self.moto.stop().await;
    }
}

/// Whose credentials an env file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// The emulator's admin key: the stack's own management (`tenantctl local ...`).
    Admin,
    /// The role of the template's `OperatorPolicy`: every `tenantctl` command.
    Operator,
    /// The role of `OperatorReadOnlyPolicy`: `status`, `list`, `watch`, `audit`.
    OperatorReadOnly,
}

/// Files of a background stack under the state directory.
pub struct StateDir(pub PathBuf);

impl StateDir {
    pub fn env_file(&self) -> PathBuf {
        self.0.join("local.env")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.0.join("stack.pid")
    }
    /// The emulator's PID: it outlives a serving process that was killed.
    pub fn moto_pid_file(&self) -> PathBuf {
        self.0.join("moto.pid")
    }
    pub fn moto_log(&self) -> PathBuf {
        self.0.join("moto.log")
    }
    pub fn stack_log(&self) -> PathBuf {
        self.0.join("stack.log")
    }
    /// Settings with an operator role's credentials (`tenantctl --env-file ...`).
    pub fn operator_env_file(&self, principal: Principal) -> PathBuf {
        match principal {
            Principal::Admin => self.env_file(),
            Principal::Operator => self.0.join("operator.env"),
            Principal::OperatorReadOnly => self.0.join("operator-read-only.env"),
        }
    }
}

/// After `tenantctl local deploy --mapping-type`: every env file of the running stack
/// names the new mapping type, so `tenantctl` works in it. Each file is replaced whole.
pub fn set_env_mapping_type(dir: &StateDir, mode: tenant_domain::MappingType) -> std::io::Result<()> {
    let key = tenant_steps::config::env::MAPPING_TYPE;
    let files = [
        dir.env_file(),
        dir.operator_env_file(Principal::Operator),
        dir.operator_env_file(Principal::OperatorReadOnly),
    ];
    for path in files.iter().filter(|p| p.exists()) {
        let text = std::fs::read_to_string(path)?;
        let mut out: String = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}=")))
            .map(|l| format!("{l}\n"))
            .collect();
        out.push_str(&env_text(vec![(key.to_string(), format!("{mode:?}"))]));
        let tmp = path.with_extension("env.tmp");
        std::fs::write(&tmp, out)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// After `tenantctl local deploy`: every env file of the running stack names the new tenant
/// template (none for the default), so `tenantctl` judges tenants against it. Each file
/// is replaced whole (written beside it, then renamed), never seen half written.
pub fn set_env_tenant_template(
    dir: &StateDir,
    template: &tenant_domain::template::TenantTemplate,
) -> std::io::Result<()> {
    let key = tenant_steps::config::env::POLICY_TEMPLATE;
    let files = [
        dir.env_file(),
        dir.operator_env_file(Principal::Operator),
        dir.operator_env_file(Principal::OperatorReadOnly),
    ];
    for path in files.iter().filter(|p| p.exists()) {
        let text = std::fs::read_to_string(path)?;
        let mut lines: Vec<(String, String)> = vec![];
        let mut out: String = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}=")))
            .map(|l| format!("{l}\n"))
            .collect();
        if *template != tenant_domain::template::TenantTemplate::default() {
            lines.push((key.to_string(), template.unrendered().to_string()));
        }
        out.push_str(&env_text(lines));
        let tmp = path.with_extension("env.tmp");
        std::fs::write(&tmp, out)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

fn env_text(lines: Vec<(String, String)>) -> String {
    lines
        .into_iter()
        .map(|(k, v)| format!("{k}={}\n", shell_quote(&v)))
        .collect()
}

/// A value as a POSIX shell word, so `eval "$(tenantctl local env)"` sets it unchanged
/// (a tenant template is JSON); plain values stay unquoted.
pub fn shell_quote(v: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@,+=%".contains(c);
    if !v.is_empty() && v.chars().all(plain) {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// Runs the stack in the foreground until SIGINT/SIGTERM: writes the env file once it is
/// ready and removes it on the way out.
pub async fn serve_foreground(dir: &StateDir, options: Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&dir.0)?;
    let stack = LocalStack::start(options, Some(&dir.moto_log())).await?;
    let operators = [Principal::Operator, Principal::OperatorReadOnly];
    for principal in operators {
        if let Some(lines) = stack.env_lines_as(principal) {
            std::fs::write(dir.operator_env_file(principal), env_text(lines))?;
        }
    }
    // The PIDs before the env file: once `up` sees the env file, `down` must find them.
    if let Some(pid) = stack.moto.pid() {
        std::fs::write(dir.moto_pid_file(), pid.to_string())?;
    }
    std::fs::write(dir.pid_file(), std::process::id().to_string())?;
    let body = env_text(stack.env_lines());
    // Written atomically: its appearance is the readiness signal for `local up`.
    let tmp = dir.0.join("local.env.tmp");
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, dir.env_file())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = std::fs::remove_file(dir.env_file());
    let _ = std::fs::remove_file(dir.pid_file());
    let _ = std::fs::remove_file(dir.moto_pid_file());
    for principal in operators {
        let _ = std::fs::remove_file(dir.operator_env_file(principal));
    }
    stack.stop().await;
    Ok(())
}
