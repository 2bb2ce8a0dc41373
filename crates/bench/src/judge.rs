//! The critical path and the cost against the performance issue's goals: every call of a
//! Token onboarding named with why it is needed, and the cost per 1,000 onboardings with
//! its biggest term.

use serde::Serialize;

use crate::calls::CriticalPath;
use crate::cold::ColdInit;
use crate::cost::{self, Estimate, Invocation, LIST_PRICES, MemorySizes};
use crate::recorder::Call;
use crate::report::Check;

/// Why a step of a Token-type onboarding makes a call. `None`: no reason is known, and
/// the goal is missed (a new call in a step shows up here until it is explained).
pub fn why(step: &str, call: &Call) -> Option<&'static str> {
    Some(match (step, call.service.as_str(), call.operation.as_str()) {
        ("(caller) start", "sfn", "StartExecution") => {
            "starts the workflow; the execution name (tenant + attempt) makes a repeat the same execution"
        }
        ("record-provisioning", "dynamodb", "UpdateItem") => {
            "conditional write PENDING → PROVISIONING: claims the tenant for this execution, refuses a second owner"
        }
        ("create-group", "cognitoidentityprovider", "CreateGroup") => {
            "the tenant's user pool group: membership is what gives a user the tenant's role"
        }
        ("create-role", "iam", "CreateRole") => {
            "the tenant's role, trusting only this identity pool, under the permissions boundary"
        }
        ("create-role", "iam", "PutRolePolicy") => "the policy that scopes the role to the tenant's prefix and secret",
        ("create-secret", "secretsmanager", "DescribeSecret") => {
            "an earlier attempt's secret may exist, possibly scheduled for deletion: adopted only if tagged for this tenant"
        }
        ("create-secret", "secretsmanager", "GetRandomPassword") => {
            "the secret's value, drawn by the service (no random source in the function)"
        }
        ("create-secret", "secretsmanager", "CreateSecret") => "the tenant's secret, tagged with the tenant",
        ("create-prefix", "s3", "PutObject") => "the tenant's prefix marker object in the shared bucket",
        ("rebuild-role-mappings", "cognitoidentityprovider", "UpdateGroup") => {
            "the Token mapping itself: the group carries the role the ID token's cognito:preferred_role names"
        }
        ("rebuild-role-mappings", "cognitoidentity", "GetIdentityPoolRoles") => {
            "the pool must map this provider by Token with Deny, or the group's role means nothing (else the locked path sets it)"
        }
        ("rebuild-role-mappings", "dynamodb", "UpdateItem") => {
            "records the tenant as mapped, with its role ARN: what audit, rollback and offboarding read"
        }
        ("verify", "cognitoidentityprovider", "AdminCreateUser") => "the probe user that proves isolation",
        ("verify", "cognitoidentityprovider", "AdminSetUserPassword") => {
            "a permanent password, so it can sign in without a challenge"
        }
        ("verify", "cognitoidentityprovider", "AdminAddUserToGroup") => "puts the probe in the tenant's group",
        ("verify", "cognitoidentityprovider", "AdminInitiateAuth") => {
            "signs the probe in: its ID token names the tenant's role"
        }
        ("verify", "cognitoidentity", "GetId") => "the probe's identity in the identity pool",
        ("verify", "cognitoidentity", "GetCredentialsForIdentity") => {
            "the tenant role's credentials, through the real mapping: the proof runs with them"
        }
        ("verify", "secretsmanager", "GetSecretValue") => {
            "own secret (must be allowed), then the canary's secret (must be refused)"
        }
        ("verify", "secretsmanager", "DescribeSecret") => {
            "own secret described (must be allowed), then the canary's (must be refused)"
        }
        ("verify", "s3", "PutObject") => {
            "own prefix write (must be allowed), then the canary prefix write (must be refused)"
        }
        ("verify", "s3", "GetObject") => "own object read back",
        ("verify", "s3", "DeleteObject") => {
            "removes the probe's own object (must be allowed), then a delete on the canary (must be refused)"
        }
        ("verify", "s3", "ListObjectsV2") => "listing its own prefix (allowed), then the canary's (must be refused)",
        ("verify", "cognitoidentityprovider", "AdminDeleteUser") => "the probe user goes, whatever the proof said",
        ("verify", "cognitoidentity", "DeleteIdentities") => "the probe's identity goes too",
        ("record-active", "cognitoidentityprovider", "AdminCreateUser") => {
            "the tenant's first user, from the signup's address"
        }
        ("record-active", "cognitoidentityprovider", "AdminListGroupsForUser") => {
            "the address may already be in another tenant's group (an existing user, or a concurrent signup with it): one workspace per user"
        }
        ("record-active", "cognitoidentityprovider", "AdminAddUserToGroup") => {
            "puts the first user in the tenant's group"
        }
        ("record-active", "eventbridge", "PutEvents") => "TenantOnboarded, for subscribers",
        ("record-active", "dynamodb", "UpdateItem") => {
            "conditional write → ACTIVE, last: everything before it can still roll back"
        }
        _ => return None,
    })
}

