//! The command line: clap's types for every subcommand and its flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tenant_domain::MappingType;
use tenantctl::onboard;

use crate::render;

/// Onboard tenants onto AWS with per-tenant Cognito groups and IAM roles, and operate the
/// onboarding workflow.
#[derive(Parser)]
#[command(version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Read settings (table, pools, state machine, endpoint) from this env file; without
    /// it, the process environment and the default AWS credential chain are used.
    #[arg(long, global = true, env = "TENANTCTL_ENV_FILE")]
    pub env_file: Option<PathBuf>,
    /// Use the running local stack (same as --env-file <state-dir>/local.env).
    #[arg(long, global = true)]
    pub local: bool,
    /// Where the local stack keeps its env file, pid and logs.
    #[arg(long, global = true, default_value = ".tenant", env = "TENANTCTL_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the product on this machine with no AWS account.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// Start onboarding a tenant and, unless --no-wait, follow it to the end.
    Onboard {
        /// Tenant id: 3–32 lowercase letters, digits and single hyphens, starting with a letter.
        tenant: String,
        /// The tenant's company name.
        // `--name`: the flag's earlier spelling, kept for operators' scripts.
        #[arg(long, alias = "name")]
        company_name: Option<String>,
        /// The tenant's admin email; it becomes the tenant's first user.
        // `--email`: the flag's earlier spelling, kept for operators' scripts.
        #[arg(long, alias = "email")]
        admin_email: Option<String>,
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
    /// Approve a signup held for an operator (SignupMode=approve, status PENDING_APPROVAL):
    /// starts its onboarding and, unless --no-wait, follows it. Exits 3 if no signup of
    /// that id is held, 5 if the tenant is not PENDING_APPROVAL.
    Approve {
        /// Tenant id.
        tenant: String,
        /// Return once the execution has started.
        #[arg(long)]
        no_wait: bool,
        /// Give up following after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Reject a signup held for an operator: its record is deleted and the id is free
    /// again (nothing was created for it). Exits 3 / 5 as approve does.
    Reject {
        /// Tenant id.
        tenant: String,
    },
    /// Remove a tenant: mapping rule, role, secret, objects and group; ends OFFBOARDED.
    Offboard {
        /// Tenant id.
        tenant: String,
        /// Keep the tenant's objects under its prefix (the way to offboard and later
        /// `retry` without losing the customer's data). One of this or --delete-data is
        /// required.
        #[arg(long, conflicts_with = "delete_data")]
        keep_prefix: bool,
        /// Delete every object under the tenant's prefix: the customer's data, not
        /// recoverable. Asked for explicitly so no advice or habit deletes it by default.
        #[arg(long)]
        delete_data: bool,
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
    /// update reset it, for example). Refuses (exit 5, nothing changed) when the rebuild
    /// would drop the rule of a tenant whose role still exists (the table was lost).
    Reconcile {
        /// Rebuild even if that drops live tenants' rules (their users lose access).
        #[arg(long)]
        force: bool,
    },
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
        /// Only tenants whose record names this template version (as `status` shows it).
        #[arg(long)]
        template_version: Option<String>,
        /// Only ACTIVE tenants behind the deployment's current template version.
        #[arg(long)]
        behind: bool,
    },
    /// Compare the account with the tenants table and the current templates: orphans and
    /// leftovers in the tenants' namespace, and drift of every ACTIVE tenant's role
    /// (trust, policy, boundary, tags), group, secret, prefix marker and mapping rule; and
    /// what changes which role a user gets: a user in two tenants' groups, a group's
    /// precedence, a tenant's role as the pool's default role, members of a tenant with
    /// no record.
    /// Exit codes: 0 clean, 1 findings, 4 the audit could not complete.
    Audit,
    /// Converge an ACTIVE tenant's role (policy, trust, boundary, tags) and role mapping to
    /// the deployment's template in place, keeping its data, then prove isolation (Verify);
    /// a failed proof puts the previous documents back (kept on the record first).
    /// Exit codes: 0 converged, 1 reverted, 5 not ACTIVE or no role.
    Repair { tenant: String },
    /// Move every ACTIVE tenant of a Rules or Token deployment to Token or Abac mode, one
    /// at a time, each proven by the Verify step's proof in the new mode before its old
    /// role and rule go; stop with --max, run again to resume. A failed proof puts that
    /// tenant back on its old mode and stops. Then switch the deployment's MappingType.
    /// Exit codes: 0 moved (or stopped at --max), 1 a proof failed (the tenant is named),
    /// 5 refused before anything changed (no shared role or tag map, another run).
    Migrate {
        /// The mode to move to.
        #[arg(long, value_enum, required_unless_present = "status")]
        to: Option<tenantctl::migrate::Target>,
        /// Move at most this many tenants in this run, then stop (run again to go on).
        #[arg(long)]
        max: Option<usize>,
        /// The shared tenant role's name, if it cannot be found by its policy and trust.
        #[arg(long)]
        shared_role: Option<String>,
        /// Show the migration's progress (the `#migration` item) and change nothing.
        #[arg(long, conflicts_with_all = ["to", "max", "shared_role"])]
        status: bool,
    },
    /// Bring tenants onboarded with an earlier tenant template to the deployment's one.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Sign a throwaway user of each tenant in, and prove each reaches its own prefix and
    /// secret and is denied on every other tenant's. With `--user`, sign that user in
    /// instead (its password from TENANTCTL_USER_PASSWORD) and try the given tenants, or
    /// every ACTIVE tenant: it reaches only the one tenant whose group it is in; a user in
    /// several tenants' groups or none reaches none. Exits 1 if isolation does not hold.
    CheckIsolation {
        /// Two or more tenant ids (with `--user`: any number; none means every ACTIVE tenant).
        #[arg(required_unless_present = "user")]
        tenants: Vec<String>,
        /// An existing user of the pool (its username or email) to sign in and check.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RolloutCommand {
    /// The ACTIVE tenants behind the deployment's template version and, per document, what
    /// converging each would change (compared by meaning, as `audit` does). Changes nothing.
    Plan,
    /// Start the rollout state machine on the tenants behind: the canary tenants first,
    /// then waves of the given sizes; each tenant converged in place, proven by the Verify
    /// step and recorded, or reverted to its previous documents. A wave with more failed
    /// proofs than `--max-failures` halts the rollout; later waves are untouched. Follows
    /// it unless `--no-wait` (it runs on without the CLI). Exit codes: 0 completed or
    /// nothing behind, 1 halted or aborted, 5 another rollout is running.
    Start {
        /// Tenants in the first wave, proven before any other is touched.
        #[arg(long, default_value_t = 1)]
        canary: usize,
        /// Sizes of the waves after the canary, e.g. 5,25,100; the last size repeats.
        /// Default: everything after the canary in one wave.
        #[arg(long, value_parser = parse_wave_sizes, default_value = "")]
        waves: WaveSizes,
        /// Failed proofs tolerated before the rollout halts (counted over the rollout).
        #[arg(long, default_value_t = 0)]
        max_failures: usize,
        /// Tenants converged at once within a wave (IAM and Cognito rate limits hold).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=40))]
        concurrency: u16,
        /// Tenants this rollout takes at most (the first by id); the rest stay behind for
        /// the next `rollout start`. One execution's history holds 25,000 events.
        #[arg(long, default_value_t = tenantctl::rollout::DEFAULT_MAX_TENANTS as u16,
              value_parser = clap::value_parser!(u16).range(1..=800))]
        max_tenants: u16,
        #[command(flatten)]
        wait: RolloutWait,
    },
    /// The latest rollout: its waves, each tenant's result, why it halted, what is left.
    Status,
    /// Follow the running rollout wave by wave to its end (exit codes as `start`).
    Watch {
        /// Stop following after this long (the rollout goes on; exit 6).
        #[arg(long, default_value = "3600", value_name = "SECONDS")]
        timeout: u64,
    },
    /// Start the latest rollout again on its tenants still behind (same template version,
    /// waves and limits), after putting back any tenant it left half applied.
    Resume {
        #[command(flatten)]
        wait: RolloutWait,
    },
    /// Stop the running rollout; tenants it already proved keep the new version, a tenant
    /// it left half applied gets its previous documents back.
    Abort,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RolloutWait {
    /// Start it and return; `tenantctl rollout status` follows it.
    #[arg(long)]
    pub no_wait: bool,
    /// Stop following after this long (the rollout goes on; exit 6).
    #[arg(long, default_value = "3600", value_name = "SECONDS")]
    pub timeout: u64,
}

/// `--waves`, parsed.
#[derive(Debug, Clone, Default)]
pub struct WaveSizes(pub Vec<usize>);

fn parse_wave_sizes(raw: &str) -> Result<WaveSizes, String> {
    tenant_domain::rollout::parse_sizes(raw).map(WaveSizes)
}

#[derive(Subcommand)]
pub enum LocalCommand {
    /// Start moto, the local Lambda endpoint and the bootstrap in the background.
    Up {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Stop the background stack.
    Down,
    /// Print `export` lines that point the aws CLI, boto3 and the SDKs at the stack.
    Env,
    /// Print the local mailbox (sign-up codes; no email leaves the machine), or only the
    /// messages to one address.
    Mail { address: Option<String> },
    /// Change the running stack's deployment in place, as a stack update would: its
    /// functions render the new tenant template from their next invocation; tenants,
    /// records and resources stay (existing tenants are then behind: `rollout plan`,
    /// `repair`). An invalid template is refused (exit 2) naming the statement.
    ///
    /// `--shared-role` deploys the template version that has the shared tenant role and the
    /// principal tag map in every mode (before `tenantctl migrate --to abac`);
    /// `--mapping-type` changes the deployment's MappingType (after `tenantctl migrate`):
    /// to abac, the pool's default role becomes the shared one and its role mappings are
    /// reset, as the stack update does.
    Deploy {
        /// The tenant permission template (JSON with placeholders).
        #[arg(long, required_unless_present_any = ["mapping_type", "shared_role"])]
        tenant_template: Option<PathBuf>,
        /// The deployment's new MappingType (rules, token or abac).
        #[arg(long)]
        mapping_type: Option<MappingType>,
        /// Create (or converge) the shared tenant role and the principal tag map without
        /// handing the role out: what a Rules or Token deployment needs before migrating to Abac.
        #[arg(long)]
        shared_role: bool,
    },
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
        #[command(flatten)]
        stack: StackArgs,
    },
}

/// How the local stack is set up: `up` passes these to the `serve` it starts.
#[derive(Args, Clone)]
pub struct StackArgs {
    /// Seconds the state machine waits for IAM propagation.
    #[arg(long, default_value_t = 1)]
    pub iam_wait_seconds: u32,
    /// Role mapping type: rules (≤ 25 tenants), token (a role per tenant) or abac (one
    /// shared role scoped by the session's tenant tag).
    #[arg(long, default_value = "rules")]
    pub mapping_type: MappingType,
    /// The SAM template whose function roles the steps run under (default: the
    /// repository's template.yaml): try a template change before deploying it.
    #[arg(long)]
    pub template: Option<PathBuf>,
    /// How the signup page signs up: verify (email code first), approve (held for
    /// `tenantctl approve`) or open.
    #[arg(long, default_value = "open")]
    pub signup_mode: String,
    /// Seconds an unapproved (approve) or unconfirmed (verify) signup holds its id and
    /// address (template.yaml's SignupRequestLifetimeSeconds).
    #[arg(long, default_value_t = tenant_steps::config::DEFAULT_SIGNUP_LIFETIME_SECONDS)]
    pub signup_lifetime_seconds: u64,
    /// Valid sign-ups the page admits per email address: MAX/SECONDS or off
    /// (template.yaml's SignupLimitPerEmail).
    #[arg(long, default_value_t = tenant_steps::config::DEFAULT_SIGNUP_LIMIT_PER_EMAIL)]
    pub signup_limit_per_email: tenant_domain::limit::Limit,
    /// Valid sign-ups the page admits per source address: MAX/SECONDS or off
    /// (template.yaml's SignupLimitPerSource).
    #[arg(long, default_value_t = tenant_steps::config::DEFAULT_SIGNUP_LIMIT_PER_SOURCE)]
    pub signup_limit_per_source: tenant_domain::limit::Limit,
    /// The tenant permission template (JSON, placeholders {tenant}, {bucket},
    /// {partition}, {region}, {account}); default: crates/domain/templates/tenant-policy.json.
    /// Refused, naming the statement, if it breaks a rule.
    #[arg(long)]
    pub tenant_template: Option<PathBuf>,
    /// Turn off the emulator's request-rate quotas (Cognito CreateGroup 5/s,
    /// AdminAddUserToGroup 25/s, identity-pool GetId 25/s), which are on by default as in AWS.
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Seconds Verify treats a refusal of a tenant's own access as IAM propagation after
    /// the role was created or converged (template.yaml's `PropagationBudgetSeconds`).
    #[arg(long, default_value_t = tenant_steps::config::DEFAULT_PROPAGATION_BUDGET_SECONDS)]
    pub propagation_budget_seconds: u64,
}

/// Exit codes are part of the interface: scripts branch on them (see `tenantctl::exit::Exit`).
pub const EXIT_CODES: &str = "Exit codes: 0 ok; 1 the outcome is bad (onboarding FAILED/ROLLBACK_FAILED, \
a tenant needing an operator, audit findings, isolation broken); 2 usage or invalid tenant id; \
3 tenant or execution not found; 4 AWS or environment error; 5 refused by the tenant's state; \
6 still running when --timeout passed. With --json, errors are a JSON object on stdout.";

#[cfg(test)]
mod tests {
    use super::*;

    fn onboard_contact(args: &[&str]) -> (Option<String>, Option<String>) {
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Onboard {
            company_name,
            admin_email,
            ..
        } = cli.command
        else {
            panic!("{args:?} is not onboard");
        };
        (company_name, admin_email)
    }

    /// `--company-name` and `--admin-email`, the public API's names; `--name` and `--email`
    /// (the earlier spelling) still fill the same fields.
    #[test]
    fn onboard_takes_the_public_names_and_the_earlier_flags() {
        let expected = (Some("Acme Corp".to_string()), Some("ops@acme.example".to_string()));
        let new = [
            "tenantctl",
            "onboard",
            "acme",
            "--company-name",
            "Acme Corp",
            "--admin-email",
            "ops@acme.example",
        ];
        assert_eq!(onboard_contact(&new), expected);
        let old = [
            "tenantctl",
            "onboard",
            "acme",
            "--name",
            "Acme Corp",
            "--email",
            "ops@acme.example",
        ];
        assert_eq!(onboard_contact(&old), expected);
        assert_eq!(onboard_contact(&["tenantctl", "onboard", "acme"]), (None, None));
        // One field given twice, once under each spelling, is refused rather than one silently winning.
        let twice = ["tenantctl", "onboard", "acme", "--name", "A", "--company-name", "B"];
        assert!(Cli::try_parse_from(twice).is_err());
    }
}
