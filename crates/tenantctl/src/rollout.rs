//! `tenantctl rollout start|status|resume|abort`: hands the rollout state machine the waves
//! (canary first) of the ACTIVE tenants behind the deployment's template version, follows
//! it, and recovers from a rollout that stopped part-way. The per-tenant work (converge,
//! Verify, record or revert) and the halting rule run in the state machine, without the
//! CLI attached; this module plans, starts, reads and stops.

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use tenant_domain::TenantId;
use tenant_domain::policy_compare::same_policy;
use tenant_domain::rollout::plan_waves;
use tenant_steps::converge;
use tenant_steps::record;
use tenant_steps::resources::role::{self, RoleDocuments};
use tenant_steps::rollout::{self as progress, Rollout, RolloutState};

use crate::Ops;
use crate::exit::{CliError, Exit};
use crate::listing::is_behind;

/// How a rollout is cut: `--canary`, `--waves`, `--max-failures`, `--concurrency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub canary: usize,
    pub sizes: Vec<usize>,
    pub max_failures: usize,
    pub concurrency: usize,
}

/// Tenants one rollout execution takes at most by default: a standard execution's history
/// holds 25,000 events, and a tenant's converge, proof and record with their retries take
/// about 20 to 40; the tenants left behind are the next `rollout start`'s.
pub const DEFAULT_MAX_TENANTS: usize = 500;

/// What `start` or `resume` did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Started {
    /// Every ACTIVE tenant is at the version: nothing to roll out.
    NothingBehind { version: String, up_to_date: usize },
    Started {
        rollout: Rollout,
        /// Tenants an earlier, stopped rollout left half applied, put back first.
        reverted_first: Vec<String>,
        /// Tenants behind that this rollout does not take (`--max-tenants`): the next
        /// `rollout start` takes them.
        more_behind: usize,
    },
}

/// A rollout as the table and its execution tell it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rollout: Rollout,
    /// The execution's status (RUNNING, SUCCEEDED, FAILED, ABORTED, ...), None when it
    /// cannot be found.
    pub execution_status: Option<String>,
    /// ACTIVE tenants this rollout converged but neither proved nor reverted (the
    /// execution stopped in between): `abort` or `resume` puts them back.
    pub half_applied: Vec<String>,
}

/// What `abort` did.
#[derive(Debug, Clone, Serialize)]
pub struct Aborted {
    pub rollout_id: String,
    /// The execution was running and was stopped.
    pub stopped: bool,
    /// Tenants put back to their documents from before this rollout.
    pub reverted: Vec<String>,
}

fn refused(message: String, next: &str) -> anyhow::Error {
    CliError::new(Exit::Refused, None, message).next(next).into()
}

fn machine(ops: &Ops) -> anyhow::Result<&str> {
    ops.rollout_arn.as_deref().ok_or_else(|| {
        CliError::new(
            Exit::Environment,
            None,
            format!(
                "{} is not set: this deployment's outputs name no rollout state machine",
                tenant_steps::config::env::ROLLOUT_STATE_MACHINE_ARN
            ),
        )
        .next("deploy the current template.yaml (`sam deploy`) and export its RolloutStateMachineArn output")
        .into()
    })
}

/// `arn:…:stateMachine:NAME` → `arn:…:execution:NAME:ID`.
pub fn execution_arn(machine: &str, id: &str) -> String {
    format!("{}:{id}", machine.replacen(":stateMachine:", ":execution:", 1))
}

async fn execution_status(ops: &Ops, id: &str) -> anyhow::Result<Option<String>> {
    let arn = execution_arn(machine(ops)?, id);
    match ops
        .ctx
        .clients
        .sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
    {
        Ok(out) => Ok(Some(out.status().as_str().to_string())),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_does_not_exist()) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("states DescribeExecution {arn}")),
    }
}

