//! Starting an onboarding execution, shared by `tenantctl` and the signup form.
//!
//! Execution names are `{tenant}-{attempt}`, so starting the same attempt twice yields one
//! execution. Step Functions keeps a name for 90 days, so an attempt that was refused
//! before it wrote a record (bad id, full mapping) must not block the tenant: when the
//! caller knows no record is owned by an execution at or after `attempt`, names whose
//! executions have ended are skipped.

use aws_sdk_sfn::types::ExecutionStatus;
use serde::Serialize;
use serde_json::json;
use tenant_domain::TenantId;

use crate::error::classify;
use crate::{Context, StepError};

#[derive(Debug, Clone, Serialize)]
pub struct Launched {
    pub tenant_id: String,
    pub execution_name: String,
    pub execution_arn: String,
    pub attempt: u32,
    /// An execution of this attempt was already running (idempotent start).
    pub already_running: bool,
}

pub fn execution_name(tenant: &TenantId, attempt: u32) -> String {
    format!("{tenant}-{attempt}")
}

pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Whether `execution` is one of this tenant's offboarding executions
/// (`{tenant}-{attempt}-offboard-{epoch}`), exactly.
pub fn is_offboarding_execution(tenant: &str, execution: &str) -> bool {
    let Some(rest) = execution.strip_prefix(tenant).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    matches!(parts.as_slice(), [a, "offboard", t] if a.bytes().all(|b| b.is_ascii_digit()) && !a.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty())
}

/// The most attempts skipped over ended executions before giving up.
const MAX_SKIPPED: u32 = 20;

pub async fn start_onboarding(
    ctx: &Context,
    state_machine_arn: &str,
    tenant: &TenantId,
    company_name: Option<&str>,
    admin_email: Option<&str>,
    attempt: u32,
    skip_ended: bool,
) -> Result<Launched, StepError> {
    let mut attempt = attempt;
    for _ in 0..MAX_SKIPPED {
        let execution_name = execution_name(tenant, attempt);
        let input = json!({
            "tenant_id": tenant, "company_name": company_name, "admin_email": admin_email, "attempt": attempt
        });
        let result = ctx
            .clients
            .sfn
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(&execution_name)
            .input(input.to_string())
            .send()
            .await;
        let arn = execution_arn(state_machine_arn, &execution_name);
        match result {
            Ok(out) => {
                return Ok(Launched {
                    tenant_id: tenant.to_string(),
                    execution_name,
                    execution_arn: out.execution_arn().to_string(),
                    attempt,
                    already_running: false,
                });
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_already_exists()) => {
                let described = ctx
                    .clients
                    .sfn
                    .describe_execution()
                    .execution_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| {
                        classify("stepfunctions", "DescribeExecution", &e).about(format!("execution {arn}"))
                    })?;
                if *described.status() == ExecutionStatus::Running {
                    return Ok(Launched {
                        tenant_id: tenant.to_string(),
                        execution_name,
                        execution_arn: arn,
                        attempt,
                        already_running: true,
                    });
                }
                if !skip_ended {
                    return Err(StepError::StaleExecution {
                        tenant: tenant.to_string(),
                        message: format!(
                            "execution {execution_name} already ran and ended {} without settling the tenant; \
                             run `tenantctl offboard {tenant} --keep-prefix` to remove what it left (keeping any objects), then `tenantctl retry {tenant}`",
                            described.status().as_str()
                        ),
                    });
                }
                attempt += 1;
            }
            Err(e) => {
                return Err(
                    classify("stepfunctions", "StartExecution", &e).about(format!("state machine {state_machine_arn}"))
                );
            }
        }
    }
    Err(StepError::StaleExecution {
        tenant: tenant.to_string(),
        message: format!("{MAX_SKIPPED} ended executions in a row were refused; look at `tenantctl status {tenant}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offboarding_names_are_recognised_exactly() {
        assert!(is_offboarding_execution("acme", "acme-3-offboard-1795672879"));
        assert!(!is_offboarding_execution("acme", "acme-3"));
        // A tenant whose id contains "offboard" is not confused with its offboardings.
        assert!(!is_offboarding_execution("my-offboard-app", "my-offboard-app-1"));
        assert!(is_offboarding_execution(
            "my-offboard-app",
            "my-offboard-app-1-offboard-17"
        ));
        assert!(!is_offboarding_execution("acme", "acme-labs-1-offboard-17"));
    }

    #[test]
    fn execution_arn_from_state_machine_arn() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:tenant-onboarding",
                "acme-1"
            ),
            "arn:aws:states:us-east-1:123456789012:execution:tenant-onboarding:acme-1"
        );
    }
}
