//! Which step a function runs. Function names (and so the `*FunctionArn` substitutions of
//! the state machines) are derived from here.

use serde_json::Value;
use tracing::Instrument;

use crate::{Context, StepError, StepInput, steps, teardown, verify};

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

step_table! {
    RecordProvisioning => "record-provisioning", steps::record_provisioning;
    CreateGroup => "create-group", steps::create_group;
    CreateRole => "create-role", steps::create_role;
    CreateSecret => "create-secret", steps::create_secret;
    CreatePrefix => "create-prefix", steps::create_prefix;
    RebuildRoleMappings => "rebuild-role-mappings", steps::rebuild_role_mappings;
    Verify => "verify", verify::verify;
    RecordActive => "record-active", steps::record_active;
    RecordRollingBack => "record-rolling-back", teardown::record_rolling_back;
    RemoveRoleMapping => "remove-role-mapping", teardown::remove_role_mapping;
    DeleteRole => "delete-role", teardown::delete_role;
    DeleteSecret => "delete-secret", teardown::delete_secret;
    DeletePrefix => "delete-prefix", teardown::delete_prefix;
    DeleteGroup => "delete-group", teardown::delete_group;
    RecordFailed => "record-failed", teardown::record_failed;
    RecordRollbackFailed => "record-rollback-failed", teardown::record_rollback_failed;
    RecordOffboarding => "record-offboarding", teardown::record_offboarding;
    RecordOffboarded => "record-offboarded", teardown::record_offboarded;
    RecordRefused => "record-refused", teardown::record_refused;
}

impl Step {
    /// The onboarding steps, in order.
    pub const FORWARD: [Step; 8] = [
        Step::RecordProvisioning,
        Step::CreateGroup,
        Step::CreateRole,
        Step::CreateSecret,
        Step::CreatePrefix,
        Step::RebuildRoleMappings,
        Step::Verify,
        Step::RecordActive,
    ];

    /// The teardown shared by compensation and offboarding, in order.
    pub const TEARDOWN: [Step; 5] = [
        Step::RemoveRoleMapping,
        Step::DeleteRole,
        Step::DeleteSecret,
        Step::DeletePrefix,
        Step::DeleteGroup,
    ];

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