/// Each call of a path with its reason (or none).
pub fn explain(path: &CriticalPath) -> Vec<(String, Call, Option<&'static str>)> {
    path.steps
        .iter()
        .flat_map(|s| s.calls.iter().map(|c| (s.step.clone(), c.clone(), why(&s.step, c))))
        .collect()
}

pub fn path_checks(paths: &[CriticalPath]) -> Vec<Check> {
    let mut checks = vec![];
    for p in paths {
        let per_step: Vec<String> = p
            .steps
            .iter()
            .filter(|s| !s.calls.is_empty())
            .map(|s| format!("{} {}", s.step, s.calls.len()))
            .collect();
        checks.push(Check {
            section: "6 critical path",
            measure: format!("AWS calls in sequence, one {} onboarding", p.mapping_type),
            figure: format!(
                "{} calls, {} IAM control-plane writes ({})",
                p.count,
                p.iam_writes,
                per_step.join(", ")
            ),
            goal: "—".into(),
            met: None,
        });
        checks.push(Check {
            section: "6 critical path",
            measure: format!("{}: state machine log = the steps' logs", p.mapping_type),
            figure: if p.consistent {
                format!("same {} calls", p.onboarding.calls.len())
            } else {
                format!("differ: {}", p.difference.join(", "))
            },
            goal: "same calls".into(),
            met: Some(p.consistent),
        });
        if p.mapping_type == "Token" {
            let explained = explain(p);
            let named = explained.iter().filter(|(_, _, w)| w.is_some()).count();
            checks.push(Check {
                section: "6 critical path",
                measure: "Token onboarding: every call needed, each named with why".into(),
                figure: format!("{named} of {} calls named with a reason", explained.len()),
                goal: "all".into(),
                met: Some(named == explained.len() && !explained.is_empty()),
            });
        }
    }
    checks
}

/// One cost estimate: a mapping type, onboarding or offboarding, at a memory setting.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    pub mapping_type: String,
    /// `onboarding` or `offboarding`.
    pub kind: &'static str,
    /// `template` (its MemorySize) or `recommended` (this bench's recommendation).
    pub memory: &'static str,
    pub memory_mb: Vec<(String, u32)>,
    pub estimate: Estimate,
}

/// Cold init billed per invocation: every invocation taken as a cold start (at a few
/// onboardings an hour, each function's sandbox is gone before the next), with the step
/// binary's measured median; 0 when cold init was not measured in this run.
fn step_init_ms(cold: Option<&ColdInit>) -> f64 {
    cold.and_then(|c| c.functions.iter().find(|f| f.name == "step"))
        .map_or(0.0, |f| f.init_ms.p50)
}

/// The recommendation for the step functions, from the step binary's peak RSS.
pub fn recommended_mb(cold: Option<&ColdInit>, function: &str) -> Option<u32> {
    let f = cold?.functions.iter().find(|f| f.name == function)?;
    Some(cost::recommend_memory_mb(f.peak_rss_kib.p50 / 1024.0))
}

