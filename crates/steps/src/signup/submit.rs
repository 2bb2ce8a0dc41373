//! The one start path of the form and the event: record PENDING, then start onboarding.

use serde::Serialize;
use tenant_domain::Status;
use tenant_domain::signup::Signup;

use crate::launch::{execution_name, start_onboarding};
use crate::{Context, StepError, record};

/// Where a signup came from; kept on the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Form,
    Event,
    /// The user pool's post-confirmation trigger: the admin proved the email first.
    Confirmed,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Form => "signup-form",
            Source::Event => "signup-event",
            Source::Confirmed => "signup-confirmed",
        }
    }
}

/// What became of a valid signup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SignupOutcome {
    /// Onboarding was started, or this same request had already started it.
    Accepted {
        tenant_id: String,
        execution: String,
        attempt: u32,
        status: Status,
        repeated: bool,
    },
    /// Another signup (or an operator) holds the id. `held_by` describes the winning
    /// request for operators (logs, the event's result); never shown on the public page,
    /// where it would disclose another customer's company name and admin email.
    Taken { tenant_id: String, held_by: String },
}

/// The request that holds a record, as an operator finds it: status, company name, admin
/// email, execution.
pub fn held_by(r: &record::TenantRecord) -> String {
    format!(
        "{} (company name {}, admin email {}), execution {}",
        r.status,
        r.company_name.as_deref().unwrap_or("-"),
        r.admin_email.as_deref().unwrap_or("-"),
        r.execution
    )
}

/// The shared start path: record PENDING where no record exists, then start the
/// execution. A repeat of an accepted request converges on the same tenant and execution.
pub async fn submit(
    ctx: &Context,
    onboarding_arn: &str,
    signup: &Signup,
    source: Source,
) -> Result<SignupOutcome, StepError> {
    let tenant = &signup.tenant_id;
    let execution = execution_name(tenant, 1);
    if record::put_pending(ctx, signup, &execution, 1, source.as_str()).await? {
        let launched = start_onboarding(
            ctx,
            onboarding_arn,
            tenant,
            Some(&signup.company_name),
            Some(&signup.admin_email),
            1,
            // A name whose execution ended long ago (a refused earlier life of the id)
            // must not block it.
            true,
        )
        .await?;
        if launched.attempt != 1 {
            record::set_pending_execution(ctx, tenant, &launched.execution_name, launched.attempt).await?;
        }
        tracing::info!(tenant = %tenant, execution = %launched.execution_name, source = source.as_str(), "signup started onboarding");
        return Ok(SignupOutcome::Accepted {
            tenant_id: tenant.to_string(),
            execution: launched.execution_name,
            attempt: launched.attempt,
            status: Status::Pending,
            repeated: false,
        });
    }
    let existing = match holder(ctx, signup).await? {
        Ok(existing) => existing,
        Err(taken) => return Ok(taken),
    };
    if existing.status == Status::Pending {
        // The first request may have failed between the record and the start: start the
        // same execution again (idempotent for the same name and input). An execution
        // that already ran is left alone.
        match start_onboarding(
            ctx,
            onboarding_arn,
            tenant,
            Some(&signup.company_name),
            Some(&signup.admin_email),
            existing.attempt,
            false,
        )
        .await
        {
            Ok(_) | Err(StepError::StaleExecution { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(SignupOutcome::Accepted {
        tenant_id: tenant.to_string(),
        execution: existing.execution,
        attempt: existing.attempt,
        status: existing.status,
        repeated: true,
    })
}

/// The record that holds a signup's id when its claim lost: `Ok` when it is this same
/// request (a repeat), `Err(Taken)` when it is another's.
async fn holder(ctx: &Context, signup: &Signup) -> Result<Result<record::TenantRecord, SignupOutcome>, StepError> {
    let tenant = &signup.tenant_id;
    let Some(existing) = record::get(ctx, tenant.as_str()).await? else {
        // Removed between the write and the read: too rare to be worth a loop.
        return Err(StepError::ServiceUnavailable {
            service: "dynamodb",
            operation: "GetItem",
            message: format!("the record of {tenant} changed while signing up; try again"),
        });
    };
    let same = existing.company_name.as_deref() == Some(signup.company_name.as_str())
        && existing.admin_email.as_deref() == Some(signup.admin_email.as_str());
    if !same {
        let held_by = held_by(&existing);
        tracing::info!(tenant = %tenant, held_by, "signup refused: id taken");
        return Ok(Err(SignupOutcome::Taken {
            tenant_id: tenant.to_string(),
            held_by,
        }));
    }
    Ok(Ok(existing))
}

/// Approve mode's path: the id is held for the request as PENDING_APPROVAL and nothing is
/// started; `tenantctl approve` starts onboarding through the start path, `tenantctl
/// reject` frees the id. A repeat of the held request is the same hold (or, once
/// approved, the same onboarding).
pub async fn hold(ctx: &Context, signup: &Signup, source: Source) -> Result<SignupOutcome, StepError> {
    let tenant = &signup.tenant_id;
    let execution = execution_name(tenant, 1);
    let claim = record::Claim {
        tenant,
        company_name: Some(&signup.company_name),
        admin_email: Some(&signup.admin_email),
        execution: &execution,
        attempt: 1,
        source: source.as_str(),
    };
    if record::hold(ctx, &claim).await? {
        tracing::info!(tenant = %tenant, source = source.as_str(), "signup held for an operator's approval");
        return Ok(SignupOutcome::Accepted {
            tenant_id: tenant.to_string(),
            execution,
            attempt: 1,
            status: Status::PendingApproval,
            repeated: false,
        });
    }
    Ok(match holder(ctx, signup).await? {
        Ok(existing) => SignupOutcome::Accepted {
            tenant_id: tenant.to_string(),
            execution: existing.execution,
            attempt: existing.attempt,
            status: existing.status,
            repeated: true,
        },
        Err(taken) => taken,
    })
}
