//! The state every Task receives: what the caller asked for, plus the execution that owns
//! this attempt (filled in by the state machine from `$$.Execution.Name`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenant_domain::TenantId;

use crate::StepError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInput {
    /// Kept raw so that an invalid id is reported as `InvalidTenantId`, not as a
    /// deserialization failure.
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The Step Functions execution name; records are written only by their owner.
    pub execution: String,
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

impl StepInput {
    pub fn from_value(v: Value) -> Result<Self, StepError> {
        serde_json::from_value(v).map_err(|e| StepError::InvalidInput { message: e.to_string() })
    }

    pub fn tenant(&self) -> Result<TenantId, StepError> {
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
    fn bad_ids_and_inputs_have_their_own_names() {
        let i = StepInput::from_value(json!({"tenant_id": "*", "execution": "x"})).unwrap();
        assert_eq!(i.tenant().unwrap_err().name(), "InvalidTenantId");
        assert_eq!(
            StepInput::from_value(json!({"tenant_id": 3})).unwrap_err().name(),
            "InvalidInput"
        );
    }
}
