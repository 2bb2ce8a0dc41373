//! The identity pool's role mapping for the user pool provider, derived as a whole from
//! the set of mapped tenants (reconcile), never patched rule by rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::TenantId;

/// Cognito's limit on rules per identity provider in a Rules-type mapping.
pub const MAX_RULES_PER_PROVIDER: usize = 25;
pub const GROUPS_CLAIM: &str = "cognito:groups";
/// The claim a Rules-type rule matches: the single-valued `tenant_id` the
/// pre-token-generation trigger puts in the ID token. Not `cognito:groups`: a user in two
/// tenant groups would match the first tenant's rule and get its role, while such a user
/// has no `tenant_id` at all and so matches no rule (denied).
pub const RULE_CLAIM: &str = crate::claim::CLAIM;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum MappingType {
    /// One rule per tenant on `cognito:groups`; capped at 25 tenants per provider.
    #[default]
    Rules,
    /// Each tenant group carries its role; the ID token's `cognito:preferred_role`
    /// picks it. No cap, but one IAM role per tenant.
    Token,
    /// One shared tenant role scoped by the session's `tenant` principal tag (from the
    /// ID token's `tenant_id` claim): no per-tenant role, no mapping entry, nothing to
    /// wait for IAM to propagate.
    Abac,
}

impl MappingType {
    /// Whether each tenant has its own IAM role (and so an entry in the mapping and an
    /// IAM propagation to wait for).
    pub fn has_tenant_role(self) -> bool {
        match self {
            MappingType::Rules | MappingType::Token => true,
            MappingType::Abac => false,
        }
    }

    /// The precedence onboarding gives every tenant group. In Token mode the group carries
    /// the role, and equal precedences make a user of two tenants ambiguous (refused)
    /// rather than given the lower one's role; the other modes set none.
    pub fn group_precedence(self) -> Option<i32> {
        match self {
            MappingType::Token => Some(0),
            MappingType::Rules | MappingType::Abac => None,
        }
    }
}

impl std::str::FromStr for MappingType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rules" => Ok(MappingType::Rules),
            "token" => Ok(MappingType::Token),
            "abac" => Ok(MappingType::Abac),
            other => Err(format!("unknown mapping type {other:?}; use Rules, Token or Abac")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    NotEqual,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equals => "Equals",
            MatchType::Contains => "Contains",
            MatchType::StartsWith => "StartsWith",
            MatchType::NotEqual => "NotEqual",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRule {
    pub claim: String,
    pub match_type: MatchType,
    pub value: String,
    pub role_arn: String,
}

/// The mapping for one identity provider. Ambiguity always resolves to `Deny`: a user who
/// matches no tenant gets no credentials rather than a default role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMapping {
    pub mapping_type: MappingType,
    pub rules: Vec<MappingRule>,
}

/// A tenant that belongs in the mapping, with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedTenant {
    pub tenant: TenantId,
    pub role_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The message names the fix: Token type has no per-tenant rule, so no cap.
    #[error(
        "the identity pool's Rules-type role mapping is full: {count} tenants would need a rule, and Cognito allows \
         at most {max} rules per identity provider. To onboard more than {max} tenants, redeploy with \
         MappingType=Token (each tenant's group carries its own role, so there is no per-tenant rule and no \
         {max}-tenant cap) or MappingType=Abac (one shared role, no per-tenant role at all); or offboard a tenant \
         to free a rule"
    )]
    TooManyRules { count: usize, max: usize },
}

/// The key Cognito uses for a user pool app client in an identity pool.
pub fn provider_name(region: &str, user_pool_id: &str, client_id: &str) -> String {
    format!("cognito-idp.{region}.amazonaws.com/{user_pool_id}:{client_id}")
}

/// The whole mapping for the given tenants. Sorted by tenant id so the document is the
/// same whichever onboarding computes it.
pub fn desired_mapping(mapping_type: MappingType, tenants: &[MappedTenant]) -> Result<ProviderMapping, MappingError> {
    let unique: BTreeMap<&TenantId, &str> = tenants.iter().map(|t| (&t.tenant, t.role_arn.as_str())).collect();
    let rules = match mapping_type {
        // Neither has a per-tenant rule: Token's roles are on the groups, Abac has no
        // per-tenant role at all (the pool's default role is the shared one).
        MappingType::Token | MappingType::Abac => vec![],
        MappingType::Rules => {
            if unique.len() > MAX_RULES_PER_PROVIDER {
                return Err(MappingError::TooManyRules {
                    count: unique.len(),
                    max: MAX_RULES_PER_PROVIDER,
                });
            }
            unique
                .into_iter()
                .map(|(tenant, role_arn)| MappingRule {
                    claim: RULE_CLAIM.to_string(),
                    match_type: MatchType::Equals,
                    value: tenant.as_str().to_string(),
                    role_arn: role_arn.to_string(),
                })
                .collect()
        }
    };
    Ok(ProviderMapping { mapping_type, rules })
}

