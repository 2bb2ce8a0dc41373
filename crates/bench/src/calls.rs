//! The critical path of an onboarding: the AWS API calls each step makes, in sequence,
//! read from the emulator's request log (moto's recorder), per mapping type; and the
//! executions' own figures (state transitions, Lambda tasks and their durations) that the
//! cost needs, for an onboarding and an offboarding.
//!
//! One onboarding runs through the state machine with the recorder on (every call the
//! product made, in arrival order); a second tenant's forward steps then run one at a
//! time in process, the recording cut at each step, which attributes each call to its
//! step. The two must hold the same calls; the report says whether they do.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::json;
use tenant_domain::{MappingType, TenantId};
use tenant_localstack::LocalStack;
use tenant_steps::{Step, dispatch};

use crate::onboarding::{self, ops_for};
use crate::recorder::{Call, Recorder};

#[derive(Debug, Clone, Serialize)]
pub struct StepCalls {
    pub step: String,
    pub calls: Vec<Call>,
}

/// What one execution (onboarding or offboarding) did, for the cost.
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    pub state_transitions: usize,
    /// Each Lambda task: its state and its time from scheduled to succeeded.
    pub tasks: Vec<(String, f64)>,
    /// Every AWS call the execution's steps and its caller made (harness calls removed).
    pub calls: Vec<Call>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CriticalPath {
    pub mapping_type: String,
    /// The caller's calls (StartExecution), then each forward step's, in order.
    pub steps: Vec<StepCalls>,
    /// Calls on the critical path: every call, since no step makes two at once and the
    /// steps run one after another.
    pub count: usize,
    pub iam_writes: usize,
    /// Whether the state machine run made the same calls as the steps run one by one
    /// (as multisets); the difference when not.
    pub consistent: bool,
    pub difference: Vec<String>,
    pub onboarding: Execution,
    pub offboarding: Execution,
}

/// Requests the bench's own harness makes, not the product: the local stack's poller of
/// the signup-request queue (EventBridge invokes the function directly in AWS) and the
/// bench's DescribeExecution polls.
pub fn is_harness(call: &Call) -> bool {
    call.service == "sqs"
        || (call.service == "sfn" && ["DescribeExecution", "GetExecutionHistory"].contains(&call.operation.as_str()))
}

/// Multiset difference, both ways, as `+call ×n` (only in `a`) and `-call ×n` (only in `b`).
pub fn multiset_difference(a: &[Call], b: &[Call]) -> Vec<String> {
    let mut count: BTreeMap<&Call, i64> = BTreeMap::new();
    for c in a {
        *count.entry(c).or_default() += 1;
    }
    for c in b {
        *count.entry(c).or_default() -= 1;
    }
    count
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(c, n)| format!("{}{c} ×{}", if n > 0 { "+" } else { "-" }, n.abs()))
        .collect()
}

/// The path's figures from its steps' calls.
pub fn summarize(steps: &[StepCalls]) -> (usize, usize) {
    let all = steps.iter().flat_map(|s| &s.calls);
    let count = all.clone().count();
    let iam = all.filter(|c| c.is_iam_write()).count();
    (count, iam)
}

pub async fn measure(mapping_type: MappingType) -> anyhow::Result<CriticalPath> {
    let stack = crate::onboarding::bench_stack(mapping_type).await?;
    let result = measure_on(&stack, mapping_type).await;
    stack.stop().await;
    result
}

