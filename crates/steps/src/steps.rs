//! The forward steps of onboarding. Each converges: re-running it after success or after
//! a partial earlier run leaves the same state and never fails on "already exists".

use aws_sdk_iam::types::Tag as IamTag;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_secretsmanager::types::Tag as SecretTag;
use serde_json::{Value, json};
use tenant_domain::mapping::admits_another;
use tenant_domain::names::{INLINE_POLICY_NAME, TAG_KEY};
use tenant_domain::policy::{tenant_policy, trust_policy};
use tenant_domain::{MappingType, Status, TenantId, TenantNames};
use tracing::info;

use crate::error::classify;
use crate::mapping;
use crate::ownership::require_tenant_tag;
use crate::record::{self, Changes};
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

pub async fn create_group(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    // Cognito groups take no tags; the description carries the tenant id instead.
    let result = ctx
        .clients
        .idp
        .create_group()
        .user_pool_id(&ctx.settings.user_pool_id)
        .group_name(&names.group)
        .description(group_description(&tenant))
        .send()
        .await;
    let created = match result {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_group_exists_exception()) => false,
        Err(e) => return Err(classify("cognito-idp", "CreateGroup", &e)),
    };
    info!(group = %names.group, created, "group ready");
    Ok(json!({ "group": names.group, "created": created }))
}

pub fn group_description(tenant: &TenantId) -> String {
    format!("{TAG_KEY}={tenant}")
}

pub async fn create_role(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let iam = &ctx.clients.iam;
    let trust = trust_policy(&ctx.settings.identity_pool_id).to_string();
    let tag = IamTag::builder()
        .key(TAG_KEY)
        .value(tenant.as_str())
        .build()
        .map_err(StepError::internal)?;
    let result = iam
        .create_role()
        .role_name(&names.role_name)
        .path(names.role_path)
        .assume_role_policy_document(&trust)
        .permissions_boundary(&ctx.settings.boundary_arn)
        .description(format!("Tenant {tenant}: its own secret and S3 prefix only"))
        .tags(tag.clone())
        .send()
        .await;
    let (role_arn, created) = match result {
        Ok(out) => (out.role().map(|r| r.arn().to_string()), true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_entity_already_exists_exception()) =>
        {
            (None, false)
        }
        Err(e) => return Err(classify("iam", "CreateRole", &e)),
    };
    let role_arn = match role_arn {
        Some(arn) => arn,
        None => converge_existing_role(ctx, &tenant, &names, &trust, tag).await?,
    };
    let policy = tenant_policy(&tenant, &ctx.settings.deployment()).to_json();
    iam.put_role_policy()
        .role_name(&names.role_name)
        .policy_name(INLINE_POLICY_NAME)
        .policy_document(policy)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            // A role created a moment ago may not be visible to the next call yet.
            Some(se) if se.is_no_such_entity_exception() => StepError::IamNotPropagated {
                service: "iam",
                operation: "PutRolePolicy",
                message: se.to_string(),
            },
            _ => classify("iam", "PutRolePolicy", &e),
        })?;
    info!(role = %role_arn, created, "role ready");
    Ok(json!({ "role_arn": role_arn, "created": created }))
}

