//! The rollout state machine's steps (`statemachine/rollout.asl.json`) and its progress
//! item. Each tenant of a wave is converged in place (`converge::converge`, its documents
//! kept on the record first), proven by the Verify step, then recorded at the new version;
//! any failure puts the kept documents back. After each wave, `record_wave` writes the
//! wave's results on the rollout item and judges whether the rollout goes on
//! (`tenant_domain::rollout::judge_wave`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::rollout::{TenantResult, TenantRollout, judge_wave};
use tracing::{info, warn};

use crate::error::{classify, condition_held};
use crate::record::{attr, n, now, s, table};
use crate::{Context, StepError, StepInput, converge};

/// The rollout item's key in the tenant table: not a tenant id (`#` is outside the
/// grammar), so no tenant's record can be it. One rollout is kept: the latest.
pub const ROLLOUT_KEY: &str = "#rollout";

/// The rollout item's attributes.
mod key {
    pub const ID: &str = "rollout_id";
    pub const STATE: &str = "rollout_state";
    pub const VERSION: &str = "version";
    pub const WAVES: &str = "waves";
    pub const CANARY: &str = "canary";
    pub const SIZES: &str = "sizes";
    pub const MAX_FAILURES: &str = "max_failures";
    pub const CONCURRENCY: &str = "concurrency";
    pub const WAVES_DONE: &str = "waves_done";
    pub const FAILURES: &str = "failures";
    pub const RESULTS: &str = "results";
    pub const REASON: &str = "reason";
    pub const STARTED_AT: &str = "started_at";
}

/// Where a rollout is, as its item says (the execution's own status is read beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    Running,
    Completed,
    Halted,
    Aborted,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Completed => "completed",
            RolloutState::Halted => "halted",
            RolloutState::Aborted => "aborted",
        }
    }

    fn parse(raw: &str) -> Option<RolloutState> {
        [
            RolloutState::Running,
            RolloutState::Completed,
            RolloutState::Halted,
            RolloutState::Aborted,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// The latest rollout, as kept in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollout {
    /// The execution's name.
    pub rollout_id: String,
    pub state: RolloutState,
    pub version: String,
    pub waves: Vec<Vec<String>>,
    pub canary: usize,
    pub sizes: Vec<usize>,
    pub max_failures: usize,
    pub concurrency: usize,
    pub waves_done: usize,
    pub failures: usize,
    /// Per tenant, the last result the rollout recorded.
    pub results: std::collections::BTreeMap<String, TenantRollout>,
    pub reason: Option<String>,
    pub started_at: u64,
}

impl Rollout {
    fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Rollout> {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let num = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_default()
        };
        let results = item
            .get(key::RESULTS)
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str(v.as_s().ok()?).ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        Some(Rollout {
            rollout_id: text(key::ID)?,
            state: RolloutState::parse(&text(key::STATE)?)?,
            version: text(key::VERSION)?,
            waves: serde_json::from_str(&text(key::WAVES)?).ok()?,
            canary: num(key::CANARY) as usize,
            sizes: text(key::SIZES)
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
            max_failures: num(key::MAX_FAILURES) as usize,
            concurrency: num(key::CONCURRENCY) as usize,
            waves_done: num(key::WAVES_DONE) as usize,
            failures: num(key::FAILURES) as usize,
            results,
            reason: text(key::REASON),
            started_at: num(key::STARTED_AT),
        })
    }

    /// The tenants no wave has reached yet, or whose proof failed (skipped ones were no
    /// longer ACTIVE: nothing is left to do for them).
    pub fn unfinished(&self) -> Vec<String> {
        self.waves
            .iter()
            .flatten()
            .filter(|t| self.results.get(*t).is_none_or(|r| r.result.is_failure()))
            .cloned()
            .collect()
    }

    /// The state machine's input that runs this rollout.
    pub fn execution_input(&self) -> Value {
        json!({
            "version": self.version,
            "waves": self.waves,
            "max_failures": self.max_failures,
            "concurrency": self.concurrency,
        })
    }
}

