//! Which step a function runs. Function names (and so the `*FunctionArn` substitutions of
//! the state machines) are derived from here.

use serde_json::Value;
use tracing::Instrument;

use crate::{Context, StepError, StepInput, rollout, steps, teardown, verify};

type StepFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, StepError>> + Send + 'a>>;

/// The step table, written once: each step's variant, its kebab-case name (the
/// `TENANT_STEP` value and the local function name's suffix) and its handler. The enum,
/// `ALL`, `name`, `substitution` and the dispatch in [`run`] are generated from it.
macro_rules! step_table {
    ($($variant:ident => $name:literal, $handler:path;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Step {
            $($variant,)*
        }

        impl Step {
            pub const ALL: [Step; [$($name),*].len()] = [$(Step::$variant),*];

            /// Kebab-case name: the `TENANT_STEP` value and the local function name's suffix.
            pub fn name(self) -> &'static str {
                match self {
                    $(Step::$variant => $name,)*
                }
            }

            /// The `DefinitionSubstitutions` key in `template.yaml` and the ASL files.
            pub fn substitution(self) -> &'static str {
                match self {
                    $(Step::$variant => concat!(stringify!($variant), "FunctionArn"),)*
                }
            }

            /// Boxed: one future type for every step keeps [`run`]'s future small.
            fn handle<'a>(self, ctx: &'a Context, input: &'a StepInput) -> StepFuture<'a> {
                match self {
                    $(Step::$variant => Box::pin($handler(ctx, input)),)*
                }
            }
        }
    };
}

// The rows of the steps that run a resource module's create or delete are the resource
// list's (`resources::resource_steps!`, beside `resource_table!`): adding a resource
// does not touch this file.
crate::resources::resource_steps! { step_table! {
    RecordProvisioning => "record-provisioning", steps::record_provisioning;
    Verify => "verify", verify::verify;
    RecordActive => "record-active", steps::record_active;
    RecordRollingBack => "record-rolling-back", teardown::record_rolling_back;
    RecordFailed => "record-failed", teardown::record_failed;
    RecordRollbackFailed => "record-rollback-failed", teardown::record_rollback_failed;
    RecordOffboarding => "record-offboarding", teardown::record_offboarding;
    RecordOffboarded => "record-offboarded", teardown::record_offboarded;
    RecordRefused => "record-refused", teardown::record_refused;
    ConvergeRole => "converge-role", rollout::converge_role;
    RecordConverged => "record-converged", rollout::record_converged;
    RevertRole => "revert-role", rollout::revert_role;
    RecordWave => "record-wave", rollout::record_wave;
}}

/// The onboarding state machine: the one place the steps' order is written.
const ONBOARDING_ASL: &str = include_str!("../../../statemachine/onboarding.asl.json");

/// The onboarding state machine, parsed (Null if it cannot be: every path is then empty,
/// which a test rules out).
fn onboarding() -> Value {
    serde_json::from_str(ONBOARDING_ASL).unwrap_or_default()
}

/// The Steps of the Task states met from `from` along `Next` (through Pass and Wait
/// states), up to the first state that is neither a Task, a Pass nor a Wait, or has no
/// `Next`.
fn task_path(definition: &Value, from: &str) -> Vec<Step> {
    let states = &definition["States"];
    let mut out = vec![];
    let mut at = Some(from);
    while let Some(name) = at.take() {
        let state = &states[name];
        match state["Type"].as_str() {
            Some("Task") => {
                let resource = state["Resource"].as_str().unwrap_or_default();
                let step = Step::ALL
                    .into_iter()
                    .find(|s| resource == format!("${{{}}}", s.substitution()));
                out.extend(step);
            }
            Some("Pass" | "Wait") => {}
            _ => break,
        }
        // A path through the graph never revisits a state; the bound only stops a
        // malformed definition from looping.
        if out.len() > Step::ALL.len() {
            break;
        }
        at = state["Next"].as_str();
    }
    out
}

impl Step {
    /// The onboarding steps, in the state machine's order.
    pub fn forward() -> Vec<Step> {
        let definition = onboarding();
        task_path(&definition, definition["StartAt"].as_str().unwrap_or_default())
    }

    /// The teardown shared by compensation and offboarding, in the state machine's order
    /// (what follows `RecordRollingBack`).
    pub fn teardown() -> Vec<Step> {
        let definition = onboarding();
        task_path(
            &definition,
            definition["States"]["RecordRollingBack"]["Next"]
                .as_str()
                .unwrap_or_default(),
        )
    }

