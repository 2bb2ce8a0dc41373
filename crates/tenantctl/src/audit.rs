//! Account-wide residue check: every tenant-named resource that exists is compared with
//! the tenants table. Anything that belongs to no tenant, or to a tenant whose record says
//! it should have nothing (FAILED, OFFBOARDED), is reported.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use serde::Serialize;
use tenant_domain::{Status, TenantId};
use tenant_steps::record;

use crate::Ops;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub tenant: String,
    pub resource: String,
    pub detail: String,
}

/// Groups, roles, live secrets, prefixes and mapping rules per tenant id, as found.
async fn found(ops: &Ops) -> anyhow::Result<BTreeMap<String, Vec<(String, String)>>> {
    let c = &ops.ctx.clients;
    let s = &ops.ctx.settings;
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut add = |tenant: &str, kind: &str, name: &str| {
        out.entry(tenant.to_string())
            .or_default()
            .push((kind.to_string(), name.to_string()));
    };
    let mut groups = c
        .idp
        .list_groups()
        .user_pool_id(&s.user_pool_id)
        .into_paginator()
        .send();
    while let Some(page) = groups.next().await {
        for g in page.context("listing groups")?.groups() {
            let name = g.group_name().unwrap_or_default();
            if let Some(id) = name.strip_prefix("tenant:").and_then(|r| r.strip_suffix(":members")) {
                add(id, "group", name);
            }
        }
    }
    let mut roles = c.iam.list_roles().path_prefix("/tenants/").into_paginator().send();
    while let Some(page) = roles.next().await {
        for r in page.context("listing roles")?.roles() {
            add(r.role_name().trim_start_matches("tenant-"), "role", r.arn());
        }
    }
    let mut secrets = c.secrets.list_secrets().into_paginator().send();
    while let Some(page) = secrets.next().await {
        for sec in page.context("listing secrets")?.secret_list() {
            let name = sec.name().unwrap_or_default();
            if sec.deleted_date().is_none()
                && let Some(id) = name.strip_prefix("tenants/").and_then(|r| r.split('/').next())
            {
                add(id, "secret", name);
            }
        }
    }
    let mut prefixes =
        c.s3.list_objects_v2()
            .bucket(&s.bucket)
            .prefix("tenants/")
            .delimiter("/")
            .into_paginator()
            .send();
    while let Some(page) = prefixes.next().await {
        for p in page.context("listing prefixes")?.common_prefixes() {
            let prefix = p.prefix().unwrap_or_default();
            if let Some(id) = prefix.strip_prefix("tenants/").and_then(|r| r.strip_suffix('/')) {
                add(id, "prefix", prefix);
            }
        }
    }
    let pool = c
        .identity
        .get_identity_pool_roles()
        .identity_pool_id(&s.identity_pool_id)
        .send()
        .await?;
    if let Some(rc) = pool
        .role_mappings()
        .and_then(|m| m.get(&s.provider_name()))
        .and_then(|m| m.rules_configuration())
    {
        for r in rc.rules() {
            if let Some(id) = r
                .value()
                .strip_prefix("tenant:")
                .and_then(|v| v.strip_suffix(":members"))
            {
                add(id, "mapping rule", r.value());
            }
        }
    }
    Ok(out)
}

pub async fn audit(ops: &Ops) -> anyhow::Result<Vec<Finding>> {
    let records: BTreeMap<String, record::TenantRecord> = record::list(&ops.ctx)
        .await?
        .into_iter()
        .map(|r| (r.tenant_id.clone(), r))
        .collect();
    let mut findings = vec![];
    for (tenant, resources) in found(ops).await? {
        let rec = records.get(&tenant);
        for (kind, name) in resources {
            let detail = match rec.map(|r| r.status) {
                None if TenantId::parse(&tenant).is_err() => "not a valid tenant id".to_string(),
                None => "no tenant record".to_string(),
                Some(Status::Failed) => "tenant is FAILED: its rollback should have removed this".to_string(),
                // Offboarding keeps objects when asked to; nothing else.
                Some(Status::Offboarded) if kind == "prefix" => continue,
                Some(Status::Offboarded) => "tenant is OFFBOARDED".to_string(),
                Some(Status::RollbackFailed) => format!(
                    "known leftover of a failed rollback (record lists: {})",
                    rec.map(|r| r.remaining.join(", ")).unwrap_or_default()
                ),
                Some(_) => continue,
            };
            findings.push(Finding {
                tenant: tenant.clone(),
                resource: format!("{kind} {name}"),
                detail,
            });
        }
    }
    Ok(findings)
}

/// Tenants with anything found, for tests and summaries.
pub fn tenants_with_findings(findings: &[Finding]) -> BTreeSet<String> {
    findings.iter().map(|f| f.tenant.clone()).collect()
}
