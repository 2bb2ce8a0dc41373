//! Teardown steps, shared by the compensation of a failed onboarding and by offboarding.
//! Each removes one kind of resource by its deterministic name and treats "not found"
//! as done, so it can run after any partial forward run, or twice.

use crate::ownership::require_tenant_tag;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde_json::{Value, json};
use tenant_domain::{Status, TenantNames};
use tracing::info;

use crate::error::classify;
use crate::record::{self, Changes};
use crate::{Context, StepError, StepInput, inspect, mapping};

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

pub async fn remove_role_mapping(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let change = mapping::Membership {
        tenant: &tenant,
        execution: &input.execution,
        mapped: false,
    };
    let mapped = mapping::update(ctx, &input.execution, Some(change)).await?;
    info!(?mapped, "tenant removed from the role mapping");
    Ok(json!({ "mapped_tenants": mapped }))
}

pub async fn delete_role(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let iam = &ctx.clients.iam;
    // Inline and attached policies must go before the role can.
    let role = match iam.get_role().role_name(&names.role_name).send().await {
        Ok(out) => out.role().cloned(),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
            return Ok(json!({ "deleted": false }));
        }
        Err(e) => return Err(classify("iam", "GetRole", &e)),
    };
    // Never delete a role with the tenant's name that onboarding did not create.
    require_tenant_tag(
        &tenant,
        &format!("role {}", names.role_name),
        role.iter().flat_map(|r| r.tags()).map(|t| (t.key(), t.value())),
        "left in place",
    )?;
    strip_policies(ctx, &names.role_name, None, true).await?;
    match iam.delete_role().role_name(&names.role_name).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {}
        Err(e) => return Err(classify("iam", "DeleteRole", &e)),
    }
    info!(role = %names.role_name, "role deleted");
    Ok(json!({ "deleted": true }))
}

async fn retains_data(ctx: &Context, tenant: &tenant_domain::TenantId) -> Result<bool, StepError> {
    Ok(record::get(ctx, tenant.as_str()).await?.is_some_and(|r| r.retain_data))
}

/// Deletes every inline policy of a role except `keep`, and detaches every managed
/// policy. A role that no longer exists has nothing left to strip.
///
/// `missing_ok`: during teardown a vanished role is done; while converging a role that was
/// just reported to exist, it is IAM lagging and must be retried, not skipped.
pub async fn strip_policies(
    ctx: &Context,
    role_name: &str,
    keep: Option<&str>,
    missing_ok: bool,
) -> Result<(), StepError> {
    let iam = &ctx.clients.iam;
    let gone = |op: &'static str, msg: String| {
        if missing_ok {
            Ok(())
        } else {
            Err(StepError::IamNotPropagated {
                service: "iam",
                operation: op,
                message: msg,
            })
        }
    };
    let inline = match iam.list_role_policies().role_name(role_name).send().await {
        Ok(out) => out.policy_names().to_vec(),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
            return gone("ListRolePolicies", e.to_string());
        }
        Err(e) => return Err(classify("iam", "ListRolePolicies", &e)),
    };
    for policy in inline.iter().filter(|p| Some(p.as_str()) != keep) {
        match iam
            .delete_role_policy()
            .role_name(role_name)
            .policy_name(policy)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {}
            Err(e) => return Err(classify("iam", "DeleteRolePolicy", &e)),
        }
    }
    let attached = match iam.list_attached_role_policies().role_name(role_name).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {
            return gone("ListAttachedRolePolicies", e.to_string());
        }
        Err(e) => return Err(classify("iam", "ListAttachedRolePolicies", &e)),
    };
    for arn in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
        match iam
            .detach_role_policy()
            .role_name(role_name)
            .policy_arn(arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => {}
            Err(e) => return Err(classify("iam", "DetachRolePolicy", &e)),
        }
    }
    Ok(())
}