/// The latest rollout, None when there has been none.
pub async fn get(ctx: &Context) -> Result<Option<Rollout>, StepError> {
    let out = ctx
        .clients
        .ddb
        .get_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(ROLLOUT_KEY))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify("dynamodb", "GetItem", &e).about(table(ctx)))?;
    Ok(out.item().and_then(Rollout::from_item))
}

/// Records a rollout about to start, unless another one is running: false then.
pub async fn put_started(ctx: &Context, r: &Rollout) -> Result<bool, StepError> {
    let waves = serde_json::to_string(&r.waves).map_err(StepError::internal)?;
    let sizes = serde_json::to_string(&r.sizes).map_err(StepError::internal)?;
    let req = ctx
        .clients
        .ddb
        .put_item()
        .table_name(&ctx.settings.table)
        .item(attr::TENANT_ID, s(ROLLOUT_KEY))
        .item(key::ID, s(&r.rollout_id))
        .item(key::STATE, s(RolloutState::Running.as_str()))
        .item(key::VERSION, s(&r.version))
        .item(key::WAVES, s(&waves))
        .item(key::CANARY, n(r.canary as u64))
        .item(key::SIZES, s(&sizes))
        .item(key::MAX_FAILURES, n(r.max_failures as u64))
        .item(key::CONCURRENCY, n(r.concurrency as u64))
        .item(key::WAVES_DONE, n(0))
        .item(key::FAILURES, n(0))
        .item(key::RESULTS, AttributeValue::M(HashMap::new()))
        .item(key::STARTED_AT, n(now()))
        .item(attr::UPDATED_AT, n(now()))
        .condition_expression("attribute_not_exists(#st) OR #st <> :running")
        .expression_attribute_names("#st", key::STATE)
        .expression_attribute_values(":running", s(RolloutState::Running.as_str()));
    condition_held("PutItem", req.send().await.map(drop))
}

/// Moves rollout `id` from running to `to` (an operator's abort, a stopped execution
/// found by `status`); false when it is not that rollout or not running.
pub async fn settle(ctx: &Context, id: &str, to: RolloutState, reason: &str) -> Result<bool, StepError> {
    let req = ctx
        .clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(ROLLOUT_KEY))
        .update_expression("SET #st = :to, #r = :reason, updated_at = :now")
        .condition_expression("#id = :id AND #st = :running")
        .expression_attribute_names("#st", key::STATE)
        .expression_attribute_names("#id", key::ID)
        .expression_attribute_names("#r", key::REASON)
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":id", s(id))
        .expression_attribute_values(":running", s(RolloutState::Running.as_str()))
        .expression_attribute_values(":reason", s(reason))
        .expression_attribute_values(":now", n(now()));
    condition_held("UpdateItem", req.send().await.map(drop))
}

/// The deployment renders the version the rollout converges to. Otherwise it changed
/// during the rollout: not a skip, a failure (the tenant is put back, the rollout halts)
/// rather than tenants recorded at a version the rollout was not started for.
fn same_template(ctx: &Context, input: &StepInput) -> Result<(), StepError> {
    let renders = ctx.settings.template_version();
    match input.template_version.as_deref() {
        Some(wanted) if wanted != renders => Err(StepError::Misconfigured {
            message: format!(
                "the deployment's tenant template is now {renders}, but this rollout converges to {wanted}; start a new rollout for the new template"
            ),
        }),
        _ => Ok(()),
    }
}

/// ConvergeRole: the tenant's documents kept on its record, then its role and the mapping
/// converged. A tenant that is not ACTIVE (being offboarded) or has no role is skipped
/// untouched: `{"skipped": true, "reason": ...}`.
pub async fn converge_role(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    same_template(ctx, input)?;
    match converge::converge(ctx, &tenant, &input.execution).await {
        Ok(_) => Ok(json!({ "skipped": false, "changed_at": now() })),
        Err(e @ (StepError::StaleExecution { .. } | StepError::ResourceConflict { .. })) => {
            info!(reason = %e, "tenant skipped");
            Ok(json!({ "skipped": true, "reason": e.to_string() }))
        }
        Err(e) => Err(e),
    }
}

