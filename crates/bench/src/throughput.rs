//! N tenants onboarded concurrently on a fresh local stack: wall time, each tenant's
//! execution time, and a check that every tenant is mapped to its own role.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use tenant_domain::{MappingType, TenantId, TenantNames};
use tenantctl::Ops;

use crate::onboarding::ops_for;
use crate::stats::Summary;

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub mapping_type: String,
    pub tenants: usize,
    pub succeeded: usize,
    /// First StartExecution until the last execution is seen ended (polled every 250 ms).
    pub wall_s: f64,
    /// Each execution's own start to stop, from DescribeExecution.
    pub per_tenant_s: Summary,
    /// Tenants whose group is mapped to their role and whose role, policy, secret and
    /// prefix exist.
    pub complete: usize,
    pub incomplete: Vec<String>,
    /// Whether the emulator enforced its request-rate quotas.
    pub rate_limits: bool,
    /// Onboardings per second, first start to last end.
    pub tenants_per_s: f64,
    /// What the quotas allow at most: for each rate-limited call, its rate over the times
    /// one onboarding makes it; the smallest, with the call that sets it.
    pub ceiling_per_s: Option<(f64, String)>,
    /// At most this many onboardings in flight (0: all at once).
    pub in_flight: usize,
    /// check-isolation among a sample of the tenants (first, middle, last): checks that
    /// hold, of all, and the failures.
    pub isolation_held: usize,
    pub isolation_checks: usize,
    pub isolation_failures: Vec<String>,
}

/// Rate-limited calls one onboarding (no admin email, as measured here) makes: CreateGroup
/// once; the Verify step's probe user is added to the group once and gets one identity.
pub const CALLS_PER_ONBOARDING: [(&str, &str, f64); 3] = [
    ("cognito-idp", "CreateGroup", 1.0),
    ("cognito-idp", "AdminAddUserToGroup", 1.0),
    ("cognito-identity", "GetId", 1.0),
];

/// The onboardings per second the quotas allow: each quota's rate over the calls of it per
/// onboarding; the smallest wins. None without quotas.
pub fn ceiling(quotas: &[(&str, &str, f64)], calls: &[(&str, &str, f64)]) -> Option<(f64, String)> {
    quotas
        .iter()
        .filter_map(|(service, op, rate)| {
            let n = calls.iter().find(|(s, o, _)| s == service && o == op)?.2;
            (n > 0.0).then(|| (rate / n, format!("{service} {op} {rate}/s")))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

pub async fn measure(mapping_type: MappingType, count: usize, in_flight: usize) -> anyhow::Result<Throughput> {
    let stack = crate::onboarding::bench_stack(mapping_type).await?;
    let rate_limits = tenant_localstack::Options::default().rate_limits;
    let ops = ops_for(&stack).await?;
    let tenants: Vec<TenantId> = (0..count)
        .map(|i| TenantId::parse(&format!("t{i:03}")))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut runs = tokio::task::JoinSet::new();
    // A cap for the scale run: a thousand StartExecutions at once time out connecting
    // to the emulator, which is the bench's limit, not the product's.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(if in_flight == 0 {
        tokio::sync::Semaphore::MAX_PERMITS
    } else {
        in_flight
    }));
    for tenant in tenants.clone() {
        let ops = ops.clone();
        let gate = gate.clone();
        runs.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            run_one(&ops, &tenant).await
        });
    }
    let mut outcomes = vec![];
    while let Some(done) = runs.join_next().await {
        outcomes.push(done??);
    }
    let wall_s = started.elapsed().as_secs_f64();
    let succeeded = outcomes.iter().filter(|(status, _)| status == "SUCCEEDED").count();
    let durations: Vec<f64> = outcomes.iter().map(|(_, d)| *d).collect();
    let incomplete = incomplete(&ops, &tenants).await?;
    let mut sample: Vec<TenantId> = [0, count / 2, count.saturating_sub(1)]
        .into_iter()
        .filter_map(|i| tenants.get(i).cloned())
        .collect();
    sample.dedup();
    let checks = tenantctl::isolation::check_isolation(&ops, &sample).await?;
    let isolation_failures: Vec<String> = checks
        .iter()
        .filter(|c| !c.holds())
        .map(|c| {
            format!(
                "{} -> {} {}: {:?} ({})",
                c.actor, c.target, c.action, c.actual, c.detail
            )
        })
        .collect();
    stack.stop().await;
    Ok(Throughput {
        mapping_type: format!("{mapping_type:?}"),
        tenants: count,
        succeeded,
        wall_s,
        per_tenant_s: Summary::of(&durations),
        complete: count - incomplete.len(),
        incomplete,
        rate_limits,
        tenants_per_s: count as f64 / wall_s,
        ceiling_per_s: rate_limits
            .then(|| ceiling(&tenant_localstack::RATE_QUOTAS, &CALLS_PER_ONBOARDING))
            .flatten(),
        in_flight,
        isolation_held: checks.len() - isolation_failures.len(),
        isolation_checks: checks.len(),
        isolation_failures,
    })
}