/// A role with the tenant's name already exists: make it exactly what onboarding would
/// have created, or refuse if it is not a tenant role at all.
async fn converge_existing_role(
    ctx: &Context,
    tenant: &TenantId,
    names: &TenantNames,
    trust: &str,
    tag: IamTag,
) -> Result<String, StepError> {
    let iam = &ctx.clients.iam;
    // CreateRole just said the role exists: a read that cannot see it is IAM lagging.
    let out = iam
        .get_role()
        .role_name(&names.role_name)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(se) if se.is_no_such_entity_exception() => StepError::IamNotPropagated {
                service: "iam",
                operation: "GetRole",
                message: se.to_string(),
            },
            _ => classify("iam", "GetRole", &e),
        })?;
    let role = out.role().ok_or_else(|| StepError::IamNotPropagated {
        service: "iam",
        operation: "GetRole",
        message: "role not returned".into(),
    })?;
    if role.path() != names.role_path {
        return Err(StepError::ResourceConflict {
            tenant: tenant.to_string(),
            message: format!(
                "role {} exists under path {} instead of {}; it was not created by onboarding — rename or delete it",
                names.role_name,
                role.path(),
                names.role_path
            ),
        });
    }
    require_tenant_tag(
        tenant,
        &format!("role {}", names.role_name),
        role.tags().iter().map(|t| (t.key(), t.value())),
        "it was not created by onboarding — rename or delete it",
    )?;
    // Whatever else was attached since is removed: the role must grant exactly the
    // tenant policy and nothing another attempt or a person added.
    crate::teardown::strip_policies(ctx, &names.role_name, Some(INLINE_POLICY_NAME), false).await?;
    iam.update_assume_role_policy()
        .role_name(&names.role_name)
        .policy_document(trust)
        .send()
        .await
        .map_err(|e| classify("iam", "UpdateAssumeRolePolicy", &e))?;
    iam.put_role_permissions_boundary()
        .role_name(&names.role_name)
        .permissions_boundary(&ctx.settings.boundary_arn)
        .send()
        .await
        .map_err(|e| classify("iam", "PutRolePermissionsBoundary", &e))?;
    iam.tag_role()
        .role_name(&names.role_name)
        .tags(tag)
        .send()
        .await
        .map_err(|e| classify("iam", "TagRole", &e))?;
    Ok(role.arn().to_string())
}

pub async fn create_secret(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let sm = &ctx.clients.secrets;
    let tag = SecretTag::builder().key(TAG_KEY).value(tenant.as_str()).build();

    // An earlier attempt's secret may exist, possibly scheduled for deletion.
    match sm.describe_secret().secret_id(&names.secret_name).send().await {
        Ok(existing) => {
            // Adopt only a secret onboarding made for this tenant: anything else under the
            // name would otherwise be re-tagged and later deleted as the tenant's.
            require_tenant_tag(
                &tenant,
                &format!("secret {}", names.secret_name),
                secret_tags(existing.tags()),
                "rename or delete it",
            )?;
            if existing.deleted_date().is_some() {
                sm.restore_secret()
                    .secret_id(&names.secret_name)
                    .send()
                    .await
                    .map_err(|e| secret_not_settled(classify("secretsmanager", "RestoreSecret", &e)))?;
            }
            sm.tag_resource()
                .secret_id(&names.secret_name)
                .tags(tag)
                .send()
                .await
                .map_err(|e| classify("secretsmanager", "TagResource", &e))?;
            let arn = existing.arn().unwrap_or_default().to_string();
            info!(secret = %arn, created = false, "secret ready");
            return Ok(json!({ "secret_arn": arn, "created": false }));
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) => {}
        Err(e) => return Err(classify("secretsmanager", "DescribeSecret", &e)),
    }
    let value = sm
        .get_random_password()
        .password_length(40)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|e| classify("secretsmanager", "GetRandomPassword", &e))?
        .random_password()
        .unwrap_or_default()
        .to_string();
    let secret = json!({ "tenant_id": tenant, "api_key": value }).to_string();
    let result = sm
        .create_secret()
        .name(&names.secret_name)
        .description(format!("Tenant {tenant} application secret"))
        .secret_string(secret)
        .tags(tag)
        .send()
        .await;
    let arn = match result {
        Ok(out) => out.arn().unwrap_or_default().to_string(),
        // A concurrent run of this step won the race: its secret is the tenant's.
        Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_exists_exception()) => {
            return Box::pin(create_secret(ctx, input)).await;
        }
        Err(e) => return Err(secret_not_settled(classify("secretsmanager", "CreateSecret", &e))),
    };
    info!(secret = %arn, created = true, "secret ready");
    Ok(json!({ "secret_arn": arn, "created": true }))
}