/// Whether one more tenant can be mapped: the up-front check that refuses the 26th
/// tenant of a Rules-type deployment before anything is created.
pub fn admits_another(mapping_type: MappingType, already_mapped: usize) -> Result<(), MappingError> {
    match mapping_type {
        MappingType::Rules if already_mapped >= MAX_RULES_PER_PROVIDER => Err(MappingError::TooManyRules {
            count: already_mapped + 1,
            max: MAX_RULES_PER_PROVIDER,
        }),
        _ => Ok(()),
    }
}

/// The rules of `current` that a rebuild to `desired` would remove: no desired rule gives
/// the same group value. After the tenants table was lost these are live tenants' rules,
/// so a rebuild checks them before it writes (`tenantctl reconcile`).
pub fn dropped_rules<'a>(current: &'a [MappingRule], desired: &ProviderMapping) -> Vec<&'a MappingRule> {
    current
        .iter()
        .filter(|r| {
            // A rule of the earlier form for a tenant the rebuild still maps is replaced,
            // not dropped: the tenant keeps its access.
            let tenant = tenant_of_rule(&r.claim, &r.value);
            !desired.rules.iter().any(|d| {
                (d.claim == r.claim && d.value == r.value)
                    || tenant.is_some() && tenant_of_rule(&d.claim, &d.value) == tenant
            })
        })
        .collect()
}

/// The tenant a rule is for: this product's form (`tenant_id` equals the id) or the
/// earlier one (`cognito:groups` contains `tenant:{id}:members`), which a reconcile
/// replaces. None for a rule that names no tenant.
pub fn tenant_of_rule(claim: &str, value: &str) -> Option<TenantId> {
    match claim {
        RULE_CLAIM => TenantId::parse(value).ok(),
        GROUPS_CLAIM => crate::claim::tenant_of_group(value),
        _ => None,
    }
}

/// The role name at the end of a role ARN (`arn:aws:iam::1:role/tenants/tenant-acme` →
/// `tenant-acme`); None for anything that is not a role ARN.
pub fn role_name_of_arn(arn: &str) -> Option<&str> {
    let (_, path) = arn.split_once(":role/")?;
    path.rsplit('/').next().filter(|n| !n.is_empty())
}

