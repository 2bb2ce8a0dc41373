//! The record steps that open and close onboarding. The steps that create a tenant
//! resource live with the resource, in [`crate::resources`]; each converges: re-running it
//! after success or after a partial earlier run leaves the same state.

use serde_json::{Value, json};
use tenant_domain::mapping::admits_another;
use tenant_domain::{MappingType, Status};
use tracing::info;

use crate::mapping;
use crate::record::{self, Changes};
use crate::resources::users;
use crate::{Context, StepError, StepInput};

/// Creates the tenant record (status PROVISIONING) owned by this execution, after the
/// up-front check that a Rules-type mapping has room for one more tenant.
pub async fn record_provisioning(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    input.check_contact()?;
    if ctx.settings.mapping_type == MappingType::Rules {
        // Only mapped tenants count: counting those still provisioning could refuse two
        // concurrent newcomers when one would fit. The cap itself is enforced under the
        // mapping lock in RebuildRoleMappings.
        let others = mapping::mapped_tenants(ctx)
            .await?
            .into_iter()
            .filter(|t| t.tenant != tenant)
            .count();
        admits_another(MappingType::Rules, others).map_err(|e| StepError::RuleLimitReached {
            tenant: tenant.to_string(),
            message: format!("refused before anything was created: {e}"),
        })?;
    }
    record::start_attempt(ctx, &tenant, input).await?;
    info!(status = "PROVISIONING", "tenant record written");
    Ok(json!({ "status": Status::Provisioning }))
}

/// The end of a successful onboarding. Everything that can fail comes before the ACTIVE
/// write, so a failure here is compensated like any other step's (teardown removes the
/// admin user too): create the admin user and put it in the group, publish
/// `TenantOnboarded`, then move the record to ACTIVE. A retry repeats the publish
/// (consumers deduplicate on the execution); the event may precede the ACTIVE write by a
/// moment.
pub async fn record_active(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    // The tenant's first user (the Users resource's create), from the signup's admin email.
    let admin_email = users::admin_email(ctx, input, &tenant).await?;
    let user_created = users::ensure_first_user(ctx, &tenant, admin_email.as_deref()).await?;
    let detail = crate::events::onboarded_detail(&tenant, input, admin_email.as_deref());
    crate::events::publish(ctx, crate::events::TENANT_ONBOARDED, &detail).await?;
    // Once active again, the tenant's data is this attempt's: a later rollback or
    // offboarding decides afresh what to keep.
    let changes = Changes::default()
        .remove("retain_data")
        .set_s(record::attr::TEMPLATE_VERSION, ctx.settings.template_version())
        .attempt_ended(input, Status::Active);
    record::transition(ctx, &tenant, &input.execution, Status::Active, changes).await?;
    info!(status = "ACTIVE", ?user_created, "tenant active");
    Ok(json!({ "status": Status::Active, "admin_user_created": user_created }))
}
