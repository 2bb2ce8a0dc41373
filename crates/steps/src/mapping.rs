//! The identity pool's role mapping, rebuilt as a whole from the tenants table under a
//! lease lock. Deriving it from the table (rather than read-modify-write of the pool's
//! document) means a lost update is repaired by the next reconcile; the lock means two
//! reconciles never interleave their read and write.

use std::collections::HashMap;

use aws_sdk_cognitoidentity::operation::get_identity_pool_roles::GetIdentityPoolRolesOutput;
use aws_sdk_cognitoidentity::types::{
    AmbiguousRoleResolutionType, MappingRule as SdkRule, MappingRuleMatchType, RoleMapping, RoleMappingType,
    RulesConfigurationType,
};
use aws_sdk_dynamodb::types::AttributeValue;
use tenant_domain::mapping::{MappedTenant, MappingRule, MatchType, desired_mapping};
use tenant_domain::{MappingType, ProviderMapping, TenantId, TenantNames};

use crate::error::{classify, condition_held};
use crate::record::{LOCK_KEY, attr, now};
use crate::{Context, StepError};

/// The identity pool's roles and role mappings, as the service holds them now.
pub async fn pool_roles(ctx: &Context) -> Result<GetIdentityPoolRolesOutput, StepError> {
    ctx.clients
        .identity
        .get_identity_pool_roles()
        .identity_pool_id(&ctx.settings.identity_pool_id)
        .send()
        .await
        .map_err(|e| classify("cognito-identity", "GetIdentityPoolRoles", &e))
}

/// This deployment's provider's entry in the pool's role mappings, if any.
pub async fn provider_mapping(ctx: &Context) -> Result<Option<RoleMapping>, StepError> {
    let pool = pool_roles(ctx).await?;
    Ok(pool
        .role_mappings()
        .and_then(|m| m.get(&ctx.settings.provider_name()))
        .cloned())
}

/// The rules of this deployment's provider's mapping (none in Token mode or without one).
pub async fn mapped_rules(ctx: &Context) -> Result<Vec<SdkRule>, StepError> {
    Ok(provider_mapping(ctx)
        .await?
        .and_then(|m| m.rules_configuration().map(|rc| rc.rules().to_vec()))
        .unwrap_or_default())
}

/// A holder that crashed releases the lock by letting the lease run out. Longer than any
/// function's timeout (30 s in template.yaml), renewed right before the pool is written
/// (so a holder whose lease lapsed can never write a stale mapping), and well inside the
/// state machine's MappingLockBusy retry budget (~2 min).
pub const LEASE_SECONDS: u64 = 40;

/// A lock owner unique to one invocation: a step re-invoked while an earlier invocation
/// still runs must not share its lease.
pub fn lock_owner(label: &str) -> String {
    use std::hash::{BuildHasher, RandomState};
    format!(
        "{label}/{:016x}",
        RandomState::new().hash_one(std::time::SystemTime::now())
    )
}

pub async fn acquire(ctx: &Context, owner: &str) -> Result<(), StepError> {
    let t = now();
    let result = ctx
        .clients
        .ddb
        .put_item()
        .table_name(&ctx.settings.table)
        .item(attr::TENANT_ID, AttributeValue::S(LOCK_KEY.into()))
        .item(attr::LOCK_OWNER, AttributeValue::S(owner.into()))
        .item(
            attr::LOCK_EXPIRES_AT,
            AttributeValue::N((t + LEASE_SECONDS).to_string()),
        )
        .condition_expression("attribute_not_exists(tenant_id) OR expires_at < :now OR #o = :me")
        .expression_attribute_names("#o", attr::LOCK_OWNER)
        .expression_attribute_values(":now", AttributeValue::N(t.to_string()))
        .expression_attribute_values(":me", AttributeValue::S(owner.into()))
        .send()
        .await;
    if condition_held("PutItem", result)? {
        Ok(())
    } else {
        let holder = ctx
            .clients
            .ddb
            .get_item()
            .table_name(&ctx.settings.table)
            .key(attr::TENANT_ID, AttributeValue::S(LOCK_KEY.into()))
            .send()
            .await
            .ok()
            .and_then(|o| {
                o.item()
                    .and_then(|i| i.get(attr::LOCK_OWNER))
                    .and_then(|v| v.as_s().ok())
                    .cloned()
            })
            .unwrap_or_else(|| "another execution".into());
        Err(StepError::MappingLockBusy { holder })
    }
}

