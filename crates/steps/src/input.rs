//! The state every Task receives: what the caller asked for, plus the execution that owns
//! this attempt (filled in by the state machine from `$$.Execution.Name`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenant_domain::TenantId;

use crate::StepError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInput {
    /// Kept raw so that an invalid id is reported as `InvalidTenantId`, not as a
    /// deserialization failure; absent (empty) only for a rollout's wave step, which is
    /// about many tenants: a tenant's step refuses it as `InvalidTenantId`.
    #[serde(default)]
    pub tenant_id: String,
    /// `name` / `email`: the keys executions started by an earlier version carry; such an
    /// execution may still be running its steps when the new functions are deployed.
    #[serde(default, alias = "name", skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, alias = "email", skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    /// The Step Functions execution name; records are written only by their owner.
    pub execution: String,
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Set by the state machine's Catch: the forward step that failed and its error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Set when a teardown step itself failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_failure: Option<Failure>,
    /// `$$.State.RetryCount` of the Verify state: how many times the state machine has
    /// already retried it, so the last attempt can tell lag from a failed proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
    /// Present for offboarding; absent for the compensation of a failed onboarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offboard: Option<Offboard>,
    /// When a converge changed the tenant's role (epoch seconds): Verify's propagation
    /// budget then runs from the change, not from the role's creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<u64>,
    /// The template version a rollout converges to: a function that renders another one
    /// (the deployment changed during the rollout) refuses to converge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_version: Option<String>,
    /// The rollout state machine's wave step: the wave that ended and its results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<WaveReport>,
}

/// What the rollout state machine hands its wave step after a wave's tenants ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveReport {
    /// 0-based.
    pub index: usize,
    /// How many waves the rollout has.
    pub count: usize,
    pub max_failures: usize,
    /// The template version the rollout converges to.
    pub version: String,
    pub results: Vec<tenant_domain::rollout::TenantRollout>,
}

/// What a `Catch` puts at its `ResultPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl Failure {
    /// The human part of the cause.
    pub fn message(&self) -> String {
        cause_message(self.cause.as_deref().unwrap_or_default())
    }
}

/// The human part of a Step Functions cause: Lambda errors arrive as a JSON string holding
/// `errorMessage`; any other cause is returned as it is.
pub fn cause_message(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| v.get("errorMessage").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| cause.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offboard {
    /// Keep the tenant's objects (only the role that could reach them goes).
    #[serde(default)]
    pub keep_prefix: bool,
    /// Secrets Manager recovery window; 7–30 days.
    #[serde(default = "default_recovery_days")]
    pub secret_recovery_days: i64,
    /// An execution that owns the record but is known to have stopped without settling
    /// it (timed out, stopped, or its own rollback crashed); offboarding may take over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_owner: Option<String>,
}

fn default_recovery_days() -> i64 {
    7
}

fn first_attempt() -> u32 {
    1
}

/// Deserializes `v`, naming the field a problem is in: serde alone says "invalid type:
/// integer `3`, expected a string" without saying where.
pub fn deserialize_named<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    if !v.is_object() {
        return Err(format!("expected a JSON object, got {}", json_kind(&v)));
    }
    serde_path_to_error::deserialize(v).map_err(describe_path_error)
}

/// `field: problem`, or just the problem when it is about the whole object.
pub fn describe_path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> String {
    match e.path().to_string().as_str() {
        "." => e.inner().to_string(),
        path => format!("{path}: {}", e.inner()),
    }
}