/// How Cognito resolves a Rules-type mapping for a token's claims (claim -> its values;
/// a single-valued claim has one): the first matching rule wins; no match means `Deny`.
pub fn resolve_rules<'a>(mapping: &'a ProviderMapping, claims: &BTreeMap<String, Vec<String>>) -> Option<&'a str> {
    mapping
        .rules
        .iter()
        .find(|r| {
            let values = claims.get(&r.claim).map(Vec::as_slice).unwrap_or_default();
            values.iter().any(|g| match r.match_type {
                MatchType::Equals => g == &r.value,
                MatchType::Contains => g.contains(&r.value),
                MatchType::StartsWith => g.starts_with(&r.value),
                MatchType::NotEqual => g != &r.value,
            })
        })
        .map(|r| r.role_arn.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantNames;
    use crate::tenant_id::strategy::valid_id;
    use proptest::prelude::*;

    #[test]
    fn a_rebuild_drops_exactly_the_rules_whose_group_is_no_longer_desired() {
        let rule = |tenant: &str, role: &str| MappingRule {
            claim: RULE_CLAIM.into(),
            match_type: MatchType::Equals,
            value: tenant.into(),
            role_arn: role.into(),
        };
        let current = [
            rule("acme", "arn:aws:iam::1:role/tenants/tenant-acme"),
            rule("initech", "arn:aws:iam::1:role/tenants/tenant-initech"),
        ];
        let acme = MappedTenant {
            tenant: TenantId::parse("acme").unwrap(),
            role_arn: "arn:aws:iam::1:role/tenants/tenant-acme".into(),
        };
        let desired = desired_mapping(MappingType::Rules, &[acme]).unwrap();
        let dropped = dropped_rules(&current, &desired);
        assert_eq!(dropped, [&current[1]]);
        // An empty table (lost) drops every rule; the same table drops none.
        let empty = desired_mapping(MappingType::Rules, &[]).unwrap();
        assert_eq!(dropped_rules(&current, &empty).len(), 2);
        assert!(dropped_rules(&current[..1], &desired).is_empty());
        // A group rule of the earlier form for acme is replaced, not dropped.
        let legacy = MappingRule {
            claim: GROUPS_CLAIM.into(),
            match_type: MatchType::Contains,
            value: "tenant:acme:members".into(),
            role_arn: "arn:aws:iam::1:role/tenants/tenant-acme".into(),
        };
        assert!(dropped_rules(std::slice::from_ref(&legacy), &desired).is_empty());
        assert_eq!(dropped_rules(std::slice::from_ref(&legacy), &empty).len(), 1);
        // A rule that names no tenant is kept only by the same rule (claim and value).
        let custom = |claim: &str| MappingRule {
            claim: claim.into(),
            match_type: MatchType::Equals,
            value: "ops".into(),
            role_arn: "arn:aws:iam::1:role/ops".into(),
        };
        let keeps = ProviderMapping {
            mapping_type: MappingType::Rules,
            rules: vec![custom("custom:team")],
        };
        assert!(dropped_rules(&[custom("custom:team")], &keeps).is_empty());
        let other_claim = [custom("custom:dept")];
        assert_eq!(dropped_rules(&other_claim, &keeps), [&other_claim[0]]);
    }

    #[test]
    fn role_names_come_from_role_arns_only() {
        assert_eq!(
            role_name_of_arn("arn:aws:iam::123456789012:role/tenants/tenant-acme"),
            Some("tenant-acme")
        );
        assert_eq!(role_name_of_arn("arn:aws:iam::1:role/plain"), Some("plain"));
        assert_eq!(role_name_of_arn("arn:aws:iam::1:user/tenants/x"), None);
        assert_eq!(role_name_of_arn("arn:aws:iam::1:role/tenants/"), None);
    }

    #[test]
    fn mapping_and_match_types_by_name() {
        assert_eq!("Rules".parse::<MappingType>(), Ok(MappingType::Rules));
        assert_eq!("TOKEN".parse::<MappingType>(), Ok(MappingType::Token));
        assert_eq!("abac".parse::<MappingType>(), Ok(MappingType::Abac));
        assert_eq!(
            "attr".parse::<MappingType>(),
            Err("unknown mapping type \"attr\"; use Rules, Token or Abac".to_string())
        );
        assert!(MappingType::Rules.has_tenant_role() && MappingType::Token.has_tenant_role());
        assert!(!MappingType::Abac.has_tenant_role());
        let names: Vec<&str> = [
            MatchType::Equals,
            MatchType::Contains,
            MatchType::StartsWith,
            MatchType::NotEqual,
        ]
        .into_iter()
        .map(MatchType::as_str)
        .collect();
        assert_eq!(names, ["Equals", "Contains", "StartsWith", "NotEqual"]);
    }

    #[test]
    fn every_match_type_resolves_as_cognito_does() {
        let rule = |match_type, value: &str, role: &str| MappingRule {
            claim: GROUPS_CLAIM.into(),
            match_type,
            value: value.into(),
            role_arn: role.into(),
        };
        let groups = |g: &[&str]| {
            BTreeMap::from([(
                GROUPS_CLAIM.to_string(),
                g.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )])
        };
        let one = |r: MappingRule| ProviderMapping {
            mapping_type: MappingType::Rules,
            rules: vec![r],
        };
        let eq = one(rule(MatchType::Equals, "g", "eq"));
        assert_eq!(resolve_rules(&eq, &groups(&["g"])), Some("eq"));
        assert_eq!(resolve_rules(&eq, &groups(&["gg"])), None);
        let ne = one(rule(MatchType::NotEqual, "g", "ne"));
        assert_eq!(resolve_rules(&ne, &groups(&["g"])), None);
        assert_eq!(resolve_rules(&ne, &groups(&["h"])), Some("ne"));
        let sw = one(rule(MatchType::StartsWith, "ten", "sw"));
        assert_eq!(resolve_rules(&sw, &groups(&["tenant"])), Some("sw"));
        assert_eq!(resolve_rules(&sw, &groups(&["a-ten"])), None);
        let co = one(rule(MatchType::Contains, ":x:", "co"));
        assert_eq!(resolve_rules(&co, &groups(&["a:x:b"])), Some("co"));
        assert_eq!(resolve_rules(&co, &groups(&[])), None);
        // The first matching rule wins.
        let both = ProviderMapping {
            mapping_type: MappingType::Rules,
            rules: vec![
                rule(MatchType::Equals, "g", "first"),
                rule(MatchType::Contains, "g", "second"),
            ],
        };
        assert_eq!(resolve_rules(&both, &groups(&["g"])), Some("first"));
        assert_eq!(resolve_rules(&both, &groups(&["xgx"])), Some("second"));
    }

    fn mapped(id: &str) -> MappedTenant {
        let tenant = TenantId::parse(id).unwrap();
        let role_arn = TenantNames::new(&tenant).role_arn("aws", "123456789012");
        MappedTenant { tenant, role_arn }
    }

    #[test]
    fn rules_are_sorted_and_deduplicated() {
        let m = desired_mapping(MappingType::Rules, &[mapped("zeta"), mapped("acme"), mapped("acme")]).unwrap();
        let values: Vec<_> = m.rules.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(values, ["acme", "zeta"]);
        assert!(
            m.rules
                .iter()
                .all(|r| r.claim == "tenant_id" && r.match_type == MatchType::Equals)
        );
    }

    #[test]
    fn the_26th_rule_is_refused() {
        let tenants: Vec<_> = (0..26).map(|i| mapped(&format!("tenant{i:02}x"))).collect();
        assert!(desired_mapping(MappingType::Rules, &tenants[..25]).is_ok());
        let err = desired_mapping(MappingType::Rules, &tenants).unwrap_err();
        assert_eq!(err, MappingError::TooManyRules { count: 26, max: 25 });
        assert!(err.to_string().contains("MappingType=Token"));
        assert!(desired_mapping(MappingType::Token, &tenants).is_ok());
        assert!(admits_another(MappingType::Rules, 24).is_ok());
        assert!(admits_another(MappingType::Rules, 25).is_err());
        assert!(admits_another(MappingType::Token, 1000).is_ok());
        assert!(admits_another(MappingType::Abac, 5000).is_ok());
        assert!(desired_mapping(MappingType::Abac, &tenants).unwrap().rules.is_empty());
    }

    /// The refusal says what is full, the limit, and both ways out, Token type first.
    #[test]
    fn the_cap_refusal_names_token_type_as_the_fix() {
        let msg = admits_another(MappingType::Rules, MAX_RULES_PER_PROVIDER)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("Rules-type role mapping is full"), "{msg}");
        assert!(msg.contains("26 tenants would need a rule"), "{msg}");
        assert!(msg.contains("at most 25 rules per identity provider"), "{msg}");
        assert!(msg.contains("redeploy with MappingType=Token"), "{msg}");
        assert!(msg.contains("offboard a tenant"), "{msg}");
        assert!(msg.find("MappingType=Token") < msg.find("offboard"), "{msg}");
        assert!(msg.contains("or MappingType=Abac"), "{msg}");
    }

    #[test]
    fn provider_name_format() {
        assert_eq!(
            provider_name("us-east-1", "us-east-1_abc", "client1"),
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc:client1"
        );
    }

    proptest! {
        #[test]
        fn each_member_resolves_to_its_own_role(ids in proptest::collection::btree_set(valid_id(), 2..25)) {
            let tenants: Vec<_> = ids.iter().map(|i| mapped(i)).collect();
            let m = desired_mapping(MappingType::Rules, &tenants).unwrap();
            // A token as the pre-token trigger shapes it: groups, and tenant_id only for
            // a user in exactly one tenant group.
            let token = |members: &[&MappedTenant]| {
                let groups: Vec<String> = members.iter().map(|t| TenantNames::new(&t.tenant).group).collect();
                let mut claims = BTreeMap::from([(GROUPS_CLAIM.to_string(), groups.clone())]);
                if let crate::claim::TenantClaim::Tenant(t) = crate::claim::tenant_claim(&groups) {
                    claims.insert(RULE_CLAIM.to_string(), vec![t.as_str().to_string()]);
                }
                claims
            };
            for t in &tenants {
                prop_assert_eq!(resolve_rules(&m, &token(&[t])), Some(t.role_arn.as_str()));
                prop_assert_eq!(tenant_of_rule(RULE_CLAIM, t.tenant.as_str()), Some(t.tenant.clone()));
            }
            // In two tenant groups: no rule matches, whichever comes first.
            prop_assert_eq!(resolve_rules(&m, &token(&[&tenants[0], &tenants[1]])), None);
            prop_assert_eq!(resolve_rules(&m, &token(&[])), None);
        }
    }

    #[test]
    fn only_token_groups_carry_a_precedence() {
        assert_eq!(MappingType::Token.group_precedence(), Some(0));
        assert_eq!(MappingType::Rules.group_precedence(), None);
        assert_eq!(MappingType::Abac.group_precedence(), None);
    }
}