/// Extends our lease, failing if it is no longer ours.
async fn renew(ctx: &Context, owner: &str) -> Result<(), StepError> {
    let result = ctx
        .clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, AttributeValue::S(LOCK_KEY.into()))
        .update_expression("SET expires_at = :exp")
        .condition_expression("#o = :me")
        .expression_attribute_names("#o", attr::LOCK_OWNER)
        .expression_attribute_values(":me", AttributeValue::S(owner.into()))
        .expression_attribute_values(":exp", AttributeValue::N((now() + LEASE_SECONDS).to_string()))
        .send()
        .await;
    if condition_held("UpdateItem", result)? {
        Ok(())
    } else {
        Err(StepError::MappingLockBusy {
            holder: "another execution (our lease lapsed)".into(),
        })
    }
}

pub async fn release(ctx: &Context, owner: &str) -> Result<(), StepError> {
    let result = ctx
        .clients
        .ddb
        .delete_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, AttributeValue::S(LOCK_KEY.into()))
        .condition_expression("#o = :me")
        .expression_attribute_names("#o", attr::LOCK_OWNER)
        .expression_attribute_values(":me", AttributeValue::S(owner.into()))
        .send()
        .await;
    // Not held: someone else's lease (ours expired), so nothing of ours to release.
    condition_held("DeleteItem", result).map(|_| ())
}

/// Tenants whose record says they belong in the mapping.
pub async fn mapped_tenants(ctx: &Context) -> Result<Vec<MappedTenant>, StepError> {
    let records = crate::record::list(ctx).await?;
    Ok(records
        .into_iter()
        .filter(|r| r.mapped)
        .filter_map(|r| {
            let tenant = TenantId::parse(&r.tenant_id).ok()?;
            let role_arn = r.role_arn.unwrap_or_else(|| {
                TenantNames::new(&tenant).role_arn(&ctx.settings.partition, &ctx.settings.account_id)
            });
            Some(MappedTenant { tenant, role_arn })
        })
        .collect())
}

fn to_sdk(mapping: &ProviderMapping) -> Result<Option<RoleMapping>, StepError> {
    match mapping.mapping_type {
        MappingType::Token => Ok(Some(
            RoleMapping::builder()
                .r#type(RoleMappingType::Token)
                .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
                .build()
                .map_err(StepError::internal)?,
        )),
        // Cognito refuses a Rules mapping with no rules: the provider's entry goes away.
        // Abac has none at all: the pool's default authenticated role (the shared one)
        // is what every identity of the provider gets.
        MappingType::Abac => Ok(None),
        MappingType::Rules if mapping.rules.is_empty() => Ok(None),
        MappingType::Rules => {
            let mut rules = vec![];
            for r in &mapping.rules {
                let match_type = match r.match_type {
                    MatchType::Equals => MappingRuleMatchType::Equals,
                    MatchType::Contains => MappingRuleMatchType::Contains,
                    MatchType::StartsWith => MappingRuleMatchType::StartsWith,
                    MatchType::NotEqual => MappingRuleMatchType::NotEqual,
                };
                rules.push(
                    SdkRule::builder()
                        .claim(&r.claim)
                        .match_type(match_type)
                        .value(&r.value)
                        .role_arn(&r.role_arn)
                        .build()
                        .map_err(StepError::internal)?,
                );
            }
            Ok(Some(
                RoleMapping::builder()
                    .r#type(RoleMappingType::Rules)
                    .ambiguous_role_resolution(AmbiguousRoleResolutionType::Deny)
                    .rules_configuration(
                        RulesConfigurationType::builder()
                            .set_rules(Some(rules))
                            .build()
                            .map_err(StepError::internal)?,
                    )
                    .build()
                    .map_err(StepError::internal)?,
            ))
        }
    }
}

/// A change of one tenant's membership in the mapping.
#[derive(Debug, Clone)]
pub struct Membership<'a> {
    pub tenant: &'a TenantId,
    pub execution: &'a str,
    pub mapped: bool,
}

/// Rebuilds this deployment's provider mapping from the table; other providers' mappings
/// and the pool's default roles are kept as they are. Returns the number of mapped tenants.
pub async fn reconcile(ctx: &Context, label: &str) -> Result<usize, StepError> {
    match update(ctx, label, None).await? {
        Some(n) => Ok(n),
        None => Ok(mapped_tenants(ctx).await?.len()),
    }
}

