//! The account against the tenants table and the current templates.
//!
//! Orphans and leftovers: every resource in the tenants' namespace that belongs to no
//! tenant, or to a tenant whose record says it should have nothing (FAILED, OFFBOARDED),
//! or that a failed rollback left (ROLLBACK_FAILED). Drift: for every ACTIVE tenant, each
//! resource compared with what onboarding would create today — the role's trust policy,
//! inline policy, permissions boundary, path and tag, the group's description (and role
//! in Token mode), the secret's tag, the prefix marker and its tag, and the role mapping.
//! Policies are compared by meaning, after URL-decoding, never as text. Who gets which
//! role: users in more than one tenant's group, a tenant group's precedence, a tenant's
//! role as the identity pool's default role, members of a tenant that should have none.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context as _;
use aws_sdk_cognitoidentity::types::{AmbiguousRoleResolutionType, RoleMappingType};
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::mapping::desired_mapping;
use tenant_domain::role_access;
use tenant_domain::{MappingType, Status, TenantId};
use tenant_steps::Settings;
use tenant_steps::record;
use tenant_steps::resources::{self, Drift, DriftKind, Inventory, Observation, Resource};

use crate::Ops;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// In the tenants' namespace, but no record says it should exist.
    Orphan,
    /// Left by a failed rollback; the record lists it.
    Leftover,
    /// Exists, but differs from what the templates render.
    Drift,
    /// The record says the tenant is ACTIVE, but this is absent.
    Missing,
    /// The record is unsettled (PENDING, PROVISIONING, ...) and no execution is working on
    /// it: its execution never started (a signup's StartExecution failed) or has ended.
    Stuck,
    /// Could not be read: the rest of the audit went on without it.
    Unavailable,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub tenant: String,
    pub kind: Kind,
    pub resource: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<Value>,
}

impl Finding {
    pub(crate) fn new(tenant: &str, kind: Kind, resource: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            tenant: tenant.to_string(),
            kind,
            resource: resource.into(),
            detail: detail.into(),
            expected: None,
            found: None,
        }
    }

    /// A resource judge's finding about `tenant`.
    fn of_drift(tenant: &TenantId, d: Drift) -> Self {
        let kind = match d.kind {
            DriftKind::Missing => Kind::Missing,
            DriftKind::Differs => Kind::Drift,
            DriftKind::Unavailable => Kind::Unavailable,
        };
        Finding {
            expected: d.expected,
            found: d.found,
            ..Finding::new(tenant.as_str(), kind, d.what, d.detail)
        }
    }

    pub(crate) fn differs(
        tenant: &str,
        resource: impl Into<String>,
        detail: &str,
        expected: Value,
        found: Value,
    ) -> Self {
        Finding {
            expected: Some(expected),
            found: Some(found),
            ..Finding::new(tenant, Kind::Drift, resource, detail)
        }
    }
}

/// Every finding in the account: orphans and leftovers, then drift of ACTIVE tenants.
/// Empty when the account is exactly what the table and the templates say.
pub async fn audit(ops: &Ops) -> anyhow::Result<Vec<Finding>> {
    let records: BTreeMap<String, record::TenantRecord> = record::list(&ops.ctx)
        .await?
        .into_iter()
        .map(|r| (r.tenant_id.clone(), r))
        .collect();
    let mut findings = deployment(ops).await?;
    findings.extend(orphans(ops, &records).await?);
    findings.extend(stuck(ops, &records).await?);
    findings.extend(drift(ops, &records).await?);
    findings.extend(role_access(ops, &records).await);
    Ok(findings)
}