/// A secret's tags as (key, value) pairs.
pub(crate) fn secret_tags(tags: &[SecretTag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
}

/// Secrets Manager deletes asynchronously: right after a rollback force-deleted the
/// secret, creating or restoring it is refused for a short while. That clears by itself.
fn secret_not_settled(e: StepError) -> StepError {
    match e {
        StepError::AwsRequestFailed {
            service,
            operation,
            code,
            message,
        } if code == "InvalidRequestException" && message.contains("deletion") => StepError::ServiceUnavailable {
            service,
            operation,
            message,
        },
        other => other,
    }
}

pub async fn create_prefix(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let marker = json!({ "tenant_id": tenant, "prefix": names.prefix }).to_string();
    ctx.clients
        .s3
        .put_object()
        .bucket(&ctx.settings.bucket)
        .key(&names.marker_key)
        .content_type("application/json")
        .tagging(format!("{TAG_KEY}={tenant}"))
        .body(ByteStream::from(marker.into_bytes()))
        .send()
        .await
        .map_err(|e| classify("s3", "PutObject", &e))?;
    info!(prefix = %names.prefix, "prefix ready");
    Ok(json!({ "prefix": names.prefix, "marker": names.marker_key }))
}

/// Adds the tenant to the identity pool's role mapping: marks the record as mapped, then
/// rebuilds the whole mapping from the table under the mapping lock.
pub async fn rebuild_role_mappings(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let names = TenantNames::new(&tenant);
    let role_arn = names.role_arn(&ctx.settings.partition, &ctx.settings.account_id);
    if ctx.settings.mapping_type == MappingType::Token {
        // Token type: the group carries the role, the ID token's preferred_role picks it.
        ctx.clients
            .idp
            .update_group()
            .user_pool_id(&ctx.settings.user_pool_id)
            .group_name(&names.group)
            .description(group_description(&tenant))
            .role_arn(&role_arn)
            .precedence(0)
            .send()
            .await
            .map_err(|e| classify("cognito-idp", "UpdateGroup", &e))?;
    }
    let change = mapping::Membership {
        tenant: &tenant,
        execution: &input.execution,
        mapped: true,
    };
    let mapped = mapping::update(ctx, &input.execution, Some(change)).await?;
    info!(?mapped, mapping_type = ?ctx.settings.mapping_type, "role mapping reconciled");
    Ok(json!({ "role_arn": role_arn, "mapped_tenants": mapped }))
}

/// The end of a successful onboarding. Everything that can fail comes before the ACTIVE
/// write, so a failure here is compensated like any other step's (teardown removes the
/// admin user too): create the admin user and put it in the group, publish
/// `TenantOnboarded`, then move the record to ACTIVE. A retry repeats the publish
/// (consumers deduplicate on the execution); the event may precede the ACTIVE write by a
/// moment.
pub async fn record_active(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let email = match &input.email {
        Some(e) => Some(e.clone()),
        None => record::get(ctx, tenant.as_str()).await?.and_then(|r| r.email),
    };
    let user_created = match &email {
        Some(e) => Some(crate::users::ensure_admin(ctx, &tenant, e).await?),
        None => None,
    };
    let detail = crate::events::onboarded_detail(&tenant, input, email.as_deref());
    crate::events::publish(ctx, crate::events::TENANT_ONBOARDED, &detail).await?;
    // Once active again, the tenant's data is this attempt's: a later rollback or
    // offboarding decides afresh what to keep.
    let changes = Changes::default()
        .remove("retain_data")
        .attempt_ended(input, Status::Active);
    record::transition(ctx, &tenant, &input.execution, Status::Active, changes).await?;
    info!(status = "ACTIVE", ?user_created, "tenant active");
    Ok(json!({ "status": Status::Active, "admin_user_created": user_created }))
}