/// ACTIVE tenants behind `r`'s version whose role no longer holds the documents `r` kept
/// before changing it: converged, then neither proven nor put back (the execution stopped
/// in between, or a call in flight landed after an abort's revert).
async fn half_applied(ops: &Ops, r: &Rollout) -> anyhow::Result<Vec<String>> {
    let mut out = vec![];
    for t in record::list(&ops.ctx).await? {
        if t.previous_by.as_deref() != Some(r.rollout_id.as_str()) || !is_behind(&t, &r.version) {
            continue;
        }
        let Ok(tenant) = TenantId::parse(&t.tenant_id) else {
            continue;
        };
        let kept: Option<RoleDocuments> = t
            .previous_documents
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let live = role::documents(&ops.ctx, &tenant).await?;
        if let (Some(kept), Some(live)) = (kept, live)
            && !same_documents(&kept, &live)
        {
            out.push(t.tenant_id);
        }
    }
    Ok(out)
}

/// The documents grant the same and carry the same version (the boundary is always put
/// back as the deployment's, so it is not compared).
fn same_documents(a: &RoleDocuments, b: &RoleDocuments) -> bool {
    let doc = |d: &Option<String>| {
        d.as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
    };
    let same = |x: &Option<String>, y: &Option<String>| match (doc(x), doc(y)) {
        (Some(x), Some(y)) => same_policy(&x, &y),
        (None, None) => true,
        _ => false,
    };
    same(&a.policy, &b.policy) && same(&a.trust, &b.trust) && a.template_version == b.template_version
}