/// What changes which role a user gets (users in two tenants' groups, group precedence,
/// the pool's default roles, members of tenants that should have none), judged by
/// [`tenant_domain::role_access::judge`] over what is read here. An inventory that cannot
/// be read is an `unavailable` finding; the rest of the audit stands.
async fn role_access(ops: &Ops, records: &BTreeMap<String, record::TenantRecord>) -> Vec<Finding> {
    let inventory = match role_inventory(ops, records).await {
        Ok(i) => i,
        Err(e) => {
            return vec![Finding::new(
                "(pool)",
                Kind::Unavailable,
                "tenant groups' members and the identity pool's roles",
                format!("could not be read: {e:#}"),
            )];
        }
    };
    role_access::judge(&inventory)
        .into_iter()
        .map(|f| {
            let kind = match f.kind {
                role_access::RoleFindingKind::StrayMember => Kind::Orphan,
                _ => Kind::Drift,
            };
            Finding::new(&f.tenant, kind, f.subject, f.detail)
        })
        .collect()
}

/// The members of `group` as "email (username)": the username is what is unique, the
/// email what an operator knows the user by. A group gone meanwhile has none.
async fn member_labels(ops: &Ops, group: &str) -> anyhow::Result<Vec<String>> {
    let mut labels = vec![];
    let mut pages = ops
        .ctx
        .clients
        .idp
        .list_users_in_group()
        .user_pool_id(&ops.ctx.settings.user_pool_id)
        .group_name(group)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                break;
            }
            other => other.context("cognito-idp ListUsersInGroup")?,
        };
        for u in page.users() {
            let username = u.username().unwrap_or_default();
            let email = u
                .attributes()
                .iter()
                .find(|a| a.name() == "email")
                .and_then(|a| a.value());
            labels.push(match email {
                Some(email) => format!("{email} ({username})"),
                None => username.to_string(),
            });
        }
    }
    Ok(labels)
}

async fn role_inventory(
    ops: &Ops,
    records: &BTreeMap<String, record::TenantRecord>,
) -> anyhow::Result<role_access::RoleInventory> {
    let c = &ops.ctx.clients;
    let s = &ops.ctx.settings;
    let mut inventory = role_access::RoleInventory {
        records: records.iter().map(|(id, r)| (id.clone(), r.status)).collect(),
        expected_precedence: s.mapping_type.group_precedence(),
        ..Default::default()
    };
    let mut groups = c
        .idp
        .list_groups()
        .user_pool_id(&s.user_pool_id)
        .into_paginator()
        .send();
    while let Some(page) = groups.next().await {
        for g in page.context("cognito-idp ListGroups")?.groups() {
            let name = g.group_name().unwrap_or_default();
            if let Some(id) = name.strip_prefix("tenant:").and_then(|r| r.strip_suffix(":members")) {
                let members = member_labels(ops, name).await?;
                inventory.groups.insert(
                    id.to_string(),
                    role_access::GroupSeen {
                        precedence: g.precedence(),
                        members,
                    },
                );
            }
        }
    }
    let pool = tenant_steps::mapping::pool_roles(&ops.ctx).await?;
    inventory.pool_roles = pool
        .roles()
        .map(|r| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(inventory)
}

/// Unsettled records whose execution is not running.
async fn stuck(ops: &Ops, records: &BTreeMap<String, record::TenantRecord>) -> anyhow::Result<Vec<Finding>> {
    let mut out = vec![];
    for r in records.values().filter(|r| !r.status.is_settled()) {
        if !crate::onboard::owner_running(ops, r).await? {
            out.push(Finding::new(
                &r.tenant_id,
                Kind::Stuck,
                "record",
                format!(
                    "{} with no execution working on it: {} is not running (it never started, or it ended)",
                    r.status, r.execution
                ),
            ));
        }
    }
    Ok(out)
}

/// The deployment's own containers the tenants' resources live in: a missing bucket is a
/// finding, not a failure of the whole audit.
async fn deployment(ops: &Ops) -> anyhow::Result<Vec<Finding>> {
    let mut out = bucket_finding(ops).await?;
    if ops.ctx.settings.mapping_type == MappingType::Abac {
        out.extend(crate::abac::shared_drift(ops).await?);
    }
    Ok(out)
}

async fn bucket_finding(ops: &Ops) -> anyhow::Result<Vec<Finding>> {
    let bucket = &ops.ctx.settings.bucket;
    // ListObjectsV2 under tenants/, not HeadBucket: the permission the prefix inventory has.
    let listed = ops
        .ctx
        .clients
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("tenants/")
        .max_keys(1)
        .send()
        .await;
    match listed {
        Ok(_) => Ok(vec![]),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_bucket()) => Ok(vec![Finding::new(
            "(deployment)",
            Kind::Missing,
            format!("bucket {bucket}"),
            "the tenants' bucket does not exist: no tenant can get a prefix",
        )]),
        Err(e) => Err(e).context("s3 ListObjectsV2"),
    }
}