    /// A step that writes the tenant record (its name starts with `Record`).
    pub fn is_record(self) -> bool {
        self.name().starts_with("record-")
    }

    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Runs one step on one state-machine input, inside a span that carries the tenant, the
/// step and the execution into every log line.
pub async fn run(ctx: &Context, step: Step, payload: Value) -> Result<Value, StepError> {
    let input = StepInput::from_value(payload)?;
    let span = tracing::info_span!(
        "step",
        step = step.name(),
        tenant = %input.tenant_id,
        execution = %input.execution,
        attempt = input.attempt
    );
    let started = std::time::Instant::now();
    async move {
        let result = step.handle(ctx, &input).await;
        if let Err(e) = &result {
            tracing::warn!(error = e.name(), message = %e, transient = e.is_transient(), "step failed");
        }
        crate::metrics::emit(&crate::metrics::StepTiming {
            step: step.name(),
            outcome: result.as_ref().map_or_else(|e| e.name(), |_| crate::metrics::SUCCEEDED),
            // Microsecond precision is plenty for a duration in milliseconds.
            duration_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            tenant: &input.tenant_id,
            execution: &input.execution,
            attempt: input.attempt,
            timestamp_ms: crate::metrics::now_ms(),
        });
        result
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Resource;

    /// The state machine's order follows the resource list: every resource's create step
    /// is in `forward()` and its delete step in `teardown()`, creates in the list's order,
    /// and no resource step that the list does not name.
    #[test]
    fn orders_follow_the_resource_list() {
        let (forward_steps, teardown_steps) = (Step::forward(), Step::teardown());
        let mut creates: Vec<Step> = vec![];
        let mut deletes: Vec<Step> = vec![];
        for r in Resource::ALL {
            if !r.create_step().is_record() && !creates.contains(&r.create_step()) {
                creates.push(r.create_step());
            }
            if !deletes.contains(&r.delete_step()) {
                deletes.push(r.delete_step());
            }
            assert!(
                forward_steps.contains(&r.create_step()),
                "{r:?} has no create step in the onboarding"
            );
            assert!(
                teardown_steps.contains(&r.delete_step()),
                "{r:?} has no delete step in the teardown"
            );
        }
        let forward: Vec<Step> = forward_steps
            .into_iter()
            .filter(|s| !s.is_record() && *s != Step::Verify)
            .collect();
        assert_eq!(forward, creates);
        // Teardown's order is its own (unmap first, the group and its users last); it
        // deletes exactly what the list names.
        let mut teardown = teardown_steps;
        teardown.sort_by_key(|s| s.name());
        deletes.sort_by_key(|s| s.name());
        assert_eq!(teardown, deletes);
        for s in Step::ALL {
            let named = Resource::ALL
                .into_iter()
                .any(|r| r.create_step() == s || r.delete_step() == s);
            let looks_like_resource = s.name().starts_with("create-") || s.name().starts_with("delete-");
            assert!(
                named || !looks_like_resource,
                "{s:?} is a resource step no resource names"
            );
        }
    }

    /// The orders read from the ASL are the onboarding's Task states, in order: the path
    /// goes through `Init` (Pass) and the propagation Wait, and stops at the teardown's
    /// Choice. Offboarding runs the same teardown.
    #[test]
    fn the_orders_are_the_state_machines() {
        use Step::*;
        assert_eq!(
            Step::forward(),
            [
                RecordProvisioning,
                CreateGroup,
                CreateRole,
                CreateSecret,
                CreatePrefix,
                RebuildRoleMappings,
                Verify,
                RecordActive
            ]
        );
        assert_eq!(
            Step::teardown(),
            [RemoveRoleMapping, DeleteRole, DeleteSecret, DeletePrefix, DeleteGroup]
        );
        let offboarding: Value =
            serde_json::from_str(include_str!("../../../statemachine/offboarding.asl.json")).unwrap();
        let path = task_path(&offboarding, "RecordOffboarding");
        assert_eq!(path.first(), Some(&RecordOffboarding));
        assert_eq!(path[1..], Step::teardown()[..]);
        assert_eq!(task_path(&Value::Null, "Init"), []);
    }

    #[test]
    fn names_round_trip() {
        for s in Step::ALL {
            assert_eq!(Step::from_name(s.name()), Some(s));
            // The kebab-case name is the variant's, so the two cannot drift apart.
            let mut kebab = String::new();
            for c in format!("{s:?}").chars() {
                if c.is_ascii_uppercase() && !kebab.is_empty() {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            assert_eq!(s.name(), kebab);
            assert_eq!(s.substitution(), format!("{s:?}FunctionArn"));
        }
    }
}