async fn measure_on(stack: &LocalStack, mapping_type: MappingType) -> anyhow::Result<CriticalPath> {
    let ops = ops_for(stack).await?;
    let recorder = Recorder::new(stack.endpoint());
    let poll = Duration::from_millis(20);
    // Outside the figures: the emulator imports lazily on first use, which would
    // lengthen the first execution's task durations.
    onboarding::onboard_on_stack(&ops, &TenantId::parse("warm-calls")?, poll).await?;

    let tenant = TenantId::parse("calls-sm")?;
    recorder.restart().await?;
    let run = onboarding::onboard_on_stack(&ops, &tenant, poll).await?;
    let sm_calls: Vec<Call> = recorder.take().await?.into_iter().filter(|c| !is_harness(c)).collect();
    let (breakdown, cost) = onboarding::history(&ops, &run.execution_arn).await?;
    let onboarding = Execution {
        state_transitions: cost.state_transitions,
        tasks: breakdown
            .tasks
            .iter()
            .map(|t| (t.state.clone(), t.in_state_machine_ms))
            .collect(),
        calls: sm_calls.clone(),
    };

    // The caller's part, as `start_onboarding` makes it.
    let mut steps = vec![StepCalls {
        step: "(caller) start".into(),
        calls: vec![Call::new("sfn", "StartExecution")],
    }];
    let floor_tenant = TenantId::parse("calls-steps")?;
    let input = json!({
        "tenant_id": floor_tenant,
        "company_name": "Bench Co",
        "admin_email": format!("ops@{floor_tenant}.example"),
        "attempt": 1,
        "execution": tenant_steps::launch::execution_name(&floor_tenant, 1),
        "iam_wait_seconds": 0,
    });
    for step in Step::forward() {
        recorder.restart().await?;
        dispatch::run(&stack.ctx, step, input.clone())
            .await
            .with_context(|| format!("{} for {floor_tenant}", step.name()))?;
        steps.push(StepCalls {
            step: step.name().to_string(),
            calls: recorder.take().await?.into_iter().filter(|c| !is_harness(c)).collect(),
        });
    }
    let by_step: Vec<Call> = steps.iter().flat_map(|s| s.calls.clone()).collect();
    let difference = multiset_difference(&sm_calls, &by_step);
    let (count, iam_writes) = summarize(&steps);

    recorder.restart().await?;
    let started = tenantctl::onboard::offboard(&ops, &tenant, false, 7, Duration::ZERO).await?;
    let out = onboarding::until_ended(&ops, &started.execution_arn, poll).await?;
    let off_calls: Vec<Call> = recorder.take().await?.into_iter().filter(|c| !is_harness(c)).collect();
    if out.status().as_str() != "SUCCEEDED" {
        bail!("offboarding {tenant} ended {}", out.status().as_str());
    }
    let (off_breakdown, off_cost) = onboarding::history(&ops, &started.execution_arn).await?;
    Ok(CriticalPath {
        mapping_type: format!("{mapping_type:?}"),
        steps,
        count,
        iam_writes,
        consistent: difference.is_empty(),
        difference,
        onboarding,
        offboarding: Execution {
            state_transitions: off_cost.state_transitions,
            tasks: off_breakdown
                .tasks
                .iter()
                .map(|t| (t.state.clone(), t.in_state_machine_ms))
                .collect(),
            calls: off_calls,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_both_ways() {
        let a = [
            Call::new("iam", "CreateRole"),
            Call::new("iam", "CreateRole"),
            Call::new("s3", "PutObject"),
        ];
        let b = [Call::new("iam", "CreateRole"), Call::new("sfn", "StartExecution")];
        assert_eq!(
            multiset_difference(&a, &b),
            ["+iam:CreateRole ×1", "+s3:PutObject ×1", "-sfn:StartExecution ×1"]
        );
        assert!(multiset_difference(&a, &a).is_empty());
    }

    #[test]
    fn counts_and_iam_writes() {
        let steps = [
            StepCalls {
                step: "create-role".into(),
                calls: vec![
                    Call::new("iam", "GetRole"),
                    Call::new("iam", "CreateRole"),
                    Call::new("iam", "PutRolePolicy"),
                ],
            },
            StepCalls {
                step: "create-secret".into(),
                calls: vec![Call::new("secretsmanager", "CreateSecret")],
            },
        ];
        assert_eq!(summarize(&steps), (4, 2));
        assert!(is_harness(&Call::new("sqs", "ReceiveMessage")));
        assert!(is_harness(&Call::new("sfn", "DescribeExecution")));
        assert!(!is_harness(&Call::new("sfn", "StartExecution")));
    }
}