async fn orphans(ops: &Ops, records: &BTreeMap<String, record::TenantRecord>) -> anyhow::Result<Vec<Finding>> {
    let found = resources::census(&ops.ctx).await?;
    Ok(judge_orphans(&found, records, &ops.ctx.settings))
}

/// Orphans and leftovers, judged without I/O: each found resource against its tenant's
/// record (none, FAILED, OFFBOARDED, ROLLBACK_FAILED, ACTIVE with another name).
pub fn judge_orphans(
    found: &Inventory,
    records: &BTreeMap<String, record::TenantRecord>,
    settings: &Settings,
) -> Vec<Finding> {
    let mut findings = vec![];
    for (tenant, resources) in found {
        let rec = records.get(tenant);
        for (resource, name) in resources {
            let detail = match rec.map(|r| r.status) {
                None if TenantId::parse(tenant).is_err() => "not a valid tenant id".to_string(),
                None => "no tenant record".to_string(),
                Some(Status::Failed) => "tenant is FAILED: its rollback should have removed this".to_string(),
                Some(Status::PendingApproval) => {
                    "tenant is a signup waiting for approval: nothing is created before it is approved".to_string()
                }
                // Offboarding keeps objects when asked to; nothing else.
                Some(Status::Offboarded) if *resource == Resource::Prefix => continue,
                Some(Status::Offboarded) => "tenant is OFFBOARDED".to_string(),
                Some(Status::RollbackFailed) => format!(
                    "known leftover of a failed rollback (record lists: {})",
                    rec.map(|r| r.remaining.join(", ")).unwrap_or_default()
                ),
                // An ACTIVE tenant has exactly the names onboarding derives from its id.
                Some(Status::Active)
                    if TenantId::parse(tenant)
                        .ok()
                        .and_then(|t| resource.census_name(&t, settings))
                        .is_none_or(|e| e == *name) =>
                {
                    continue;
                }
                Some(Status::Active) => "tenant is ACTIVE, but onboarding does not create this".to_string(),
                Some(_) => continue,
            };
            let class = if rec.is_some_and(|r| r.status == Status::RollbackFailed) {
                Kind::Leftover
            } else {
                Kind::Orphan
            };
            findings.push(Finding::new(
                tenant,
                class,
                format!("{} {name}", resource.census_kind()),
                detail,
            ));
        }
    }
    findings
}

/// Tenants with anything found, for tests and summaries.
pub fn tenants_with_findings(findings: &[Finding]) -> BTreeSet<String> {
    findings.iter().map(|f| f.tenant.clone()).collect()
}

/// Drift of every ACTIVE tenant (a few tenants at a time) and of the pool's mapping.
async fn drift(ops: &Ops, records: &BTreeMap<String, record::TenantRecord>) -> anyhow::Result<Vec<Finding>> {
    let active: Vec<TenantId> = records
        .values()
        .filter(|r| r.status == Status::Active)
        .filter_map(|r| TenantId::parse(&r.tenant_id).ok())
        .collect();
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for tenant in active {
        let ops = ops.clone();
        let permit = gate.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let result = tenant_drift(&ops, &tenant).await;
            drop(permit);
            // One tenant that cannot be read is a finding, not a failed audit.
            result.unwrap_or_else(|e| {
                vec![Finding::new(
                    tenant.as_str(),
                    Kind::Unavailable,
                    "(tenant)",
                    format!("could not be inspected: {e:#}"),
                )]
            })
        });
    }
    let mut findings = mapping_drift(ops, records).await?;
    while let Some(joined) = tasks.join_next().await {
        findings.extend(joined?);
    }
    findings.sort_by(|a, b| (&a.tenant, &a.resource).cmp(&(&b.tenant, &b.resource)));
    Ok(findings)
}