pub async fn delete_secret(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let sm = &ctx.clients.secrets;
    let existing = match sm.describe_secret().secret_id(&names.secret_name).send().await {
        Ok(d) => d,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            return Ok(json!({ "deleted": false }));
        }
        Err(e) => return Err(classify("secretsmanager", "DescribeSecret", &e)),
    };
    // Never delete a secret that is not the tenant's own.
    require_tenant_tag(
        &tenant,
        &format!("secret {}", names.secret_name),
        crate::steps::secret_tags(existing.tags()),
        "left in place",
    )?;
    let req = sm.delete_secret().secret_id(&names.secret_name);
    let (req, recovery) = match &input.offboard {
        // Offboarding keeps a recovery window; a tenant that never became ACTIVE has
        // nothing anyone could want back.
        Some(o) => (
            req.recovery_window_in_days(o.secret_recovery_days),
            Some(o.secret_recovery_days),
        ),
        None if existing.deleted_date().is_some() => return Ok(json!({ "deleted": true })),
        // The secret predates this attempt (restored from an offboarding): give it back
        // its recovery window instead of destroying it.
        None if retains_data(ctx, &tenant).await? => (req.recovery_window_in_days(7), Some(7)),
        None => (req.force_delete_without_recovery(true), None),
    };
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) => {}
        // Already scheduled for deletion: nothing more to do.
        Err(e)
            if e.as_service_error().is_some_and(|se| se.is_invalid_request_exception())
                && existing.deleted_date().is_some() => {}
        Err(e) => return Err(classify("secretsmanager", "DeleteSecret", &e)),
    }
    info!(secret = %names.secret_name, ?recovery, "secret deleted");
    Ok(json!({ "deleted": true, "recovery_days": recovery }))
}

pub async fn delete_prefix(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    if input.offboard.as_ref().is_some_and(|o| o.keep_prefix) {
        return Ok(json!({ "kept": names.prefix }));
    }
    let s3 = &ctx.clients.s3;
    if input.offboard.is_none() && retains_data(ctx, &tenant).await? {
        // Rolling back a re-onboarding: the objects predate this attempt; only the
        // marker is ours.
        s3.delete_object()
            .bucket(&ctx.settings.bucket)
            .key(&names.marker_key)
            .send()
            .await
            .map_err(|e| classify("s3", "DeleteObject", &e))?;
        return Ok(json!({ "kept": names.prefix, "deleted_objects": 1 }));
    }
    let mut deleted = 0usize;
    loop {
        // Re-list from the start each round: deleting while paginating would skip keys.
        let page = s3
            .list_objects_v2()
            .bucket(&ctx.settings.bucket)
            .prefix(&names.prefix)
            .max_keys(1000)
            .send()
            .await
            .map_err(|e| classify("s3", "ListObjectsV2", &e))?;
        let keys: Vec<ObjectIdentifier> = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        if keys.is_empty() {
            break;
        }
        deleted += keys.len();
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .map_err(StepError::internal)?;
        let out = s3
            .delete_objects()
            .bucket(&ctx.settings.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| classify("s3", "DeleteObjects", &e))?;
        if let Some(err) = out.errors().first() {
            let message = format!("{}: {}", err.key().unwrap_or(""), err.message().unwrap_or(""));
            return Err(crate::error::classify_code(
                "s3",
                "DeleteObjects",
                err.code().unwrap_or("Unknown"),
                None,
                message,
            ));
        }
    }
    info!(prefix = %names.prefix, deleted, "prefix emptied");
    Ok(json!({ "deleted_objects": deleted }))
}

pub async fn delete_group(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    // A Verify step that crashed may have left its probe user; deleting the group would
    // not delete the user.
    crate::probe::sweep(ctx, &tenant).await?;
    // The tenant's users go with its group; a groupless admin user is this attempt's
    // only during compensation (RecordActive failed between creating and adding it).
    let admin_email = if input.offboard.is_none() {
        match &input.email {
            Some(e) => Some(e.clone()),
            None => record::get(ctx, tenant.as_str()).await?.and_then(|r| r.email),
        }
    } else {
        None
    };
    let users_deleted = crate::users::remove_tenant_users(ctx, &tenant, admin_email.as_deref()).await?;
    let result = ctx
        .clients
        .idp
        .delete_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(&names.group)
        .send()
        .await;
    let deleted = match result {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(classify("cognito-idp", "DeleteGroup", &e)),
    };
    Ok(json!({ "deleted": deleted, "users_deleted": users_deleted }))
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
    // Record the failure even if what remains cannot be read right now.
    let remaining = match inspect::inspect(ctx, &tenant).await {
        Ok(r) => r.present().into_iter().map(str::to_string).collect::<Vec<_>>(),
        Err(e) => vec![format!("unknown (could not inspect: {e})")],
    };
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
