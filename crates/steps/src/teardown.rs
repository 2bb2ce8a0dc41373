//! The record steps of teardown, shared by the compensation of a failed onboarding and
//! by offboarding. The steps that delete a tenant resource live with the resource, in
//! [`crate::resources`]; each treats "not found" at any level as done.

use serde_json::{Value, json};
use tenant_domain::Status;

use crate::record::{self, Changes};
use crate::{Context, StepError, StepInput, resources};

fn failure_changes(input: &StepInput) -> Changes {
    let mut c = Changes::default();
    if let Some(step) = &input.failed_step {
        c = c.set_s("failed_step", step.clone());
    }
    if let Some(f) = &input.failure {
        c = c
            .set_s("error_name", f.error.clone())
            .set_s("error_message", f.message());
    }
    c
}

/// First step of compensation: the attempt that owns the record declares it is rolling
/// back. A stale execution fails here, before it could delete a newer attempt's resources.
pub async fn record_rolling_back(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    if record::get(ctx, tenant.as_str()).await?.is_none() {
        // The first step failed before writing anything: nothing of ours to roll back,
        // but the record still has to say FAILED, so create it owned by this execution.
        record::start_attempt(ctx, &tenant, input).await?;
    }
    record::transition(
        ctx,
        &tenant,
        &input.execution,
        Status::RollingBack,
        failure_changes(input),
    )
    .await?;
    Ok(json!({ "status": Status::RollingBack }))
}

/// First step of offboarding: takes the record over from whichever attempt left it
/// settled (ACTIVE, FAILED or ROLLBACK_FAILED), or from `stale_owner`, an execution that
/// `tenantctl` has checked has stopped.
pub async fn record_offboarding(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let stale_owner = input.offboard.as_ref().and_then(|o| o.stale_owner.as_deref());
    record::take_over(
        ctx,
        &tenant,
        &input.execution,
        input.attempt,
        Status::Offboarding,
        stale_owner,
    )
    .await?;
    Ok(json!({ "status": Status::Offboarding }))
}

/// Compensation is complete: record FAILED, then publish `TenantOnboardingFailed`. The
/// record settles first so an unreachable bus cannot turn a clean rollback into
/// ROLLBACK_FAILED; a retry (transient publish errors) re-writes FAILED idempotently and
/// publishes again.
pub async fn record_failed(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let changes = failure_changes(input).attempt_ended(input, Status::Failed);
    record::transition(ctx, &tenant, &input.execution, Status::Failed, changes).await?;
    let detail = crate::events::failed_detail(&tenant, input);
    crate::events::publish(ctx, crate::events::TENANT_ONBOARDING_FAILED, &detail).await?;
    Ok(json!({ "status": Status::Failed }))
}

/// The first step refused the attempt before creating anything (no room in a Rules
/// mapping): a signup's PENDING record owned by this execution becomes FAILED, and
/// `TenantOnboardingFailed` tells whoever asked. A record of another attempt is left alone.
pub async fn record_refused(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let mut input = input.clone();
    // The state that refused, as the ASL names it (the Catch sends no Pass state here).
    input.failed_step = Some("RecordProvisioning".to_string());
    let owned = record::get(ctx, tenant.as_str())
        .await?
        .is_some_and(|r| r.status == Status::Pending && r.execution == input.execution);
    if owned {
        let changes = failure_changes(&input).attempt_ended(&input, Status::Failed);
        record::transition(ctx, &tenant, &input.execution, Status::Failed, changes).await?;
    }
    let detail = crate::events::failed_detail(&tenant, &input);
    crate::events::publish(ctx, crate::events::TENANT_ONBOARDING_FAILED, &detail).await?;
    Ok(json!({ "status": if owned { Some(Status::Failed) } else { None } }))
}

pub async fn record_offboarded(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    // A later re-onboarding of this tenant finds its secret (within the recovery window)
    // and perhaps its objects again; if that attempt fails, its rollback must not
    // destroy them.
    let changes = Changes::default()
        .set("retain_data", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
        .remove("failed_step")
        .remove("error_name")
        .remove("error_message");
    record::transition(ctx, &tenant, &input.execution, Status::Offboarded, changes).await?;
    Ok(json!({ "status": Status::Offboarded }))
}

/// The teardown itself failed: name what is left so nothing is silently abandoned.
pub async fn record_rollback_failed(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    // Record the failure even if part of what remains cannot be read right now: a
    // resource that cannot be read is named as unknown, with the reason.
    let remaining = resources::inspect(ctx, &tenant).await.present();
    let left: Vec<_> = remaining
        .iter()
        .map(|s| aws_sdk_dynamodb::types::AttributeValue::S(s.clone()))
        .collect();
    let mut changes = failure_changes(input)
        .set("remaining", aws_sdk_dynamodb::types::AttributeValue::L(left))
        .attempt_ended(input, Status::RollbackFailed);
    if let Some(f) = &input.rollback_failure {
        changes = changes.set_s("rollback_error", format!("{}: {}", f.error, f.message()));
    }
    record::transition(ctx, &tenant, &input.execution, Status::RollbackFailed, changes).await?;
    Ok(json!({ "status": Status::RollbackFailed, "remaining": remaining }))
}