/// Records `change` in the tenant's record and rebuilds the mapping, both under the lock:
/// the Rules cap is checked against the table as it is while nobody else can add.
/// Returns the number of mapped tenants where the update counted them (`None` for a
/// Token-type change, which never reads the other tenants).
pub async fn update(ctx: &Context, label: &str, change: Option<Membership<'_>>) -> Result<Option<usize>, StepError> {
    if ctx.settings.mapping_type == MappingType::Token && token_mapping_in_place(ctx).await? {
        // Token type keeps no per-tenant state in the pool: once the provider's mapping
        // says Token, there is nothing to serialize.
        if let Some(c) = &change {
            set_membership(ctx, c).await?;
            // No count: it would be a Scan of the whole table on every onboarding's
            // critical path, growing with the tenants, for a log line (issue 17).
            return Ok(None);
        }
        return Ok(Some(mapped_tenants(ctx).await?.len()));
    }
    let owner = lock_owner(label);
    acquire(ctx, &owner).await?;
    let result = async {
        if let Some(c) = &change {
            if c.mapped && ctx.settings.mapping_type == MappingType::Rules {
                let others = mapped_tenants(ctx)
                    .await?
                    .into_iter()
                    .filter(|t| &t.tenant != c.tenant)
                    .count();
                tenant_domain::mapping::admits_another(MappingType::Rules, others).map_err(|e| {
                    // Another onboarding took the last rule after this one's up-front check.
                    StepError::RuleLimitReached {
                        tenant: c.tenant.to_string(),
                        message: format!(
                            "the last rule went to a concurrent onboarding; this attempt is rolled back: {e}"
                        ),
                    }
                })?;
            }
            set_membership(ctx, c).await?;
        }
        reconcile_locked(ctx, &owner).await
    }
    .await;
    let released = release(ctx, &owner).await;
    let count = result?;
    released?;
    Ok(Some(count))
}

async fn set_membership(ctx: &Context, c: &Membership<'_>) -> Result<(), StepError> {
    let role_arn = TenantNames::new(c.tenant).role_arn(&ctx.settings.partition, &ctx.settings.account_id);
    crate::record::set_mapped(ctx, c.tenant, c.execution, c.mapped, &role_arn).await
}

async fn token_mapping_in_place(ctx: &Context) -> Result<bool, StepError> {
    Ok(provider_mapping(ctx).await?.is_some_and(|m| {
        *m.r#type() == RoleMappingType::Token
            && m.ambiguous_role_resolution() == Some(&AmbiguousRoleResolutionType::Deny)
    }))
}

/// The mapping a reconcile would write now, derived from the table, and how many tenants
/// it maps.
pub async fn desired(ctx: &Context) -> Result<(ProviderMapping, usize), StepError> {
    let tenants = mapped_tenants(ctx).await?;
    let desired = desired_mapping(ctx.settings.mapping_type, &tenants).map_err(|e| StepError::RuleLimitReached {
        tenant: "(all)".into(),
        message: e.to_string(),
    })?;
    Ok((desired, tenants.len()))
}

/// The provider's rules as the service holds them now, in the domain's terms (a rule of a
/// match type this crate does not know is kept with its claim and value as `Equals`:
/// only which groups it covers matters to the callers).
pub async fn current_rules(ctx: &Context) -> Result<Vec<MappingRule>, StepError> {
    Ok(mapped_rules(ctx)
        .await?
        .iter()
        .map(|r| MappingRule {
            claim: r.claim().to_string(),
            match_type: match r.match_type() {
                MappingRuleMatchType::Contains => MatchType::Contains,
                MappingRuleMatchType::StartsWith => MatchType::StartsWith,
                MappingRuleMatchType::NotEqual => MatchType::NotEqual,
                _ => MatchType::Equals,
            },
            value: r.value().to_string(),
            role_arn: r.role_arn().to_string(),
        })
        .collect())
}

async fn reconcile_locked(ctx: &Context, owner: &str) -> Result<usize, StepError> {
    let (desired, count) = desired(ctx).await?;
    let pool = &ctx.settings.identity_pool_id;
    let current = pool_roles(ctx).await?;
    let roles: HashMap<String, String> = current.roles().cloned().unwrap_or_default();
    let mut mappings: HashMap<String, RoleMapping> = current.role_mappings().cloned().unwrap_or_default();
    let provider = ctx.settings.provider_name();
    match to_sdk(&desired)? {
        Some(m) => mappings.insert(provider, m),
        None => mappings.remove(&provider),
    };
    renew(ctx, owner).await?;
    ctx.clients
        .identity
        .set_identity_pool_roles()
        .identity_pool_id(pool)
        .set_roles(Some(roles))
        .set_role_mappings(Some(mappings))
        .send()
        .await
        .map_err(|e| classify("cognito-identity", "SetIdentityPoolRoles", &e))?;
    Ok(count)
}
