//! Per-step duration in CloudWatch Embedded Metric Format: one JSON log line per step
//! invocation, which CloudWatch Logs turns into the `StepDuration` metric by itself, so
//! dashboards and alarms need no code.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

pub const NAMESPACE: &str = "TenantOnboarding";
pub const METRIC: &str = "StepDuration";
/// The outcome dimension of a step that returned normally; otherwise the error name.
pub const SUCCEEDED: &str = "Succeeded";

/// One step invocation, as measured by `dispatch::run`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTiming<'a> {
    pub step: &'a str,
    /// `SUCCEEDED` or the Step Functions error name (a `StepError` variant): a small,
    /// fixed set, so it is safe as a dimension.
    pub outcome: &'a str,
    pub duration_ms: f64,
    pub tenant: &'a str,
    pub execution: &'a str,
    pub attempt: u32,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// The EMF document. Tenant, execution and attempt are properties, not dimensions: a
/// dimension per tenant would be a metric per tenant.
pub fn document(t: &StepTiming) -> Value {
    json!({
        "_aws": {
            "Timestamp": t.timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Step"], ["Step", "Outcome"]],
                "Metrics": [{ "Name": METRIC, "Unit": "Milliseconds" }],
            }],
        },
        "Step": t.step,
        "Outcome": t.outcome,
        METRIC: t.duration_ms,
        "tenant": t.tenant,
        "execution": t.execution,
        "attempt": t.attempt,
    })
}

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns emission on: Lambda (stdout is the function's log stream) and the local stack
/// (its log) call this; library users and tests leave it off.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Writes the document as one line on stdout, if enabled.
pub fn emit(t: &StepTiming) {
    if ENABLED.load(Ordering::Relaxed) {
        use std::io::Write as _;
        let line = document(t).to_string();
        // One write under the lock, so the line never interleaves with log lines.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(outcome: &str) -> StepTiming<'_> {
        StepTiming {
            step: "create-role",
            outcome,
            duration_ms: 42.5,
            tenant: "acme",
            execution: "acme-2",
            attempt: 2,
            timestamp_ms: 1_764_000_000_123,
        }
    }

    /// The shape CloudWatch requires: every dimension and metric named in `_aws` is a
    /// top-level member, the metric value is a number, and the tenant is not a dimension.
    #[test]
    fn the_document_is_valid_emf() {
        let doc = document(&timing("Throttled"));
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_764_000_000_123u64);
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let d = &directives[0];
        assert_eq!(d["Namespace"], NAMESPACE);
        assert_eq!(
            d["Metrics"],
            json!([{ "Name": "StepDuration", "Unit": "Milliseconds" }])
        );
        for set in d["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            // EMF allows at most 30 dimensions per set.
            assert!(!set.is_empty() && set.len() <= 30);
            for dim in set {
                let dim = dim.as_str().unwrap();
                assert!(doc[dim].is_string(), "dimension {dim} must be a top-level string");
                assert_ne!(dim, "tenant");
            }
        }
        assert_eq!(doc["Step"], "create-role");
        assert_eq!(doc["Outcome"], "Throttled");
        assert_eq!(doc["StepDuration"].as_f64(), Some(42.5));
        assert_eq!(doc["tenant"], "acme");
        assert_eq!(doc["execution"], "acme-2");
        assert_eq!(doc["attempt"], 2);
    }

    #[test]
    fn a_document_is_one_line() {
        let line = document(&timing(SUCCEEDED)).to_string();
        assert!(!line.contains('\n'));
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["Outcome"], "Succeeded");
    }
}
