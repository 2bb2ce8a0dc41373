//! Exit codes scripts can rely on, errors that say what to do next, and the next command
//! after an execution ends. Pure.

use serde::Serialize;
use tenant_domain::Status;
use tenant_steps::StepError;

/// `tenantctl`'s exit codes (documented in docs/operations.md and `tenantctl --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// Done; the onboarding succeeded; nothing found.
    Ok = 0,
    /// The outcome is bad: an onboarding ended FAILED/ROLLBACK_FAILED (or aborted), audit
    /// found leftovers, isolation does not hold.
    Failed = 1,
    /// Bad arguments or an invalid tenant id; nothing was done.
    Usage = 2,
    /// No such tenant or execution.
    NotFound = 3,
    /// AWS or the environment failed: unreachable endpoint, credentials, missing settings,
    /// throttling. Retrying the same command later may work.
    Environment = 4,
    /// The tenant's state does not allow this now (already ACTIVE, still running,
    /// ROLLBACK_FAILED for retry, ...).
    Refused = 5,
    /// Gave up following an execution that is still running.
    StillRunning = 6,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error a person or a script can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CliError {
    pub exit: Exit,
    pub tenant: Option<String>,
    /// What failed.
    pub message: String,
    /// What to do next, usually a command.
    pub next: Option<String>,
}

impl CliError {
    pub fn new(exit: Exit, tenant: Option<&str>, message: impl Into<String>) -> Self {
        CliError {
            exit,
            tenant: tenant.map(str::to_string),
            message: message.into(),
            next: None,
        }
    }