/// RecordConverged: proven, so the record names the rollout's version.
pub async fn record_converged(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    same_template(ctx, input)?;
    converge::record_converged(ctx, &tenant).await?;
    serde_json::to_value(TenantRollout {
        tenant_id: tenant.to_string(),
        result: TenantResult::Converged,
        error: None,
        message: None,
    })
    .map_err(StepError::internal)
}

/// RevertRole: the documents this rollout kept go back on the role; the failure that
/// brought it here is the tenant's result.
pub async fn revert_role(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let tenant = input.tenant()?;
    let put_back = converge::revert(ctx, &tenant, &input.execution).await?.is_some();
    let failure = input.failure.as_ref();
    warn!(
        error = failure.map(|f| f.error.as_str()),
        "tenant reverted to its previous documents"
    );
    serde_json::to_value(TenantRollout {
        tenant_id: tenant.to_string(),
        result: TenantResult::Reverted,
        error: failure.map(|f| f.error.clone()),
        message: failure.map(|f| {
            let message = f.message();
            if put_back {
                message
            } else {
                format!("{message} (nothing to put back: it had changed nothing, or the role is gone)")
            }
        }),
    })
    .map_err(StepError::internal)
}

/// RecordWave: the wave's results on the rollout item (only the rollout this execution
/// runs), then the verdict the state machine's Choice reads.
pub async fn record_wave(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let Some(wave) = &input.wave else {
        return Err(StepError::InvalidInput {
            message: "the wave step needs `wave` (index, count, max_failures, version, results)".into(),
        });
    };
    let current = get(ctx).await?;
    let prior = match &current {
        Some(r) if r.rollout_id == input.execution => r.failures,
        _ => {
            return Err(StepError::StaleExecution {
                tenant: ROLLOUT_KEY.into(),
                message: format!(
                    "the rollout item is not {}'s: another rollout replaced it",
                    input.execution
                ),
            });
        }
    };
    let verdict = judge_wave(wave.index, wave.count, prior, &wave.results, wave.max_failures);
    let state = if verdict.halted {
        RolloutState::Halted
    } else if verdict.done {
        RolloutState::Completed
    } else {
        RolloutState::Running
    };
    let mut req = ctx
        .clients
        .ddb
        .update_item()
        .table_name(&ctx.settings.table)
        .key(attr::TENANT_ID, s(ROLLOUT_KEY))
        .condition_expression("#id = :id")
        .expression_attribute_names("#id", key::ID)
        .expression_attribute_names("#st", key::STATE)
        .expression_attribute_names("#wd", key::WAVES_DONE)
        .expression_attribute_names("#f", key::FAILURES)
        .expression_attribute_names("#res", key::RESULTS)
        .expression_attribute_values(":id", s(&input.execution))
        .expression_attribute_values(":st", s(state.as_str()))
        .expression_attribute_values(":wd", n(verdict.next_wave as u64))
        .expression_attribute_values(":f", n(verdict.failures as u64))
        .expression_attribute_values(":now", n(now()));
    let mut sets = vec![
        "#st = :st".to_string(),
        "#wd = :wd".into(),
        "#f = :f".into(),
        "updated_at = :now".into(),
    ];
    if let Some(reason) = &verdict.reason {
        sets.push("#reason = :reason".into());
        req = req
            .expression_attribute_names("#reason", key::REASON)
            .expression_attribute_values(":reason", s(reason));
    }
    for (i, r) in wave.results.iter().enumerate() {
        let line = serde_json::to_string(r).map_err(StepError::internal)?;
        sets.push(format!("#res.#t{i} = :r{i}"));
        req = req
            .expression_attribute_names(format!("#t{i}"), &r.tenant_id)
            .expression_attribute_values(format!(":r{i}"), s(&line));
    }
    let req = req.update_expression(format!("SET {}", sets.join(", ")));
    if !condition_held("UpdateItem", req.send().await.map(drop))? {
        return Err(StepError::StaleExecution {
            tenant: ROLLOUT_KEY.into(),
            message: format!("the rollout item is not {}'s any more", input.execution),
        });
    }
    info!(
        wave = wave.index + 1,
        of = wave.count,
        failures = verdict.failures,
        halted = verdict.halted,
        "wave recorded"
    );
    serde_json::to_value(&verdict).map_err(StepError::internal)
}