/// Puts the documents `r` kept back on each half-applied tenant.
async fn revert_half_applied(ops: &Ops, r: &Rollout) -> anyhow::Result<Vec<String>> {
    let mut reverted = vec![];
    for id in half_applied(ops, r).await? {
        let tenant = TenantId::parse(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
        converge::revert(&ops.ctx, &tenant, &r.rollout_id)
            .await
            .with_context(|| {
                format!(
                    "putting tenant {id}'s documents from before rollout {} back",
                    r.rollout_id
                )
            })?;
        reverted.push(id);
    }
    Ok(reverted)
}

/// The latest rollout with its execution; a rollout recorded as running whose execution
/// ended (stopped, timed out, failed outside a wave's verdict) is settled as aborted.
pub async fn status(ops: &Ops) -> anyhow::Result<Option<Report>> {
    let Some(mut r) = progress::get(&ops.ctx).await? else {
        return Ok(None);
    };
    let execution_status = execution_status(ops, &r.rollout_id).await?;
    if r.state == RolloutState::Running && execution_status.as_deref() != Some("RUNNING") {
        let reason = format!(
            "the execution ended {} before the rollout did",
            execution_status.as_deref().unwrap_or("(not found)")
        );
        progress::settle(&ops.ctx, &r.rollout_id, RolloutState::Aborted, &reason).await?;
        r = progress::get(&ops.ctx).await?.unwrap_or(r);
    }
    let half_applied = if r.state == RolloutState::Running {
        vec![]
    } else {
        half_applied(ops, &r).await?
    };
    Ok(Some(Report {
        rollout: r,
        execution_status,
        half_applied,
    }))
}

/// Refuses while a rollout runs; otherwise puts back what a stopped one left half applied.
async fn settle_previous(ops: &Ops) -> anyhow::Result<(Option<Rollout>, Vec<String>)> {
    let Some(report) = status(ops).await? else {
        return Ok((None, vec![]));
    };
    if report.rollout.state == RolloutState::Running {
        return Err(refused(
            format!(
                "rollout {} is running (wave {} of {})",
                report.rollout.rollout_id,
                (report.rollout.waves_done + 1).min(report.rollout.waves.len()),
                report.rollout.waves.len()
            ),
            "`tenantctl rollout status` follows it; `tenantctl rollout abort` stops it",
        ));
    }
    let reverted = revert_half_applied(ops, &report.rollout).await?;
    Ok((Some(report.rollout), reverted))
}

async fn launch(
    ops: &Ops,
    rollout: Rollout,
    reverted_first: Vec<String>,
    more_behind: usize,
) -> anyhow::Result<Started> {
    let arn = machine(ops)?.to_string();
    if !progress::put_started(&ops.ctx, &rollout).await? {
        return Err(refused(
            "another rollout started meanwhile".into(),
            "`tenantctl rollout status`",
        ));
    }
    let started = ops
        .ctx
        .clients
        .sfn
        .start_execution()
        .state_machine_arn(&arn)
        .name(&rollout.rollout_id)
        .input(rollout.execution_input().to_string())
        .send()
        .await;
    if let Err(e) = started {
        let message = format!(
            "states StartExecution {arn}: {}",
            aws_sdk_sfn::error::DisplayErrorContext(&e)
        );
        progress::settle(&ops.ctx, &rollout.rollout_id, RolloutState::Aborted, &message).await?;
        return Err(anyhow::anyhow!(message));
    }
    Ok(Started::Started {
        rollout,
        reverted_first,
        more_behind,
    })
}

fn new_id(version: &str) -> String {
    // Execution names: at most 80 of [A-Za-z0-9_-]; unique per start.
    let short: String = version.chars().filter(char::is_ascii_alphanumeric).take(12).collect();
    format!("rollout-{short}-{}-{}", record::now(), std::process::id())
}

/// Plans the waves of the ACTIVE tenants behind the current version (the first
/// `max_tenants` by id) and starts the rollout state machine on them.
pub async fn start(ops: &Ops, shape: &Shape, max_tenants: usize) -> anyhow::Result<Started> {
    let ctx = &ops.ctx;
    if !ctx.settings.mapping_type.has_tenant_role() {
        return Err(refused(
            format!(
                "this deployment is in {:?} mode: its tenants share one role, so a template change reaches every tenant at once with the stack update; a rollout converges per-tenant roles",
                ctx.settings.mapping_type
            ),
            "prove the shared role on a staging stack first; `tenantctl audit` checks it",
        ));
    }
    let version = ctx.settings.template_version();
    let waves_of = |tenants: &[TenantId]| {
        plan_waves(tenants, shape.canary, &shape.sizes)
            .map_err(|e| anyhow::Error::from(CliError::new(Exit::Usage, None, e.to_string())))
    };
    // Checked before anything is changed.
    waves_of(&[])?;
    machine(ops)?;
    let (_, reverted_first) = settle_previous(ops).await?;
    let records = record::list(ctx).await?;
    let mut behind: Vec<TenantId> = records
        .iter()
        .filter(|r| is_behind(r, &version))
        .filter_map(|r| TenantId::parse(&r.tenant_id).ok())
        .collect();
    let more_behind = behind.len().saturating_sub(max_tenants);
    behind.truncate(max_tenants);
    if behind.is_empty() {
        let up_to_date = records
            .iter()
            .filter(|r| r.status == tenant_domain::Status::Active)
            .count();
        return Ok(Started::NothingBehind { version, up_to_date });
    }
    let waves = waves_of(&behind)?
        .into_iter()
        .map(|w| w.iter().map(|t| t.to_string()).collect())
        .collect();
    let rollout = fresh(&version, waves, shape);
    launch(ops, rollout, reverted_first, more_behind).await
}

fn fresh(version: &str, waves: Vec<Vec<String>>, shape: &Shape) -> Rollout {
    Rollout {
        rollout_id: new_id(version),
        state: RolloutState::Running,
        version: version.to_string(),
        waves,
        canary: shape.canary,
        sizes: shape.sizes.clone(),
        max_failures: shape.max_failures,
        concurrency: shape.concurrency,
        waves_done: 0,
        failures: 0,
        results: Default::default(),
        reason: None,
        started_at: record::now(),
    }
}

/// Starts the latest rollout again on its tenants still behind, in its waves, with its
/// settings; refused when the deployment's template changed since (that is a new rollout).
pub async fn resume(ops: &Ops) -> anyhow::Result<Started> {
    machine(ops)?;
    let (previous, reverted_first) = settle_previous(ops).await?;
    let Some(previous) = previous else {
        return Err(
            CliError::new(Exit::NotFound, None, "there has been no rollout to resume")
                .next("`tenantctl rollout start`")
                .into(),
        );
    };
    let version = ops.ctx.settings.template_version();
    if previous.version != version {
        return Err(refused(
            format!(
                "rollout {} converged to template {}, but the deployment's template is now {version}",
                previous.rollout_id, previous.version
            ),
            "`tenantctl rollout plan`, then `tenantctl rollout start` for the new template",
        ));
    }
    let records = record::list(&ops.ctx).await?;
    let still: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| is_behind(r, &version))
        .map(|r| r.tenant_id.as_str())
        .collect();
    let waves: Vec<Vec<String>> = previous
        .waves
        .iter()
        .map(|w| {
            w.iter()
                .filter(|t| still.contains(t.as_str()))
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    if waves.is_empty() {
        let up_to_date = records
            .iter()
            .filter(|r| r.status == tenant_domain::Status::Active)
            .count();
        return Ok(Started::NothingBehind { version, up_to_date });
    }
    let shape = Shape {
        canary: previous.canary,
        sizes: previous.sizes.clone(),
        max_failures: previous.max_failures,
        concurrency: previous.concurrency,
    };
    launch(ops, fresh(&version, waves, &shape), reverted_first, 0).await
}

/// Stops the running rollout and puts back the documents of any tenant it left half
/// applied; tenants it already proved stay at the new version.
pub async fn abort(ops: &Ops) -> anyhow::Result<Aborted> {
    let arn = machine(ops)?.to_string();
    let Some(r) = progress::get(&ops.ctx).await? else {
        return Err(CliError::new(Exit::NotFound, None, "there has been no rollout").into());
    };
    let mut stopped = false;
    if r.state == RolloutState::Running {
        let execution = execution_arn(&arn, &r.rollout_id);
        match ops
            .ctx
            .clients
            .sfn
            .stop_execution()
            .execution_arn(&execution)
            .cause("stopped by `tenantctl rollout abort`")
            .send()
            .await
        {
            Ok(_) => stopped = true,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_does_not_exist()) => {}
            Err(e) => return Err(e).with_context(|| format!("states StopExecution {execution}")),
        }
        progress::settle(
            &ops.ctx,
            &r.rollout_id,
            RolloutState::Aborted,
            "aborted by the operator",
        )
        .await?;
        // A Lambda already running finishes its call after the stop: let it land before
        // reading what is half applied.
        if stopped {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let reverted = revert_half_applied(ops, &r).await?;
    if !stopped && reverted.is_empty() {
        return Err(refused(
            format!(
                "rollout {} is not running ({}); nothing to abort",
                r.rollout_id,
                r.state.as_str()
            ),
            "`tenantctl rollout status`",
        ));
    }
    Ok(Aborted {
        rollout_id: r.rollout_id,
        stopped,
        reverted,
    })
}

/// Follows rollout `id` until its execution ends, calling `on_wave` with each wave (1-based)
/// as it is recorded; `timeout` gives up (the rollout goes on without the CLI).
pub async fn follow(
    ops: &Ops,
    id: &str,
    timeout: Duration,
    mut on_wave: impl FnMut(&Rollout, usize),
) -> anyhow::Result<Option<Report>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = 0;
    loop {
        let running = execution_status(ops, id).await?.as_deref() == Some("RUNNING");
        if let Some(r) = progress::get(&ops.ctx).await?.filter(|r| r.rollout_id == id)
            && r.waves_done > seen
        {
            // Each wave once, also when several ended between two polls.
            for wave in seen + 1..=r.waves_done.min(r.waves.len()) {
                on_wave(&r, wave);
            }
            seen = r.waves_done;
        }
        if !running {
            return status(ops).await;
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The exit code of a rollout as it stands: 0 running, or completed with every tenant
/// converged (or skipped); 1 halted, aborted, or completed with tenants reverted.
pub fn exit_of(r: &Rollout) -> Exit {
    match r.state {
        RolloutState::Running => Exit::Ok,
        RolloutState::Completed if r.unfinished().is_empty() => Exit::Ok,
        _ => Exit::Failed,
    }
}