    pub fn next(mut self, next: impl Into<String>) -> Self {
        self.next = Some(next.into());
        self
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(next) = &self.next {
            write!(f, "; next: {next}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

pub fn not_found(tenant: &str, message: impl Into<String>) -> CliError {
    CliError::new(Exit::NotFound, Some(tenant), message)
}

pub fn refused(tenant: &str, message: impl Into<String>) -> CliError {
    CliError::new(Exit::Refused, Some(tenant), message)
}

/// The exit code of any error: ours carry one; a step error has the one its kind
/// documents; anything else came from AWS or the environment (SDK errors, I/O).
pub fn exit_of(err: &anyhow::Error) -> Exit {
    if let Some(e) = err.chain().find_map(|e| e.downcast_ref::<CliError>()) {
        return e.exit;
    }
    err.chain()
        .find_map(|e| e.downcast_ref::<StepError>())
        .map_or(Exit::Environment, step_exit)
}

/// The documented exit code of each step error (exhaustive: a new variant needs a
/// decision here).
pub fn step_exit(e: &StepError) -> Exit {
    match e {
        StepError::InvalidTenantId { .. } | StepError::InvalidInput { .. } => Exit::Usage,
        // The tenant's (or the mapping's) state does not allow this now.
        StepError::StaleExecution { .. } | StepError::RuleLimitReached { .. } | StepError::ResourceConflict { .. } => {
            Exit::Refused
        }
        StepError::IsolationNotProven { .. } => Exit::Failed,
        StepError::Throttled { .. }
        | StepError::ServiceUnavailable { .. }
        | StepError::IamNotPropagated { .. }
        | StepError::MappingLockBusy { .. }
        | StepError::AccessDenied { .. }
        | StepError::AwsRequestFailed { .. }
        | StepError::Misconfigured { .. }
        | StepError::Internal { .. } => Exit::Environment,
    }
}

/// The error codes by which a deployment's own container (table, state machine, bucket,
/// pool) says it does not exist.
const CONTAINER_MISSING: [&str; 3] = ["ResourceNotFoundException", "StateMachineDoesNotExist", "NoSuchBucket"];

/// The next step after an AWS or environment error. A deployment resource that does not
/// exist is not a credentials problem: say to check which deployment the settings name.
pub fn environment_next(err: &anyhow::Error) -> &'static str {
    let missing = err.chain().find_map(|e| e.downcast_ref::<StepError>()).is_some_and(
        |e| matches!(e, StepError::AwsRequestFailed { code, .. } if CONTAINER_MISSING.contains(&code.as_str())),
    );
    if missing {
        "the deployment's resource named above does not exist: check that the settings (--env-file, TENANTCTL_ENV_FILE or the environment) name the deployed stack, or deploy it; then run the command again (`tenantctl status <id>` shows where a tenant was left)"
    } else {
        "check the AWS credentials and settings (or that the local stack is up: `tenantctl local up`), then run the command again"
    }
}

/// How an execution ended, as far as the next command depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending<'a> {
    pub tenant: &'a str,
    /// SUCCEEDED, FAILED, ABORTED, TIMED_OUT.
    pub execution_status: &'a str,
    pub error: Option<&'a str>,
    /// The record's status now (None: no record).
    pub record_status: Option<Status>,
    /// Whether the record is still owned by the execution being reported.
    pub owned: bool,
    /// The record's owner when another execution owns it.
    pub owner: Option<&'a str>,
    pub remaining: &'a [String],
}

/// The exact command(s) an operator runs next; None when nothing is to be done.
pub fn next_command(e: &Ending) -> Option<String> {
    let t = e.tenant;
    if !e.owned
        && let (Some(owner), Some(_)) = (e.owner, e.record_status)
    {
        return Some(format!(
            "a newer execution ({owner}) owns {t} now: `tenantctl watch {t}` follows it"
        ));
    }
    match (e.record_status, e.execution_status) {
        (Some(Status::Active | Status::Offboarded), "SUCCEEDED") => None,
        (Some(Status::RollbackFailed), _) => Some(format!(
            "`tenantctl status {t}` shows what remains ({}); `tenantctl offboard {t} --keep-prefix` removes it (keeping any objects), then `tenantctl retry {t}`",
            if e.remaining.is_empty() {
                "unknown".to_string()
            } else {
                e.remaining.join(", ")
            }
        )),
        (Some(Status::Failed), _) => Some(match e.error {
            Some("RuleLimitReached") => format!(
                "the Rules role mapping is full (25 tenants): offboard a tenant or switch the identity pool to Token mapping, then `tenantctl retry {t}`"
            ),
            _ => format!("fix the cause above, then `tenantctl retry {t}`"),
        }),
        (None, _) => Some(match e.error {
            Some("InvalidTenantId" | "InvalidInput") => {
                "nothing was created; onboard again with a valid id and input".to_string()
            }
            _ => format!("nothing was recorded; fix the cause above, then `tenantctl onboard {t}`"),
        }),
        // Ended before its first step claimed the record: nothing was created.
        (Some(Status::Pending), s) if s != "RUNNING" => Some(format!(
            "the execution ended before it claimed the tenant, so nothing was created; `tenantctl retry {t}` starts a new one"
        )),
        // The execution ended but left the record mid-way (aborted, timed out, crashed
        // rollback): offboarding takes the record over and removes what exists.
        (Some(Status::Provisioning | Status::RollingBack | Status::Offboarding), s) if s != "RUNNING" => Some(format!(
            "the record is stuck; `tenantctl offboard {t} --keep-prefix` takes it over (after a 45 s grace) and removes what exists, then `tenantctl retry {t}`"
        )),
        _ => Some(format!("`tenantctl status {t}` shows the record and what exists")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_deployment_resource_is_not_called_a_credentials_problem() {
        let failed = |code: &str| {
            anyhow::Error::new(StepError::AwsRequestFailed {
                service: "stepfunctions",
                operation: "StartExecution",
                code: code.into(),
                message: "state machine x".into(),
            })
        };
        for code in CONTAINER_MISSING {
            assert!(environment_next(&failed(code)).contains("does not exist"), "{code}");
        }
        assert!(environment_next(&failed("UnrecognizedClientException")).contains("credentials"));
        assert!(environment_next(&anyhow::anyhow!("connection refused")).contains("credentials"));
    }

    fn ending<'a>(status: Option<Status>, exec: &'a str, error: Option<&'a str>) -> Ending<'a> {
        Ending {
            tenant: "acme",
            execution_status: exec,
            error,
            record_status: status,
            owned: true,
            owner: None,
            remaining: &[],
        }
    }

    #[test]
    fn the_next_command_fits_the_ending() {
        assert_eq!(next_command(&ending(Some(Status::Active), "SUCCEEDED", None)), None);
        let failed = next_command(&ending(Some(Status::Failed), "FAILED", Some("FaultInjected"))).unwrap();
        assert!(failed.contains("`tenantctl retry acme`"), "{failed}");
        let full = next_command(&ending(Some(Status::Failed), "FAILED", Some("RuleLimitReached"))).unwrap();
        assert!(full.contains("Token mapping"), "{full}");
        let remaining = ["role".to_string()];
        let rb = next_command(&Ending {
            remaining: &remaining,
            ..ending(Some(Status::RollbackFailed), "FAILED", Some("RollbackFailed"))
        })
        .unwrap();
        assert!(
            rb.contains("`tenantctl offboard acme --keep-prefix`") && rb.contains("(role)"),
            "{rb}"
        );
        let stuck = next_command(&ending(Some(Status::Provisioning), "ABORTED", None)).unwrap();
        assert!(
            stuck.contains("offboard acme") && stuck.contains("retry acme"),
            "{stuck}"
        );
        // Ended before claiming the record: retry, no offboard (nothing to remove).
        let unclaimed = next_command(&ending(Some(Status::Pending), "FAILED", Some("States.Runtime"))).unwrap();
        assert!(
            unclaimed.contains("nothing was created") && unclaimed.contains("`tenantctl retry acme`"),
            "{unclaimed}"
        );
        assert!(!unclaimed.contains("offboard"), "{unclaimed}");
        assert!(
            next_command(&ending(Some(Status::Pending), "RUNNING", None))
                .unwrap()
                .contains("tenantctl status acme")
        );
        let invalid = next_command(&ending(None, "FAILED", Some("InvalidTenantId"))).unwrap();
        assert!(invalid.contains("nothing was created"), "{invalid}");
        let newer = next_command(&Ending {
            owned: false,
            owner: Some("acme-3"),
            ..ending(Some(Status::Provisioning), "FAILED", Some("StaleExecution"))
        })
        .unwrap();
        assert!(newer.contains("tenantctl watch acme"), "{newer}");
    }

    #[test]
    fn errors_carry_their_exit_code_through_context() {
        let err = anyhow::Error::new(not_found("acme", "tenant acme has no record")).context("status of acme");
        assert_eq!(exit_of(&err), Exit::NotFound);
        assert_eq!(exit_of(&anyhow::anyhow!("connection refused")), Exit::Environment);
        // A stale attempt is a refusal by the tenant's state (5), not an environment error.
        let stale = StepError::StaleExecution {
            tenant: "acme".into(),
            message: "execution acme-2 already ran".into(),
        };
        assert_eq!(exit_of(&anyhow::Error::new(stale).context("retry acme")), Exit::Refused);
        let invalid = StepError::InvalidTenantId { message: "bad".into() };
        assert_eq!(exit_of(&anyhow::Error::new(invalid)), Exit::Usage);
        let throttled = StepError::Throttled {
            service: "sfn",
            operation: "StartExecution",
            message: "slow down".into(),
        };
        assert_eq!(exit_of(&anyhow::Error::new(throttled)), Exit::Environment);
        let e = refused("acme", "tenant acme is ACTIVE").next("`tenantctl status acme`");
        assert_eq!(e.to_string(), "tenant acme is ACTIVE; next: `tenantctl status acme`");
        let codes = [
            Exit::Ok,
            Exit::Failed,
            Exit::Usage,
            Exit::NotFound,
            Exit::Environment,
            Exit::Refused,
            Exit::StillRunning,
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6]);
    }
}