/// Each resource of an ACTIVE tenant against what onboarding renders today: read by the
/// resource modules (`resources::audit_read`), judged by their pure judges.
async fn tenant_drift(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Vec<Finding>> {
    let s = &ops.ctx.settings;
    let audit = resources::audit_read(&ops.ctx, tenant).await;
    // A role moved to the shared role by `tenantctl migrate` before the deployment's
    // switch is said so, with the way on, rather than reported as a lost role. (With no
    // role, the role's one finding is that it is missing.)
    let moved = s.mapping_type.has_tenant_role()
        && matches!(audit.role, Observation::Absent(_))
        && tenant_steps::migrate::marked(&ops.ctx, tenant).await? == Some(MappingType::Abac);
    Ok(audit
        .drift(tenant, s)
        .into_iter()
        .map(|d| match d.resource {
            Resource::Role if moved => Finding::new(
                tenant.as_str(),
                Kind::Drift,
                d.what,
                format!(
                    "moved to the shared tenant role by `tenantctl migrate --to abac`, while the deployment's MappingType is still {:?}: finish the migration and switch MappingType to Abac (docs/operations.md)",
                    s.mapping_type
                ),
            ),
            _ => Finding::of_drift(tenant, d),
        })
        .collect())
}

/// The pool's mapping for this deployment's provider against the one the table renders.
async fn mapping_drift(ops: &Ops, records: &BTreeMap<String, record::TenantRecord>) -> anyhow::Result<Vec<Finding>> {
    let s = &ops.ctx.settings;
    let mapped = tenant_steps::mapping::mapped_tenants(&ops.ctx).await?;
    let desired = desired_mapping(s.mapping_type, &mapped)?;
    let provider = s.provider_name();
    let current = tenant_steps::mapping::provider_mapping(&ops.ctx).await?;
    let current = current.as_ref();
    let mut out = vec![];
    let pool_label = format!("identity pool mapping {provider}");
    let expected_type = match s.mapping_type {
        MappingType::Rules => RoleMappingType::Rules,
        MappingType::Token => RoleMappingType::Token,
        // Any mapping of the provider would take identities away from the pool's
        // default role, the shared one.
        MappingType::Abac => {
            if let Some(m) = current {
                out.push(Finding::differs(
                    "(pool)",
                    &pool_label,
                    "type",
                    json!(null),
                    json!(m.r#type().as_str()),
                ));
            }
            return Ok(out);
        }
    };
    match current {
        None if mapped.is_empty() => {}
        None => out.push(Finding::new(
            "(pool)",
            Kind::Missing,
            &pool_label,
            "no role mapping for the provider",
        )),
        Some(m) => {
            if *m.r#type() != expected_type {
                out.push(Finding::differs(
                    "(pool)",
                    &pool_label,
                    "type",
                    json!(expected_type.as_str()),
                    json!(m.r#type().as_str()),
                ));
            }
            let ambiguous = m.ambiguous_role_resolution().map(|a| a.as_str());
            if ambiguous != Some(AmbiguousRoleResolutionType::Deny.as_str()) {
                out.push(Finding::differs(
                    "(pool)",
                    &pool_label,
                    "ambiguous role resolution",
                    json!("Deny"),
                    json!(ambiguous),
                ));
            }
        }
    }
    let rules: Vec<_> = current
        .and_then(|m| m.rules_configuration())
        .map(|r| r.rules().to_vec())
        .unwrap_or_default();
    // Every rule the table renders, exactly; a rule without a mapped ACTIVE tenant is an
    // orphan (reported by `orphans` when it names a tenant; here when it does not).
    for want in &desired.rules {
        let tenant = want.value.as_str();
        let label = format!("mapping rule {} {}", want.claim, want.value);
        let expected = json!({"Claim": want.claim, "MatchType": want.match_type.as_str(), "Value": want.value, "RoleARN": want.role_arn});
        match rules
            .iter()
            .find(|r| r.claim() == want.claim && r.value() == want.value)
        {
            None => out.push(Finding {
                expected: Some(expected),
                ..Finding::new(
                    tenant,
                    Kind::Missing,
                    label,
                    "the rule for this mapped tenant is not in the pool",
                )
            }),
            Some(r) => {
                let found = json!({"Claim": r.claim(), "MatchType": r.match_type().as_str(), "Value": r.value(), "RoleARN": r.role_arn()});
                if found != expected {
                    out.push(Finding::differs(tenant, label, "rule", expected, found));
                }
            }
        }
    }
    for r in &rules {
        let named = tenant_domain::mapping::tenant_of_rule(r.claim(), r.value());
        let named = named.as_ref().map(|t| t.as_str());
        let known = desired
            .rules
            .iter()
            .any(|w| w.claim == r.claim() && w.value == r.value());
        if !known && named.is_none() {
            out.push(Finding::new(
                "(pool)",
                Kind::Orphan,
                format!("mapping rule {} {}", r.claim(), r.value()),
                "a rule that names no tenant group",
            ));
        }
        if !known
            && let Some(t) = named
            && records.get(t).is_some_and(|rec| rec.status == Status::Active)
        {
            out.push(Finding::new(
                t,
                Kind::Drift,
                format!("mapping rule {} {}", r.claim(), r.value()),
                "the record says the tenant is not mapped",
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PARTITION: &str = "aws";
    const ACCOUNT: &str = "123456789012";

    fn rec(id: &str, status: Status) -> record::TenantRecord {
        record::TenantRecord {
            remaining: vec!["role".into()],
            ..crate::test_record(id, status, 0)
        }
    }

    fn settings() -> Settings {
        Settings {
            partition: PARTITION.into(),
            account_id: ACCOUNT.into(),
            ..tenant_steps::Context::offline().settings
        }
    }

    /// Every resource onboarding creates for `id` that the inventory lists, named as the
    /// inventory names it.
    fn own(id: &str) -> Vec<(Resource, String)> {
        let tenant = TenantId::parse(id).unwrap();
        Resource::ALL
            .into_iter()
            .filter_map(|r| r.census_name(&tenant, &settings()).map(|name| (r, name)))
            .collect()
    }

    #[test]
    fn the_inventory_lists_every_resource_but_the_users() {
        let listed: Vec<Resource> = own("acme").into_iter().map(|(r, _)| r).collect();
        assert_eq!(
            listed,
            [
                Resource::Group,
                Resource::Role,
                Resource::Secret,
                Resource::Prefix,
                Resource::Mapping
            ]
        );
        assert_eq!(
            own("acme")[1].1,
            format!("arn:{PARTITION}:iam::{ACCOUNT}:role/tenants/tenant-acme")
        );
    }

    fn judge(found: &Inventory, records: &[record::TenantRecord]) -> Vec<Finding> {
        let records = records.iter().map(|r| (r.tenant_id.clone(), r.clone())).collect();
        judge_orphans(found, &records, &settings())
    }

    #[test]
    fn each_record_state_judges_what_is_found() {
        let found: Inventory = ["acme", "globex", "initech", "hooli", "wonka", "stark"]
            .into_iter()
            .map(|id| (id.to_string(), own(id)))
            .chain([(
                "Bad*Id".to_string(),
                vec![(Resource::Role, "tenant-Bad*Id".to_string())],
            )])
            .collect();
        let mut acme_extra = found.clone();
        acme_extra
            .get_mut("acme")
            .unwrap()
            .push((Resource::Secret, "tenants/acme/other".into()));
        let records = [
            rec("acme", Status::Active),
            rec("globex", Status::Failed),
            rec("initech", Status::Offboarded),
            rec("hooli", Status::RollbackFailed),
            rec("wonka", Status::Provisioning),
        ];
        let findings = judge(&acme_extra, &records);
        let by = |tenant: &str| -> Vec<(Kind, String, String)> {
            findings
                .iter()
                .filter(|f| f.tenant == tenant)
                .map(|f| {
                    (
                        f.kind,
                        f.resource.split(' ').next().unwrap().to_string(),
                        f.detail.clone(),
                    )
                })
                .collect()
        };
        // ACTIVE: only what onboarding would not create.
        assert_eq!(
            by("acme"),
            [(
                Kind::Orphan,
                "secret".into(),
                "tenant is ACTIVE, but onboarding does not create this".into()
            )]
        );
        assert_eq!(by("globex").len(), 5);
        assert!(
            by("globex")
                .iter()
                .all(|f| f.0 == Kind::Orphan && f.2.contains("FAILED"))
        );
        // OFFBOARDED keeps its prefix (kept objects), nothing else.
        assert_eq!(by("initech").len(), 4);
        assert!(by("initech").iter().all(|f| f.1 != "prefix"));
        assert!(
            by("hooli")
                .iter()
                .all(|f| f.0 == Kind::Leftover && f.2.contains("record lists: role"))
        );
        // Still in flight: not judged.
        assert!(by("wonka").is_empty());
        assert!(
            by("stark")
                .iter()
                .all(|f| f.0 == Kind::Orphan && f.2 == "no tenant record")
        );
        assert_eq!(
            by("Bad*Id"),
            [(Kind::Orphan, "role".into(), "not a valid tenant id".into())]
        );
    }

    fn status() -> impl Strategy<Value = Option<Status>> {
        prop_oneof![
            Just(None),
            proptest::sample::select(Status::ALL.to_vec()).prop_map(Some)
        ]
    }

    proptest! {
        /// Over a small pool of ids, so that records and resources meet: a finding always
        /// names a resource that was found; an ACTIVE tenant with exactly its own resources
        /// has none; a tenant without a record has every resource reported; a leftover is
        /// exactly a resource of a ROLLBACK_FAILED tenant.
        #[test]
        fn findings_follow_the_record(
            tenants in proptest::collection::btree_map(
                proptest::sample::select(vec!["acme", "acme-labs", "globex", "initech"]),
                (status(), proptest::collection::vec((0usize..5, any::<bool>()), 0..6)),
                0..4,
            ),
        ) {
            let mut found = Inventory::new();
            let mut records = vec![];
            for (id, (status, picks)) in &tenants {
                let own = own(id);
                let resources: Vec<_> = picks.iter().map(|(i, foreign)| {
                    let (kind, name) = own[*i].clone();
                    if *foreign { (kind, format!("{name}x")) } else { (kind, name) }
                }).collect();
                if !resources.is_empty() {
                    found.insert(id.to_string(), resources);
                }
                if let Some(s) = status {
                    records.push(rec(id, *s));
                }
            }
            let findings = judge(&found, &records);
            for f in &findings {
                let listed = &found[&f.tenant];
                prop_assert!(listed.iter().any(|(r, n)| f.resource == format!("{} {n}", r.census_kind())), "{f:?}");
                let status = tenants[f.tenant.as_str()].0;
                prop_assert_eq!(f.kind == Kind::Leftover, status == Some(Status::RollbackFailed));
            }
            for (id, (status, picks)) in &tenants {
                let reported = findings.iter().filter(|f| f.tenant == *id).count();
                let listed = found.get(*id).map_or(0, Vec::len);
                match status {
                    None | Some(Status::Failed | Status::RollbackFailed | Status::PendingApproval) => {
                        prop_assert_eq!(reported, listed)
                    }
                    Some(Status::Active) => {
                        prop_assert_eq!(reported, picks.iter().filter(|(_, foreign)| *foreign).count());
                    }
                    Some(Status::Pending | Status::Provisioning | Status::RollingBack | Status::Offboarding) => {
                        prop_assert_eq!(reported, 0);
                    }
                    Some(Status::Offboarded) => prop_assert!(reported <= listed),
                }
            }
        }
    }
}