pub fn costs(paths: &[CriticalPath], memory: Option<&MemorySizes>, cold: Option<&ColdInit>) -> Vec<CostReport> {
    let Some(memory) = memory else { return vec![] };
    let init = step_init_ms(cold);
    let recommended = recommended_mb(cold, "step");
    let mut out = vec![];
    for p in paths {
        for (kind, ex) in [("onboarding", &p.onboarding), ("offboarding", &p.offboarding)] {
            let settings: Vec<(&'static str, Option<u32>)> = vec![("template", None), ("recommended", recommended)];
            for (label, fixed) in settings {
                if label == "recommended" && fixed.is_none() {
                    continue;
                }
                let invocations: Vec<Invocation> = ex
                    .tasks
                    .iter()
                    .map(|(state, ms)| Invocation {
                        function: state.clone(),
                        init_ms: init,
                        duration_ms: *ms,
                        memory_mb: fixed.unwrap_or_else(|| memory.for_state(state)),
                    })
                    .collect();
                let mut memory_mb: Vec<(String, u32)> =
                    invocations.iter().map(|i| (i.function.clone(), i.memory_mb)).collect();
                memory_mb.dedup();
                // The template's Architecture default: AWS runs the functions on arm64.
                let estimate = cost::estimate(ex.state_transitions, &invocations, &ex.calls, true, &LIST_PRICES);
                out.push(CostReport {
                    mapping_type: p.mapping_type.clone(),
                    kind,
                    memory: label,
                    memory_mb,
                    estimate,
                });
            }
        }
    }
    out
}

fn usd(x: f64) -> String {
    if x >= 0.1 {
        format!("${x:.2}")
    } else {
        format!("${x:.4}")
    }
}

pub fn cost_checks(costs: &[CostReport], cold: Option<&ColdInit>, memory: Option<&MemorySizes>) -> Vec<Check> {
    let mut checks = vec![];
    for c in costs {
        let e = &c.estimate;
        let biggest = e.biggest();
        let (measure, figure) = match c.kind {
            "onboarding" => (
                format!("cost per 1,000 {} onboardings ({} memory)", c.mapping_type, c.memory),
                format!(
                    "{}; biggest term: {}",
                    usd(e.per_1000),
                    biggest.map_or("none".into(), |b| format!("{} {}", b.name, usd(b.per_1000)))
                ),
            ),
            _ => (
                format!("cost per {} offboarding ({} memory)", c.mapping_type, c.memory),
                format!(
                    "{} (per 1,000: {}); biggest term: {}",
                    usd(e.per_1000 / 1000.0),
                    usd(e.per_1000),
                    biggest.map_or("none".into(), |b| b.name.clone())
                ),
            ),
        };
        let goal = c.kind == "onboarding" && c.memory == "template";
        checks.push(Check {
            section: "7 cost",
            measure,
            figure,
            goal: if goal {
                "printed, biggest term named".into()
            } else {
                "—".into()
            },
            met: goal.then(|| biggest.is_some() && e.per_1000.is_finite() && e.per_1000 > 0.0),
        });
    }
    if let Some(c) = cold {
        for f in &c.functions {
            if let Some(mb) = recommended_mb(cold, &f.name) {
                checks.push(Check {
                    section: "7 cost",
                    measure: format!("{} memory size recommended", f.name),
                    figure: format!(
                        "{mb} MB (peak RSS at init {:.1} MB; the template's Globals set {})",
                        f.peak_rss_kib.p50 / 1024.0,
                        memory
                            .and_then(|m| m.default_mb)
                            .map_or("no size (128 MB)".to_string(), |m| format!("{m} MB"))
                    ),
                    goal: "—".into(),
                    met: None,
                });
            }
        }
    }
    checks
}

/// The critical path call by call (IAM control-plane writes marked `*`; a Token
/// onboarding's calls each with its reason) and the cost term by term.
pub fn details(paths: &[CriticalPath], costs: &[CostReport]) -> String {
    let mut out = String::new();
    for p in paths {
        out.push_str(&format!(
            "critical path, one {} onboarding (moto's request log; * = IAM control-plane write): {} calls in sequence, {} IAM writes\n",
            p.mapping_type, p.count, p.iam_writes
        ));
        if p.mapping_type == "Token" {
            for (step, call, reason) in explain(p) {
                out.push_str(&format!(
                    "  {:<20} {}{:<48} {}\n",
                    step,
                    if call.is_iam_write() { "*" } else { " " },
                    call.to_string(),
                    reason.unwrap_or("NO REASON KNOWN")
                ));
            }
        } else {
            for s in &p.steps {
                let calls: Vec<String> = s
                    .calls
                    .iter()
                    .map(|c| format!("{c}{}", if c.is_iam_write() { "*" } else { "" }))
                    .collect();
                out.push_str(&format!("  {:<20} {}\n", s.step, calls.join(" → ")));
            }
        }
        let off = &p.offboarding;
        out.push_str(&format!(
            "  {} offboarding: {} calls ({} IAM writes), {} state transitions, {} Lambda tasks\n",
            p.mapping_type,
            off.calls.len(),
            off.calls.iter().filter(|c| c.is_iam_write()).count(),
            off.state_transitions,
            off.tasks.len()
        ));
    }
    for c in costs {
        out.push_str(&format!(
            "cost of one {} {} at {} memory ({}), per 1,000: {} ({} calls not billed per request: IAM, STS, Cognito APIs, StartExecution, S3 DELETE)\n",
            c.mapping_type,
            c.kind,
            c.memory,
            c.memory_mb.first().map_or("?".into(), |m| format!("{} MB", m.1)),
            usd(c.estimate.per_1000),
            c.estimate.unbilled_calls
        ));
        for t in &c.estimate.terms {
            out.push_str(&format!(
                "  {:<34} {:>9.4} × ${:<12} = {:>9} per 1,000\n",
                t.name,
                t.quantity,
                format!("{:.10}", t.unit_price).trim_end_matches('0'),
                usd(t.per_1000)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{Execution, StepCalls};

    fn path(mapping: &str, steps: Vec<StepCalls>) -> CriticalPath {
        let calls: Vec<Call> = steps.iter().flat_map(|s| s.calls.clone()).collect();
        let (count, iam_writes) = crate::calls::summarize(&steps);
        let ex = Execution {
            state_transitions: 10,
            tasks: vec![("CreateRole".into(), 40.0)],
            calls,
        };
        CriticalPath {
            mapping_type: mapping.into(),
            steps,
            count,
            iam_writes,
            consistent: true,
            difference: vec![],
            onboarding: ex.clone(),
            offboarding: ex,
        }
    }

    fn step(name: &str, calls: &[(&str, &str)]) -> StepCalls {
        StepCalls {
            step: name.into(),
            calls: calls.iter().map(|(s, o)| Call::new(s, o)).collect(),
        }
    }

    /// A Token path is met only when every call has a reason; an unknown call misses it.
    #[test]
    fn every_token_call_needs_a_reason() {
        let good = path(
            "Token",
            vec![
                step("(caller) start", &[("sfn", "StartExecution")]),
                step("create-role", &[("iam", "CreateRole"), ("iam", "PutRolePolicy")]),
            ],
        );
        let met = |p: &CriticalPath| {
            path_checks(std::slice::from_ref(p))
                .into_iter()
                .find(|c| c.measure.contains("every call"))
                .unwrap()
        };
        let c = met(&good);
        assert_eq!(
            (c.figure.as_str(), c.met),
            ("3 of 3 calls named with a reason", Some(true))
        );
        // The Scan the Token path no longer makes: no reason, so the goal would be missed.
        let bad = path("Token", vec![step("rebuild-role-mappings", &[("dynamodb", "Scan")])]);
        assert_eq!(met(&bad).met, Some(false));
        // A Rules path gets figures, no reason check.
        let rules = path_checks(&[path("Rules", vec![step("create-role", &[("iam", "CreateRole")])])]);
        assert!(rules.iter().all(|c| !c.measure.contains("every call")));
        assert!(
            rules[0].figure.starts_with("1 calls, 1 IAM control-plane writes"),
            "{}",
            rules[0].figure
        );
    }

    #[test]
    fn costs_at_template_and_recommended_memory() {
        let p = path("Token", vec![step("(caller) start", &[("sfn", "StartExecution")])]);
        let memory = MemorySizes::parse("Globals:\n  Function:\n    MemorySize: 256\n");
        let reports = costs(&[p], Some(&memory), None);
        // Without cold-init figures there is no recommendation: template memory only.
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].memory_mb, [("CreateRole".to_string(), 256)]);
        let checks = cost_checks(&reports, None, Some(&memory));
        assert_eq!(checks[0].met, Some(true));
        assert!(
            checks[0]
                .figure
                .contains("biggest term: Step Functions state transitions"),
            "{}",
            checks[0].figure
        );
        assert_eq!(checks[1].met, None, "offboarding has a figure, no goal");
    }
}
