//! What a tenant record holds, read from a DynamoDB item; and the extra attributes a
//! status change writes (`Changes`). Pure: no I/O here.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use tenant_domain::Status;

use super::attr;
use crate::StepInput;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantRecord {
    pub tenant_id: String,
    pub status: Status,
    pub execution: String,
    pub attempt: u32,
    pub company_name: Option<String>,
    pub admin_email: Option<String>,
    pub mapped: bool,
    pub role_arn: Option<String>,
    pub failed_step: Option<String>,
    pub error_name: Option<String>,
    pub error_message: Option<String>,
    pub remaining: Vec<String>,
    /// Set once offboarded: the tenant's secret and kept objects outlive its attempts.
    pub retain_data: bool,
    /// The template version the tenant was last onboarded or converged to; None for a
    /// tenant that never reached ACTIVE, or did before versions were recorded.
    pub template_version: Option<String>,
    /// The role's documents before the last repair (`role::RoleDocuments` as JSON).
    pub previous_documents: Option<String>,
    /// The converge that wrote `previous_documents`.
    pub previous_by: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// What each onboarding attempt did, oldest first (attempts written before this was
    /// recorded are absent).
    pub attempts: Vec<AttemptRecord>,
    /// A held signup's end (PENDING_APPROVAL only; epoch seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signup_expires_at: Option<u64>,
}

/// One onboarding attempt: written when it starts (`attempt_{n}_started`) and when it
/// settles (`attempt_{n}_ended`). One top-level attribute per attempt and event, so each
/// write is idempotent under re-delivery and needs no map to exist beforehand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub execution: Option<String>,
    pub started_at: Option<u64>,
    pub ended_at: Option<u64>,
    /// The status the attempt settled in (ACTIVE, FAILED, ROLLBACK_FAILED); None while running
    /// or if it never settled.
    pub outcome: Option<Status>,
    pub failed_step: Option<String>,
    pub error_name: Option<String>,
    pub error_message: Option<String>,
}

fn attempts_of(item: &HashMap<String, AttributeValue>, last: u32) -> Vec<AttemptRecord> {
    let map = |k: String| item.get(&k).and_then(|v| v.as_m().ok()).cloned();
    (1..=last)
        .filter_map(|n| {
            let started = map(attr::started(n));
            let ended = map(attr::ended(n));
            if started.is_none() && ended.is_none() {
                return None;
            }
            let started = started.unwrap_or_default();
            let ended = ended.unwrap_or_default();
            let num = |m: &HashMap<String, AttributeValue>, k| Some(get_n(m, k)).filter(|v| *v > 0);
            Some(AttemptRecord {
                attempt: n,
                execution: get_s(&started, attr::EXECUTION).or_else(|| get_s(&ended, attr::EXECUTION)),
                started_at: num(&started, attr::STARTED_AT),
                ended_at: num(&ended, attr::ENDED_AT),
                outcome: get_s(&ended, attr::STATUS).and_then(|s| Status::parse(&s)),
                failed_step: get_s(&ended, attr::FAILED_STEP),
                error_name: get_s(&ended, attr::ERROR_NAME),
                error_message: get_s(&ended, attr::ERROR_MESSAGE),
            })
        })
        .collect()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl TenantRecord {
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        Some(TenantRecord {
            tenant_id: get_s(item, attr::TENANT_ID)?,
            status: Status::parse(&get_s(item, attr::STATUS)?)?,
            execution: get_s(item, attr::EXECUTION).unwrap_or_default(),
            attempt: get_n(item, attr::ATTEMPT) as u32,
            company_name: get_s(item, attr::COMPANY_NAME).or_else(|| get_s(item, attr::PREVIOUS_COMPANY_NAME)),
            admin_email: get_s(item, attr::ADMIN_EMAIL).or_else(|| get_s(item, attr::PREVIOUS_ADMIN_EMAIL)),
            mapped: item
                .get(attr::MAPPED)
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            role_arn: get_s(item, attr::ROLE_ARN),
            failed_step: get_s(item, attr::FAILED_STEP),
            error_name: get_s(item, attr::ERROR_NAME),
            error_message: get_s(item, attr::ERROR_MESSAGE),
            remaining: item
                .get(attr::REMAINING)
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
                .unwrap_or_default(),
            retain_data: item
                .get(attr::RETAIN_DATA)
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            template_version: get_s(item, attr::TEMPLATE_VERSION),
            previous_documents: get_s(item, attr::PREVIOUS_DOCUMENTS),
            previous_by: get_s(item, attr::PREVIOUS_BY),
            created_at: get_n(item, attr::CREATED_AT),
            updated_at: get_n(item, attr::UPDATED_AT),
            attempts: attempts_of(item, get_n(item, attr::ATTEMPT) as u32),
            signup_expires_at: Some(get_n(item, attr::SIGNUP_EXPIRES_AT)).filter(|t| *t > 0),
        })
    }

    /// A held signup past its lifetime: it no longer holds the id, though DynamoDB's TTL
    /// deletes the item only some time later (lazily, up to days). Readers treat it as
    /// absent; the claim conditions treat it as free.
    pub fn expired(&self, now: u64) -> bool {
        self.status == Status::PendingApproval && self.signup_expires_at.is_some_and(|t| t <= now)
    }
}

