//! The tenant's entry in the identity pool's role mapping: a rule for its group (Rules
//! mode) or the role on its group (Token mode).

use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::{MappingType, TenantId, TenantNames};
use tracing::info;

use super::access::{Attempt, Reach};
use super::group::group_description;
use super::{Drift, Observation, Row, TenantResource, not_found_row};
use crate::error::classify;
use crate::{Context, Settings, StepError, StepInput, mapping};

pub struct Mapping;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingObserved {
    /// The role the mapping gives the tenant's group.
    pub role_arn: String,
}

impl TenantResource for Mapping {
    /// Only modes with a per-tenant role map it; Abac's pool gives every identity the shared role.
    fn applies(mode: MappingType) -> bool {
        mode.has_tenant_role()
    }

    type Expected = String;

    /// The role the mapping must give the tenant's group.
    fn expected(tenant: &TenantId, settings: &Settings) -> String {
        TenantNames::new(tenant).role_arn(&settings.partition, &settings.account_id)
    }

    type Audited = MappingObserved;

    async fn audit_read(ctx: &Context, tenant: &TenantId) -> Observation<MappingObserved> {
        <Mapping as TenantResource>::inspect(ctx, tenant).await
    }

    /// Nothing per tenant: the provider's mapping is one document, which `audit` judges
    /// whole against the table (missing, extra and wrong rules, the type, the
    /// ambiguity rule). Read per tenant only to find a rule left in a mode without one.
    fn judge(_name: &str, _expected: &String, _audited: &Observation<MappingObserved>) -> Vec<Drift> {
        vec![]
    }

    type Observed = MappingObserved;

    fn name(tenant: &TenantId, settings: &Settings) -> String {
        format!("{} -> {}", settings.identity_pool_id, TenantNames::new(tenant).group)
    }

    async fn create(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        rebuild_role_mappings(ctx, input).await
    }

    async fn delete(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        remove_role_mapping(ctx, input).await
    }

    async fn inspect(ctx: &Context, tenant: &TenantId) -> Observation<MappingObserved> {
        let names = TenantNames::new(tenant);
        let mapping = match mapping::provider_mapping(ctx).await {
            Ok(m) => m,
            // The identity pool itself is gone: absent, as the teardown sees it.
            Err(e) if identity_pool_gone(&e) => {
                return Observation::Absent(format!("no identity pool {}", ctx.settings.identity_pool_id));
            }
            Err(e) => return Observation::unavailable(&e),
        };
        let Some(mapping) = mapping else {
            return Observation::Absent(format!(
                "no role mapping for the pool on {}",
                ctx.settings.identity_pool_id
            ));
        };
        let rule_role = || {
            mapping
                .rules_configuration()
                .and_then(|rc| {
                    rc.rules()
                        .iter()
                        .find(|r| tenant_domain::mapping::tenant_of_rule(r.claim(), r.value()).as_ref() == Some(tenant))
                })
                .map(|r| r.role_arn().to_string())
        };
        let role_arn = match ctx.settings.mapping_type {
            // Abac mode has no entry of its own: a rule left by a former Rules mode is
            // what can be found (a Token mode's group role is the group's finding).
            MappingType::Rules | MappingType::Abac => rule_role(),
            MappingType::Token => match super::group::get_group(ctx, &names.group).await {
                Ok(g) => g.and_then(|g| g.role_arn),
                Err(e) => return Observation::unavailable(&e),
            },
        };
        match role_arn {
            Some(role_arn) => Observation::Found(MappingObserved { role_arn }),
            None => Observation::Absent(match ctx.settings.mapping_type {
                MappingType::Rules | MappingType::Abac => format!("no rule for tenant_id {tenant}"),
                MappingType::Token => format!("no role on group {}", names.group),
            }),
        }
    }

    fn present(_observed: &MappingObserved) -> Vec<&'static str> {
        vec!["mapping rule"]
    }

    fn unusable(_observed: &MappingObserved) -> bool {
        false
    }

    fn rows(name: &str, observed: &Observation<MappingObserved>) -> Vec<Row> {
        vec![
            not_found_row("mapping", name, observed)
                .map(|r| Row {
                    state: "not mapped".into(),
                    ..r
                })
                .unwrap_or_else(|| Row::new("mapping", "mapped", name)),
        ]
    }

    /// Not used with a tenant's credentials: nothing to try.
    async fn reach(_ctx: &Context, _reach: &Reach<'_>) -> Vec<Attempt> {
        vec![]
    }

    const CENSUS_KIND: &'static str = "mapping rule";

    /// The rules of this deployment's provider, by the tenant each matches; the value is
    /// the tenant id it equals.
    async fn census(ctx: &Context) -> Result<Vec<(String, String)>, StepError> {
        Ok(mapping::mapped_rules(ctx)
            .await?
            .iter()
            .filter_map(|r| {
                tenant_domain::mapping::tenant_of_rule(r.claim(), r.value())
                    .map(|id| (id.to_string(), r.value().to_string()))
            })
            .collect())
    }

    fn census_name(tenant: &TenantId, _settings: &Settings) -> Option<String> {
        Some(tenant.to_string())
    }
}

/// Adds the tenant to the identity pool's role mapping: marks the record as mapped, then
/// rebuilds the whole mapping from the table under the mapping lock.
async fn rebuild_role_mappings(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
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
            .set_precedence(MappingType::Token.group_precedence())
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

/// Whether a cognito-identity call failed because the identity pool does not exist.
fn identity_pool_gone(e: &StepError) -> bool {
    matches!(e, StepError::AwsRequestFailed { service: "cognito-identity", code, .. } if code == "ResourceNotFoundException")
}

async fn remove_role_mapping(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let change = mapping::Membership {
        tenant: &tenant,
        execution: &input.execution,
        mapped: false,
    };
    let mapped = match mapping::update(ctx, &input.execution, Some(change)).await {
        Ok(m) => m,
        // The identity pool itself is gone: no mapping of it can name the tenant.
        Err(e) if identity_pool_gone(&e) => {
            let saw = format!("no identity pool {}", ctx.settings.identity_pool_id);
            info!(absent = %saw, "role mapping already gone");
            return Ok(json!({ "mapped_tenants": null, "absent": saw }));
        }
        Err(e) => return Err(e),
    };
    info!(?mapped, "tenant removed from the role mapping");
    Ok(json!({ "mapped_tenants": mapped }))
}