/// How a JSON value is described in messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl StepInput {
    pub fn from_value(v: Value) -> Result<Self, StepError> {
        deserialize_named(v).map_err(|message| StepError::InvalidInput { message })
    }

    /// The free-text fields a caller supplied; checked before the record stores them.
    pub fn check_contact(&self) -> Result<(), StepError> {
        let checked = self
            .company_name
            .as_deref()
            .map_or(Ok(()), tenant_domain::contact::check_company_name)
            .and(
                self.admin_email
                    .as_deref()
                    .map_or(Ok(()), tenant_domain::contact::check_admin_email),
            );
        checked.map_err(|e| StepError::InvalidInput { message: e.to_string() })
    }

    pub fn tenant(&self) -> Result<TenantId, StepError> {
        if self.tenant_id.is_empty() {
            return Err(StepError::InvalidTenantId {
                message: "tenant_id is missing or empty: this step is about one tenant".into(),
            });
        }
        TenantId::parse(&self.tenant_id).map_err(|e| StepError::InvalidTenantId { message: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_state_and_ignores_extra_fields() {
        let i =
            StepInput::from_value(json!({"tenant_id": "acme", "execution": "acme-1", "iam_wait_seconds": 1})).unwrap();
        assert_eq!(i.attempt, 1);
        assert_eq!(i.tenant().unwrap().as_str(), "acme");
    }

    #[test]
    fn failure_message_unwraps_lambda_causes() {
        let f = Failure {
            error: "AccessDenied".into(),
            cause: Some(r#"{"errorType":"AccessDenied","errorMessage":"iam CreateRole was denied"}"#.into()),
        };
        assert_eq!(f.message(), "iam CreateRole was denied");
        let f = Failure {
            error: "States.Timeout".into(),
            cause: Some("plain".into()),
        };
        assert_eq!(f.message(), "plain");
    }

    #[test]
    fn bad_ids_and_inputs_have_their_own_names() {
        let i = StepInput::from_value(json!({"tenant_id": "*", "execution": "x"})).unwrap();
        assert_eq!(i.tenant().unwrap_err().name(), "InvalidTenantId");
        assert_eq!(
            StepInput::from_value(json!({"tenant_id": 3})).unwrap_err().name(),
            "InvalidInput"
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = StepInput::from_value(json!({"tenant_id": 3, "execution": "x"})).unwrap_err();
        assert!(e.to_string().contains("tenant_id: invalid type: integer `3`"), "{e}");
        let e = StepInput::from_value(json!({"tenant_id": "acme", "execution": "x", "attempt": "1"})).unwrap_err();
        assert!(e.to_string().contains("attempt: invalid type: string"), "{e}");
        let e = StepInput::from_value(json!(["acme"])).unwrap_err();
        assert!(e.to_string().contains("got an array"), "{e}");
        let e = StepInput::from_value(json!({"tenant_id": "acme"})).unwrap_err();
        assert!(e.to_string().contains("missing field `execution`"), "{e}");
        // A tenant's step without a tenant refuses it by name.
        let i = StepInput::from_value(json!({"execution": "x"})).unwrap();
        let e = i.tenant().unwrap_err();
        assert_eq!(e.name(), "InvalidTenantId");
        assert!(e.to_string().contains("tenant_id is missing"), "{e}");
    }

    #[test]
    fn contact_fields_are_checked() {
        let i =
            StepInput::from_value(json!({"tenant_id": "acme", "execution": "x", "company_name": "a\u{7}"})).unwrap();
        assert!(
            i.check_contact()
                .unwrap_err()
                .to_string()
                .contains("company name contains")
        );
        let i = StepInput::from_value(json!({"tenant_id": "acme", "execution": "x", "admin_email": "nobody"})).unwrap();
        assert!(i.check_contact().unwrap_err().to_string().contains("is not an address"));
    }

    #[test]
    fn contact_fields_carry_the_public_names() {
        let i = StepInput::from_value(json!({
            "tenant_id": "acme", "execution": "acme-1",
            "company_name": "Acme Corp", "admin_email": "ops@acme.example"
        }))
        .unwrap();
        assert_eq!(i.company_name.as_deref(), Some("Acme Corp"));
        assert_eq!(i.admin_email.as_deref(), Some("ops@acme.example"));
        let out = serde_json::to_value(&i).unwrap();
        assert_eq!(out["company_name"], "Acme Corp");
        assert_eq!(out["admin_email"], "ops@acme.example");
        assert!(out.get("name").is_none() && out.get("email").is_none(), "{out}");
    }

    /// An execution started by the previous version (its Init passed `name` and `email`)
    /// still reaches the new functions with its contact fields.
    #[test]
    fn the_previous_versions_keys_are_read_as_aliases() {
        let i = StepInput::from_value(json!({
            "tenant_id": "acme", "execution": "acme-1", "attempt": 1,
            "name": "Acme Corp", "email": "ops@acme.example"
        }))
        .unwrap();
        assert_eq!(i.company_name.as_deref(), Some("Acme Corp"));
        assert_eq!(i.admin_email.as_deref(), Some("ops@acme.example"));
        // The old Init passed both keys even when unset.
        let i = StepInput::from_value(json!({
            "tenant_id": "acme", "execution": "acme-1", "name": null, "email": null
        }))
        .unwrap();
        assert_eq!((i.company_name, i.admin_email), (None, None));
        let e = StepInput::from_value(json!({"tenant_id": "acme", "execution": "x", "email": "nobody"}))
            .unwrap()
            .check_contact()
            .unwrap_err();
        assert!(
            e.to_string().contains("admin email \"nobody\" is not an address"),
            "{e}"
        );
    }
}
