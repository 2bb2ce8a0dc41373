//! What exists for a tenant, read live from AWS (not from our own records), so an
//! operator sees the truth and tests can check for residue.

use serde::Serialize;
use tenant_domain::{Status, TenantId};
pub use tenant_steps::inspect::Resources;
use tenant_steps::record::{self, TenantRecord};
use tenant_steps::resources::{Resource, Row};

use crate::Ops;

#[derive(Debug, Clone, Serialize)]
pub struct TenantStatus {
    pub tenant_id: String,
    pub record: Option<TenantRecord>,
    pub resources: Resources,
}

/// Never fails on a resource: one that cannot be read is in the result as unavailable.
pub async fn inspect(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Resources> {
    Ok(tenant_steps::inspect::inspect(&ops.ctx, tenant).await)
}

/// What is wrong with the live resources given the record's status, and how bad: a
/// resource an ACTIVE tenant is missing is a bad outcome; one that could not be read is
/// the environment's failure (the command may work later). Pure.
pub fn warnings(status: Option<Status>, resources: &Resources) -> (Vec<String>, Option<crate::exit::Exit>) {
    let mut out = vec![];
    let mut exit = None;
    if status == Some(Status::Active) {
        for r in resources.missing() {
            out.push(format!("the tenant is ACTIVE but its {} is missing", r.label()));
            exit = Some(crate::exit::Exit::Failed);
        }
    }
    for (r, reason) in resources.unavailable() {
        out.push(format!("{} could not be inspected: {reason}", r.label()));
        exit = exit.or(Some(crate::exit::Exit::Environment));
    }
    (out, exit)
}

pub async fn status(ops: &Ops, tenant: &TenantId) -> anyhow::Result<TenantStatus> {
    let record = record::get(&ops.ctx, tenant.as_str()).await?;
    let resources = inspect(ops, tenant).await?;
    Ok(TenantStatus {
        tenant_id: tenant.to_string(),
        record,
        resources,
    })
}

pub async fn list(ops: &Ops) -> anyhow::Result<Vec<TenantRecord>> {
    Ok(record::list(&ops.ctx).await?)
}

/// What `tenantctl status` shows: the record with its attempts, the live resources with
/// their names, and the timeline of the current (or last) execution.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tenant_id: String,
    pub record: Option<TenantRecord>,
    pub resources: Resources,
    /// What `status` shows of each resource, in the resource list's order.
    pub rows: Vec<Row>,
    /// Missing or unreadable resources, given the record's status.
    pub warnings: Vec<String>,
    pub names: Names,
    pub execution: Option<ExecutionReport>,
    /// Set when the record's execution has ended but left it unsettled.
    pub stuck: bool,
    /// What to do next, if anything.
    pub next: Option<String>,
    /// The deployment's template version now (the record's is `record.template_version`).
    pub current_template_version: String,
    /// The tenant is ACTIVE and its record names another template version.
    pub behind: bool,
    /// Moved to the shared role by `tenantctl migrate --to abac` while the deployment
    /// still has a role per tenant: its own role is gone on purpose.
    pub moved_to_shared_role: bool,
}

