//! Which step a function runs. Function names (and so the `*FunctionArn` substitutions of
//! the state machines) are derived from here.

use serde_json::Value;
use tracing::Instrument;

use crate::{Context, StepError, StepInput, steps, teardown, verify};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    RecordProvisioning,
    CreateGroup,
    CreateRole,
    CreateSecret,
    CreatePrefix,
    PatchRoleMappings,
    Verify,
    RecordActive,
    RecordRollingBack,
    RemoveRoleMapping,
    DeleteRole,
    DeleteSecret,
    DeletePrefix,
    DeleteGroup,
    RecordFailed,
    RecordRollbackFailed,
    RecordOffboarding,
    RecordOffboarded,
    RecordRefused,
}

impl Step {
    pub const ALL: [Step; 19] = [
        Step::RecordProvisioning,
        Step::CreateGroup,
        Step::CreateRole,
        Step::CreateSecret,
        Step::CreatePrefix,
        Step::PatchRoleMappings,
        Step::Verify,
        Step::RecordActive,
        Step::RecordRollingBack,
        Step::RemoveRoleMapping,
        Step::DeleteRole,
        Step::DeleteSecret,
        Step::DeletePrefix,
        Step::DeleteGroup,
        Step::RecordFailed,
        Step::RecordRollbackFailed,
        Step::RecordOffboarding,
        Step::RecordOffboarded,
        Step::RecordRefused,
    ];

    /// The onboarding steps, in order.
    pub const FORWARD: [Step; 8] = [
        Step::RecordProvisioning,
        Step::CreateGroup,
        Step::CreateRole,
        Step::CreateSecret,
        Step::CreatePrefix,
        Step::PatchRoleMappings,
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

    /// Kebab-case name: the `TENANT_STEP` value and the local function name's suffix.
    pub fn name(self) -> &'static str {
        match self {
            Step::RecordProvisioning => "record-provisioning",
            Step::CreateGroup => "create-group",
            Step::CreateRole => "create-role",
            Step::CreateSecret => "create-secret",
            Step::CreatePrefix => "create-prefix",
            Step::PatchRoleMappings => "patch-role-mappings",
            Step::Verify => "verify",
            Step::RecordActive => "record-active",
            Step::RecordRollingBack => "record-rolling-back",
            Step::RemoveRoleMapping => "remove-role-mapping",
            Step::DeleteRole => "delete-role",
            Step::DeleteSecret => "delete-secret",
            Step::DeletePrefix => "delete-prefix",
            Step::DeleteGroup => "delete-group",
            Step::RecordFailed => "record-failed",
            Step::RecordRollbackFailed => "record-rollback-failed",
            Step::RecordOffboarding => "record-offboarding",
            Step::RecordOffboarded => "record-offboarded",
            Step::RecordRefused => "record-refused",
        }
    }

    /// The `DefinitionSubstitutions` key in `template.yaml` and the ASL files.
    pub fn substitution(self) -> &'static str {
        match self {
            Step::RecordProvisioning => "RecordProvisioningFunctionArn",
            Step::CreateGroup => "CreateGroupFunctionArn",
            Step::CreateRole => "CreateRoleFunctionArn",
            Step::CreateSecret => "CreateSecretFunctionArn",
            Step::CreatePrefix => "CreatePrefixFunctionArn",
            Step::PatchRoleMappings => "PatchRoleMappingsFunctionArn",
            Step::Verify => "VerifyFunctionArn",
            Step::RecordActive => "RecordActiveFunctionArn",
            Step::RecordRollingBack => "RecordRollingBackFunctionArn",
            Step::RemoveRoleMapping => "RemoveRoleMappingFunctionArn",
            Step::DeleteRole => "DeleteRoleFunctionArn",
            Step::DeleteSecret => "DeleteSecretFunctionArn",
            Step::DeletePrefix => "DeletePrefixFunctionArn",
            Step::DeleteGroup => "DeleteGroupFunctionArn",
            Step::RecordFailed => "RecordFailedFunctionArn",
            Step::RecordRollbackFailed => "RecordRollbackFailedFunctionArn",
            Step::RecordOffboarding => "RecordOffboardingFunctionArn",
            Step::RecordOffboarded => "RecordOffboardedFunctionArn",
            Step::RecordRefused => "RecordRefusedFunctionArn",
        }
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
        let result = match step {
            Step::RecordProvisioning => steps::record_provisioning(ctx, &input).await,
            Step::CreateGroup => steps::create_group(ctx, &input).await,
            Step::CreateRole => steps::create_role(ctx, &input).await,
            Step::CreateSecret => steps::create_secret(ctx, &input).await,
            Step::CreatePrefix => steps::create_prefix(ctx, &input).await,
            Step::PatchRoleMappings => steps::patch_role_mappings(ctx, &input).await,
            Step::Verify => verify::verify(ctx, &input).await,
            Step::RecordActive => steps::record_active(ctx, &input).await,
            Step::RecordRollingBack => teardown::record_rolling_back(ctx, &input).await,
            Step::RemoveRoleMapping => teardown::remove_role_mapping(ctx, &input).await,
            Step::DeleteRole => teardown::delete_role(ctx, &input).await,
            Step::DeleteSecret => teardown::delete_secret(ctx, &input).await,
            Step::DeletePrefix => teardown::delete_prefix(ctx, &input).await,
            Step::DeleteGroup => teardown::delete_group(ctx, &input).await,
            Step::RecordFailed => teardown::record_failed(ctx, &input).await,
            Step::RecordRollbackFailed => teardown::record_rollback_failed(ctx, &input).await,
            Step::RecordOffboarding => teardown::record_offboarding(ctx, &input).await,
            Step::RecordOffboarded => teardown::record_offboarded(ctx, &input).await,
            Step::RecordRefused => teardown::record_refused(ctx, &input).await,
        };
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
            assert!(s.substitution().ends_with("FunctionArn"));
        }
    }
}