/// Starts one onboarding and waits for it; returns its status and its own duration.
async fn run_one(ops: &Ops, tenant: &TenantId) -> anyhow::Result<(String, f64)> {
    let launched =
        tenant_steps::launch::start_onboarding(&ops.ctx, &ops.onboarding_arn, tenant, None, None, 1, true).await?;
    let out = crate::onboarding::until_ended(ops, &launched.execution_arn, Duration::from_millis(250)).await?;
    let took = out
        .stop_date()
        .map(|stop| stop.as_secs_f64() - out.start_date().as_secs_f64())
        .unwrap_or(f64::NAN);
    Ok((out.status().as_str().to_string(), took))
}

/// Tenants missing anything: read live from the emulator, the pool's mapping (Rules: a
/// rule per group naming the tenant's role; Token: the provider mapped by token and the
/// group carrying the tenant's role) and every resource `inspect` reports.
async fn incomplete(ops: &Ops, tenants: &[TenantId]) -> anyhow::Result<Vec<String>> {
    let c = &ops.ctx.clients;
    let s = &ops.ctx.settings;
    let pool = c
        .identity
        .get_identity_pool_roles()
        .identity_pool_id(&s.identity_pool_id)
        .send()
        .await
        .context("reading the identity pool's role mappings")?;
    let mapping = pool.role_mappings().and_then(|m| m.get(&s.provider_name()));
    // group name -> role ARN it resolves to
    let mut mapped: BTreeMap<String, String> = BTreeMap::new();
    match s.mapping_type {
        MappingType::Rules => {
            for r in mapping
                .and_then(|m| m.rules_configuration())
                .map(|rc| rc.rules())
                .unwrap_or_default()
            {
                if let Some(t) = tenant_domain::mapping::tenant_of_rule(r.claim(), r.value()) {
                    mapped.insert(TenantNames::new(&t).group, r.role_arn().to_string());
                }
            }
        }
        // No per-tenant entry: every identity gets the shared role (checked by the
        // isolation proof of each onboarding, not here).
        MappingType::Abac => {}
        MappingType::Token => {
            if mapping.map(|m| m.r#type().as_str()) == Some("Token") {
                let mut pages = c
                    .idp
                    .list_groups()
                    .user_pool_id(&s.user_pool_id)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    for g in page.context("listing groups")?.groups() {
                        if let (Some(name), Some(role)) = (g.group_name(), g.role_arn()) {
                            mapped.insert(name.to_string(), role.to_string());
                        }
                    }
                }
            }
        }
    }
    let mut missing = BTreeSet::new();
    for tenant in tenants {
        let names = TenantNames::new(tenant);
        let role = names.role_arn(&s.partition, &s.account_id);
        if s.mapping_type.has_tenant_role() && mapped.get(&names.group) != Some(&role) {
            missing.insert(format!("{tenant}: not mapped to {role}"));
        }
        let res = tenant_steps::inspect::inspect(&ops.ctx, tenant).await;
        let present = res.present();
        let wanted: &[&str] = if s.mapping_type.has_tenant_role() {
            &[
                "group",
                "role",
                "role policy",
                "secret",
                "prefix objects",
                "mapping rule",
            ]
        } else {
            &["group", "secret", "prefix objects"]
        };
        for want in wanted {
            if !present.iter().any(|p| p == *want) {
                missing.insert(format!("{tenant}: no {want}"));
            }
        }
    }
    Ok(missing.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_is_the_tightest_quota_per_onboarding() {
        let (rate, by) = ceiling(&tenant_localstack::RATE_QUOTAS, &CALLS_PER_ONBOARDING).unwrap();
        assert_eq!((rate, by.as_str()), (5.0, "cognito-idp CreateGroup 5/s"));
        // Ten GetId calls per onboarding would make GetId the limit: 25/10.
        let calls = [("cognito-idp", "CreateGroup", 1.0), ("cognito-identity", "GetId", 10.0)];
        let (rate, by) = ceiling(&tenant_localstack::RATE_QUOTAS, &calls).unwrap();
        assert_eq!((rate, by.as_str()), (2.5, "cognito-identity GetId 25/s"));
        assert_eq!(ceiling(&[], &CALLS_PER_ONBOARDING), None);
    }
}