/// Where the tenant's resources live, whether or not they exist now.
#[derive(Debug, Clone, Serialize)]
pub struct Names {
    pub group: String,
    pub role_name: String,
    pub secret_name: String,
    pub prefix: String,
    pub bucket: String,
    pub identity_pool: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutionReport {
    pub arn: String,
    pub name: String,
    pub status: String,
    /// The Step Functions console page; None on the local stack.
    pub console_url: Option<String>,
    pub timeline: crate::timeline::Timeline,
}

pub async fn report(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Report> {
    let st = status(ops, tenant).await?;
    let n = tenant_domain::TenantNames::new(tenant);
    let s = &ops.ctx.settings;
    let names = Names {
        group: n.group,
        role_name: n.role_name,
        secret_name: n.secret_name,
        prefix: n.prefix,
        bucket: s.bucket.clone(),
        identity_pool: s.identity_pool_id.clone(),
    };
    let execution = match crate::onboard::current_execution(ops, tenant).await {
        Ok(arn) => 'found: {
            let timeline = match crate::history::timeline(ops, &arn).await {
                Ok(t) => t,
                // The record outlives the execution's history: show the record alone.
                Err(e) if crate::exit::exit_of(&e) == crate::exit::Exit::NotFound => break 'found None,
                Err(e) => return Err(e),
            };
            let status = timeline
                .end
                .as_ref()
                .map_or("RUNNING".to_string(), |e| e.status.clone());
            Some(ExecutionReport {
                name: arn.rsplit(':').next().unwrap_or_default().to_string(),
                console_url: if ops.endpoint.is_some() {
                    None
                } else {
                    crate::history::console_url(&arn)
                },
                arn,
                status,
                timeline,
            })
        }
        // No record and no execution: reported as not found by the caller.
        Err(e) if st.record.is_none() && crate::exit::exit_of(&e) == crate::exit::Exit::NotFound => None,
        Err(e) => return Err(e),
    };
    let stuck = match &st.record {
        Some(r) if !r.status.is_settled() => !crate::onboard::owner_running(ops, r).await?,
        _ => false,
    };
    let next = match (&st.record, &execution) {
        (Some(r), _) if r.status == Status::PendingApproval => Some(format!(
            "`tenantctl approve {tenant}` starts its onboarding; `tenantctl reject {tenant}` frees the id"
        )),
        (Some(r), Some(x)) if stuck || x.status != "RUNNING" => {
            let error = x.timeline.end.as_ref().and_then(|e| e.error.as_deref());
            crate::exit::next_command(&crate::exit::Ending {
                tenant: tenant.as_str(),
                execution_status: &x.status,
                error: r.error_name.as_deref().or(error),
                record_status: Some(r.status),
                owned: r.execution == x.name,
                owner: Some(&r.execution),
                remaining: &r.remaining,
            })
        }
        // The record names an execution that never started (a signup's StartExecution
        // failed) or whose history is gone.
        (Some(r), None) if stuck => Some(format!(
            "`tenantctl retry {tenant}` starts its onboarding again ({} is not running); `tenantctl offboard {tenant} --keep-prefix` removes it",
            r.execution
        )),
        _ => None,
    };
    let rows = st.resources.rows(tenant, s);
    let (mut warnings, _) = warnings(st.record.as_ref().map(|r| r.status), &st.resources);
    let moved_to_shared_role = s.mapping_type.has_tenant_role()
        && st.record.as_ref().is_some_and(|r| r.status == Status::Active)
        && tenant_steps::migrate::marked(&ops.ctx, tenant).await? == Some(tenant_domain::MappingType::Abac);
    if moved_to_shared_role {
        let missing_role = format!("the tenant is ACTIVE but its {} is missing", Resource::Role.label());
        warnings.retain(|w| *w != missing_role);
        warnings.insert(
            0,
            format!(
                "moved to the shared tenant role by `tenantctl migrate --to abac` (its own role is gone on purpose) while the deployment's MappingType is still {:?}: finish the migration and switch MappingType to Abac (docs/operations.md)",
                s.mapping_type
            ),
        );
    }
    let current_template_version = s.template_version();
    let behind = st
        .record
        .as_ref()
        .is_some_and(|r| crate::listing::is_behind(r, &current_template_version));
    Ok(Report {
        tenant_id: st.tenant_id,
        record: st.record,
        resources: st.resources,
        rows,
        warnings,
        names,
        execution,
        stuck,
        next,
        current_template_version,
        behind,
        moved_to_shared_role,
    })
}

/// How bad the live resources are for the exit code (`warnings`' judgement), a tenant
/// moved to the shared role by a migration not missing its own role.
pub fn degraded(report: &Report, status: Status) -> Option<crate::exit::Exit> {
    let (_, exit) = warnings(Some(status), &report.resources);
    let only_role = report.resources.missing().iter().all(|r| *r == Resource::Role);
    let unreadable = !report.resources.unavailable().is_empty();
    match exit {
        Some(crate::exit::Exit::Failed) if report.moved_to_shared_role && only_role && !unreadable => None,
        Some(crate::exit::Exit::Failed) if report.moved_to_shared_role && only_role => {
            Some(crate::exit::Exit::Environment)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use tenant_steps::resources::{Observation, Resource};

    /// Every resource observed unreadable, then each in turn made absent.
    fn all_unavailable() -> Resources {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Offline: every read fails, so every resource is unavailable.
        rt.block_on(tenant_steps::inspect::inspect(
            &tenant_steps::Context::offline(),
            &TenantId::parse("acme").unwrap(),
        ))
    }

    /// Every resource of the list has its create Step in the onboarding ASL, its delete
    /// Step in both ASL files (compensation and offboarding), a `status` row, and is
    /// warned about when an ACTIVE tenant has none of it.
    #[test]
    fn every_resource_has_its_steps_its_row_and_its_missing_warning() {
        let asl = |f: &str| {
            std::fs::read_to_string(format!("{}/../../statemachine/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        let (onboarding, offboarding) = (asl("onboarding.asl.json"), asl("offboarding.asl.json"));
        let tenant = TenantId::parse("acme").unwrap();
        let settings = &tenant_steps::Context::offline().settings;
        let mut nothing = all_unavailable();
        nothing.group = Observation::Absent("saw no group".into());
        nothing.role = Observation::Absent("saw no role".into());
        nothing.secret = Observation::Absent("saw no secret".into());
        nothing.prefix = Observation::Absent("saw no prefix".into());
        nothing.mapping = Observation::Absent("saw no mapping".into());
        nothing.users = Observation::Absent("saw no users".into());
        let rows = nothing.rows(&tenant, settings);
        let (warned, exit) = warnings(Some(Status::Active), &nothing);
        assert_eq!(exit, Some(Exit::Failed));
        for r in Resource::ALL {
            let create = format!("${{{}}}", r.create_step().substitution());
            let delete = format!("${{{}}}", r.delete_step().substitution());
            assert!(
                onboarding.contains(&create),
                "{r:?}: {create} not in onboarding.asl.json"
            );
            assert!(
                onboarding.contains(&delete),
                "{r:?}: {delete} not in onboarding.asl.json"
            );
            assert!(
                offboarding.contains(&delete),
                "{r:?}: {delete} not in offboarding.asl.json"
            );
            assert!(
                rows.iter()
                    .any(|row| row.label == r.label() && row.detail.contains(&format!("saw no {}", r.label()))),
                "{r:?} has no status row saying what was seen: {rows:?}"
            );
            let missing = format!("the tenant is ACTIVE but its {} is missing", r.label());
            assert!(warned.contains(&missing), "{r:?}: {warned:?}");
        }
    }

    #[test]
    fn unreadable_resources_are_named_and_exit_environment() {
        let res = all_unavailable();
        let (w, exit) = warnings(Some(Status::Active), &res);
        assert_eq!(exit, Some(Exit::Environment));
        assert_eq!(w.len(), Resource::ALL.len());
        assert!(
            w[0].starts_with("group could not be inspected: unavailable: cognito-idp GetGroup"),
            "{w:?}"
        );
    }

    #[test]
    fn an_active_tenant_missing_a_resource_fails_and_names_it() {
        let mut res = all_unavailable();
        res.role = Observation::Absent("no role tenant-acme".into());
        let (w, exit) = warnings(Some(Status::Active), &res);
        assert_eq!(exit, Some(Exit::Failed));
        assert!(
            w.contains(&"the tenant is ACTIVE but its role is missing".to_string()),
            "{w:?}"
        );
        // The same absence on a FAILED tenant is what its rollback should leave.
        let (w, _) = warnings(Some(Status::Failed), &res);
        assert!(!w.iter().any(|l| l.contains("missing")), "{w:?}");
    }
}