/// Extra attributes written together with a status change.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub set: Vec<(&'static str, AttributeValue)>,
    pub remove: Vec<&'static str>,
    /// Attributes whose names are computed (per-attempt history).
    pub set_named: Vec<(String, AttributeValue)>,
}

impl Changes {
    pub fn set(mut self, k: &'static str, v: AttributeValue) -> Self {
        self.set.push((k, v));
        self
    }
    pub fn set_s(self, k: &'static str, v: impl Into<String>) -> Self {
        self.set(k, s(v))
    }
    pub fn remove(mut self, k: &'static str) -> Self {
        self.remove.push(k);
        self
    }
    /// Records how the input's onboarding attempt ended: `status` plus the failed step and
    /// error the state machine's Catch passed in. Offboarding is not an attempt: no entry.
    pub fn attempt_ended(mut self, input: &StepInput, status: Status) -> Self {
        if input.offboard.is_some() {
            return self;
        }
        let mut entry = HashMap::from([
            (attr::STATUS.to_string(), s(status.as_str())),
            (attr::EXECUTION.to_string(), s(&input.execution)),
            (attr::ENDED_AT.to_string(), n(now())),
        ]);
        if let Some(step) = &input.failed_step {
            entry.insert(attr::FAILED_STEP.into(), s(step));
        }
        if let Some(f) = &input.failure {
            entry.insert(attr::ERROR_NAME.into(), s(&f.error));
            entry.insert(attr::ERROR_MESSAGE.into(), s(f.message()));
        }
        self.set_named
            .push((attr::ended(input.attempt), AttributeValue::M(entry)));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, AttributeValue)]) -> AttributeValue {
        AttributeValue::M(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    /// Attempts are read back from their per-attempt attributes, in order; a running
    /// attempt has a start and no outcome; records written before attempts were kept have
    /// none.
    #[test]
    fn attempts_are_read_from_their_attributes() {
        let mut item = HashMap::from([
            ("tenant_id".to_string(), s("acme")),
            ("status".to_string(), s("PROVISIONING")),
            ("execution".to_string(), s("acme-2")),
            ("attempt".to_string(), n(2)),
        ]);
        assert!(TenantRecord::from_item(&item).unwrap().attempts.is_empty());
        item.insert(
            attr::started(1),
            m(&[("execution", s("acme-1")), ("started_at", n(100))]),
        );
        item.insert(
            attr::ended(1),
            m(&[
                ("status", s("FAILED")),
                ("execution", s("acme-1")),
                ("ended_at", n(104)),
                ("failed_step", s("CreateSecret")),
                ("error_name", s("Throttled")),
                ("error_message", s("slow down")),
            ]),
        );
        item.insert(
            attr::started(2),
            m(&[("execution", s("acme-2")), ("started_at", n(200))]),
        );
        let attempts = TenantRecord::from_item(&item).unwrap().attempts;
        assert_eq!(
            attempts,
            [
                AttemptRecord {
                    attempt: 1,
                    execution: Some("acme-1".into()),
                    started_at: Some(100),
                    ended_at: Some(104),
                    outcome: Some(Status::Failed),
                    failed_step: Some("CreateSecret".into()),
                    error_name: Some("Throttled".into()),
                    error_message: Some("slow down".into()),
                },
                AttemptRecord {
                    attempt: 2,
                    execution: Some("acme-2".into()),
                    started_at: Some(200),
                    ..AttemptRecord::default()
                },
            ]
        );
    }

    /// Records written by an earlier version keep the company name in `display_name` and
    /// the admin email in `email`: read from there when the new attribute is absent, and
    /// the new attribute wins where both exist (a record an attempt of this version rewrote).
    #[test]
    fn contact_fields_fall_back_to_the_previous_attributes() {
        let mut item = HashMap::from([
            ("tenant_id".to_string(), s("acme")),
            ("status".to_string(), s("ACTIVE")),
            ("display_name".to_string(), s("Acme Corp")),
            ("email".to_string(), s("ops@acme.example")),
        ]);
        let r = TenantRecord::from_item(&item).unwrap();
        assert_eq!(r.company_name.as_deref(), Some("Acme Corp"));
        assert_eq!(r.admin_email.as_deref(), Some("ops@acme.example"));
        item.insert("company_name".to_string(), s("Acme Holdings"));
        item.insert("admin_email".to_string(), s("admin@acme.example"));
        let r = TenantRecord::from_item(&item).unwrap();
        assert_eq!(r.company_name.as_deref(), Some("Acme Holdings"));
        assert_eq!(r.admin_email.as_deref(), Some("admin@acme.example"));
        item.retain(|k, _| k == "tenant_id" || k == "status");
        let r = TenantRecord::from_item(&item).unwrap();
        assert_eq!((r.company_name, r.admin_email), (None, None));
    }

    /// Only a held signup expires, and only once its time has come.
    #[test]
    fn only_a_held_signup_past_its_time_is_expired() {
        let mut item = HashMap::from([
            ("tenant_id".to_string(), s("acme")),
            ("status".to_string(), s("PENDING_APPROVAL")),
            ("signup_expires_at".to_string(), n(100)),
        ]);
        let held = TenantRecord::from_item(&item).unwrap();
        assert_eq!(held.signup_expires_at, Some(100));
        assert!(!held.expired(99));
        assert!(held.expired(100));
        item.insert("status".to_string(), s("PENDING"));
        assert!(!TenantRecord::from_item(&item).unwrap().expired(1000));
        item.insert("status".to_string(), s("PENDING_APPROVAL"));
        item.remove("signup_expires_at");
        assert!(!TenantRecord::from_item(&item).unwrap().expired(u64::MAX));
    }

    #[test]
    fn an_ended_attempt_carries_the_failure_and_offboarding_adds_none() {
        let input: StepInput = serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "execution": "acme-3", "attempt": 3,
            "failed_step": "CreateRole", "failure": {"Error": "IamDenied", "Cause": "{\"errorMessage\": \"no\"}"}
        }))
        .unwrap();
        let c = Changes::default().attempt_ended(&input, Status::Failed);
        assert_eq!(c.set_named.len(), 1);
        let (k, v) = &c.set_named[0];
        assert_eq!(k, "attempt_3_ended");
        let v = v.as_m().unwrap();
        assert_eq!(v["status"], s("FAILED"));
        assert_eq!(v["failed_step"], s("CreateRole"));
        assert_eq!(v["error_name"], s("IamDenied"));
        assert_eq!(v["error_message"], s("no"));
        let off: StepInput = serde_json::from_value(serde_json::json!({
            "tenant_id": "acme", "execution": "acme-3-offboard-1", "attempt": 3, "offboard": {}
        }))
        .unwrap();
        assert!(
            Changes::default()
                .attempt_ended(&off, Status::RollbackFailed)
                .set_named
                .is_empty()
        );
    }
}
