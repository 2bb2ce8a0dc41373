//! What `GET /signup/{id}` shows: the record's status as a phase the page polls on.

use aws_sdk_sfn::types::ExecutionStatus;
use serde::Serialize;
use tenant_domain::{Status, TenantId};

use crate::launch::execution_arn;
use crate::{Context, StepError, record};

/// The coarse status the page shows; never the admin email or the company name (anyone
/// may ask about any id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub tenant_id: String,
    pub status: Status,
    /// `awaiting_approval`, `in_progress`, `active`, `failed` or `closed`: the page polls
    /// until neither of the first two (slowly while awaiting an operator).
    pub phase: &'static str,
    pub attempt: u32,
    pub message: String,
}

pub async fn progress(ctx: &Context, onboarding_arn: &str, tenant: &TenantId) -> Result<Option<Progress>, StepError> {
    let Some(rec) = record::get(ctx, tenant.as_str()).await? else {
        return Ok(None);
    };
    let (phase, message) = match rec.status {
        Status::Pending | Status::Provisioning => {
            // A refusal at the first step (e.g. no room for another tenant) ends the
            // execution without touching the record: ask Step Functions.
            match execution_ended(ctx, onboarding_arn, &rec.execution).await? {
                Some(status) => (
                    "failed",
                    format!(
                        "Setting up {tenant} stopped ({}); please contact support.",
                        status.as_str()
                    ),
                ),
                None => ("in_progress", format!("Setting up {tenant}…")),
            }
        }
        Status::PendingApproval => (
            "awaiting_approval",
            format!("Workspace {tenant} is waiting for an operator's approval; this page shows when it is set up."),
        ),
        Status::RollingBack => ("in_progress", format!("Setting up {tenant} failed; cleaning up…")),
        Status::Active => (
            "active",
            // Neutral across modes: in open mode the admin was emailed an invitation, in
            // verify mode they sign in with the password they chose.
            format!(
                "Workspace {tenant} is ready: its admin can sign in (with the password chosen at signup, or from the emailed invitation)."
            ),
        ),
        Status::Failed | Status::RollbackFailed => (
            "failed",
            format!("Setting up {tenant} failed; our operators have the details. Please contact support."),
        ),
        Status::Offboarding | Status::Offboarded => ("closed", format!("Workspace {tenant} has been closed.")),
    };
    Ok(Some(Progress {
        tenant_id: tenant.to_string(),
        status: rec.status,
        phase,
        attempt: rec.attempt,
        message,
    }))
}

/// The end status of an execution that is no longer running; `None` while it runs (or
/// has not started yet).
async fn execution_ended(
    ctx: &Context,
    onboarding_arn: &str,
    execution: &str,
) -> Result<Option<ExecutionStatus>, StepError> {
    let out = ctx
        .clients
        .sfn
        .describe_execution()
        .execution_arn(execution_arn(onboarding_arn, execution))
        .send()
        .await;
    match out {
        Ok(d) if *d.status() == ExecutionStatus::Running => Ok(None),
        Ok(d) => Ok(Some(d.status().clone())),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_does_not_exist()) => Ok(None),
        Err(e) => Err(crate::error::classify("stepfunctions", "DescribeExecution", &e)),
    }
}
