//! What exists for a tenant, read live from AWS rather than from our records: for
//! operators, for residue checks, and for naming what a failed rollback left behind.

use serde::Serialize;
use tenant_domain::names::INLINE_POLICY_NAME;
use tenant_domain::{MappingType, TenantId, TenantNames};

use crate::error::classify;
use crate::{Context, StepError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub group: bool,
    pub role_arn: Option<String>,
    pub role_boundary: Option<String>,
    pub inline_policy: bool,
    pub secret_arn: Option<String>,
    pub prefix_objects: usize,
    pub mapped: bool,
}

impl Resources {
    /// Names of what exists, for residue reports.
    pub fn present(&self) -> Vec<&'static str> {
        let mut out = vec![];
        if self.group {
            out.push("group");
        }
        if self.role_arn.is_some() {
            out.push("role");
        }
        if self.inline_policy {
            out.push("role policy");
        }
        if self.secret_arn.is_some() {
            out.push("secret");
        }
        if self.prefix_objects > 0 {
            out.push("prefix objects");
        }
        if self.mapped {
            out.push("mapping rule");
        }
        out
    }
}

pub async fn inspect(ctx: &Context, tenant: &TenantId) -> Result<Resources, StepError> {
    let c = &ctx.clients;
    let s = &ctx.settings;
    let names = TenantNames::new(tenant);
    let group = c
        .idp
        .get_group()
        .user_pool_id(&s.user_pool_id)
        .group_name(&names.group)
        .send()
        .await;
    let group = match group {
        Ok(g) => Some(g),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(classify("cognito-idp", "GetGroup", &e)),
    };
    let (role_arn, role_boundary) = match c.iam.get_role().role_name(&names.role_name).send().await {
        Ok(out) => {
            let role = out.role();
            (
                role.map(|r| r.arn().to_string()),
                role.and_then(|r| r.permissions_boundary())
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_string),
            )
        }
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => (None, None),
        Err(e) => return Err(classify("iam", "GetRole", &e)),
    };
    let inline_policy = match c
        .iam
        .get_role_policy()
        .role_name(&names.role_name)
        .policy_name(INLINE_POLICY_NAME)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => false,
        Err(e) => return Err(classify("iam", "GetRolePolicy", &e)),
    };
    let secret_arn = match c.secrets.describe_secret().secret_id(&names.secret_name).send().await {
        Ok(d) if d.deleted_date().is_none() => d.arn().map(str::to_string),
        Ok(_) => None,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(classify("secretsmanager", "DescribeSecret", &e)),
    };
    let listed =
        c.s3.list_objects_v2()
            .bucket(&s.bucket)
            .prefix(&names.prefix)
            .send()
            .await
            .map_err(|e| classify("s3", "ListObjectsV2", &e))?;
    let prefix_objects = listed.key_count().unwrap_or(0).max(0) as usize;
    let mapping = crate::mapping::provider_mapping(ctx).await?;
    let mapped = match s.mapping_type {
        MappingType::Rules => mapping
            .as_ref()
            .and_then(|m| m.rules_configuration())
            .is_some_and(|rc| rc.rules().iter().any(|r| r.value() == names.group)),
        MappingType::Token => {
            mapping.is_some()
                && group
                    .as_ref()
                    .and_then(|g| g.group())
                    .and_then(|g| g.role_arn())
                    .is_some()
        }
    };
    Ok(Resources {
        group: group.is_some(),
        role_arn,
        role_boundary,
        inline_policy,
        secret_arn,
        prefix_objects,
        mapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed read names the service and operation that failed, not "inspect read".
    #[tokio::test]
    async fn errors_name_the_real_service_and_operation() {
        let ctx = Context::offline();
        let err = inspect(&ctx, &TenantId::parse("acme").unwrap()).await.unwrap_err();
        match err {
            StepError::ServiceUnavailable { service, operation, .. } => {
                assert_eq!((service, operation), ("cognito-idp", "GetGroup"));
            }
            other => panic!("expected ServiceUnavailable, got {other:?}"),
        }
    }
}
