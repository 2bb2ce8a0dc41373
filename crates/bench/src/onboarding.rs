//! One tenant's onboarding on the local stack, beside its floor: the same forward steps
//! called in process, in order, with the same input, against the same emulator (no state
//! machine). Also what one successful onboarding costs, read from its execution history.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::json;
use tenant_domain::{MappingType, Status, TenantId};
use tenant_localstack::{LocalStack, Options};
use tenant_steps::{Step, dispatch, record};
use tenantctl::Ops;

use crate::stats::Summary;

#[derive(Debug, Clone, Serialize)]
pub struct LocalOnboarding {
    pub runs: usize,
    /// StartExecution until the execution is seen SUCCEEDED (polled every 20 ms).
    pub stack_ms: Summary,
    /// The forward steps in process, in order.
    pub floor_ms: Summary,
    /// The StartExecution call alone.
    pub start_execution_ms: Summary,
    /// The steps the floor ran (`Step::forward()`).
    pub floor_steps: Vec<String>,
    /// Where the state machine's time goes, from the last run's history.
    pub breakdown: Breakdown,
    pub cost: Cost,
}

/// Time between the execution's first and last history events, split into time inside
/// Lambda tasks (scheduled to succeeded) and time between them (the interpreter).
#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    /// From the StartExecution call to the first history event (ExecutionStarted).
    pub before_first_event_ms: f64,
    /// From the last history event until the caller saw the execution ended.
    pub after_last_event_ms: f64,
    #[serde(skip)]
    pub first_event_at: f64,
    #[serde(skip)]
    pub last_event_at: f64,
    pub execution_ms: f64,
    pub in_tasks_ms: f64,
    pub between_states_ms: f64,
    /// Each Lambda task of that execution (scheduled to succeeded), beside the same step
    /// in the last floor run.
    pub tasks: Vec<TaskTime>,
    /// The largest gaps between consecutive history events, with the events around them.
    pub largest_gaps: Vec<Gap>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskTime {
    pub state: String,
    pub in_state_machine_ms: f64,
    pub in_floor_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub ms: f64,
    pub after: String,
    pub before: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// States entered (what Standard Workflows bill as state transitions).
    pub state_transitions: usize,
    /// Lambda tasks scheduled.
    pub lambda_invocations: usize,
    pub states: Vec<String>,
}

/// A local stack as every bench part starts it: no IAM wait floor, the given mapping type.
pub async fn bench_stack(mapping_type: MappingType) -> anyhow::Result<LocalStack> {
    LocalStack::start(
        Options {
            iam_wait_seconds: 0,
            mapping_type,
            ..Options::default()
        },
        None,
    )
    .await
}

pub async fn ops_for(stack: &LocalStack) -> anyhow::Result<Ops> {
    let env: HashMap<String, String> = stack.env_lines().into_iter().collect();
    Ops::from_lookup(|k| env.get(k).cloned()).await
}

/// One onboarding on the stack as the caller saw it.
pub struct OnStack {
    pub execution_arn: String,
    /// The StartExecution call alone.
    pub start_ms: f64,
    /// Wall-clock seconds (Unix) when the caller started it and saw it end, to place the
    /// history's timestamps.
    pub called_at: f64,
    pub seen_done_at: f64,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Starts an onboarding and polls until it ends; the execution must succeed.
pub async fn onboard_on_stack(ops: &Ops, tenant: &TenantId, poll: Duration) -> anyhow::Result<OnStack> {
    let called_at = unix_now();
    // Each tenant its own first user: an address already in another tenant's group is refused.
    let admin_email = format!("ops@{tenant}.example");
    let t0 = Instant::now();
    let launched = tenant_steps::launch::start_onboarding(
        &ops.ctx,
        &ops.onboarding_arn,
        tenant,
        Some("Bench Co"),
        Some(&admin_email),
        1,
        true,
    )
    .await?;
    let start_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let out = until_ended(ops, &launched.execution_arn, poll).await?;
    let seen_done_at = unix_now();
    match out.status().as_str() {
        "SUCCEEDED" => Ok(OnStack {
            execution_arn: launched.execution_arn,
            start_ms,
            called_at,
            seen_done_at,
        }),
        other => bail!(
            "onboarding {tenant} ended {other}: {} {}",
            out.error().unwrap_or_default(),
            out.cause().unwrap_or_default()
        ),
    }
}

/// Polls DescribeExecution every `poll` (fixed, unlike `tenantctl`'s backing-off wait, so
/// the time until an end is seen stays bounded by one interval) until it is not RUNNING.
pub async fn until_ended(
    ops: &Ops,
    execution_arn: &str,
    poll: Duration,
) -> anyhow::Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput> {
    loop {
        let out = ops
            .ctx
            .clients
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .with_context(|| format!("describing {execution_arn}"))?;
        if out.status().as_str() != "RUNNING" {
            return Ok(out);
        }
        tokio::time::sleep(poll).await;
    }
}

/// The floor: every forward step, in the state machine's order, with the input the
/// state machine's `Init` state gives them (IAM wait 0, so the Wait state adds nothing).
/// Returns each step's time.
pub async fn onboard_in_process(stack: &LocalStack, tenant: &TenantId) -> anyhow::Result<Vec<(Step, f64)>> {
    let input = json!({
        "tenant_id": tenant,
        "company_name": "Bench Co",
        "admin_email": format!("ops@{tenant}.example"),
        "attempt": 1,
        "execution": tenant_steps::launch::execution_name(tenant, 1),
        "iam_wait_seconds": 0,
    });
    let mut times = vec![];
    for step in Step::forward() {
        let t0 = Instant::now();
        dispatch::run(&stack.ctx, step, input.clone())
            .await
            .with_context(|| format!("floor: {} for {tenant}", step.name()))?;
        times.push((step, t0.elapsed().as_secs_f64() * 1000.0));
    }
    let rec = record::get(&stack.ctx, tenant.as_str()).await?;
    match rec {
        Some(r) if r.status == Status::Active => Ok(times),
        other => bail!("floor: {tenant} did not reach ACTIVE: {other:?}"),
    }
}

pub async fn measure(runs: usize) -> anyhow::Result<LocalOnboarding> {
    let stack = crate::onboarding::bench_stack(MappingType::Rules).await?;
    let ops = ops_for(&stack).await?;
    let poll = Duration::from_millis(20);
    // One of each first, outside the figures: the emulator imports lazily on first use.
    onboard_on_stack(&ops, &TenantId::parse("warm-stack")?, poll).await?;
    onboard_in_process(&stack, &TenantId::parse("warm-floor")?).await?;
    let (mut on_stack, mut floor, mut starts) = (vec![], vec![], vec![]);
    let mut last = None;
    let mut floor_steps = vec![];
    // Rules type holds 25 tenants; two are the warm-ups.
    for i in 0..runs.min(11) {
        let tenant = TenantId::parse(&format!("bench-s{i:02}"))?;
        let t0 = Instant::now();
        let run = onboard_on_stack(&ops, &tenant, poll).await?;
        starts.push(run.start_ms);
        last = Some(run);
        on_stack.push(t0.elapsed().as_secs_f64() * 1000.0);
        let tenant = TenantId::parse(&format!("bench-f{i:02}"))?;
        let t0 = Instant::now();
        floor_steps = onboard_in_process(&stack, &tenant).await?;
        floor.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let last = last.context("no runs")?;
    let (mut breakdown, cost) = history(&ops, &last.execution_arn).await?;
    breakdown.before_first_event_ms = (breakdown.first_event_at - last.called_at) * 1000.0;
    breakdown.after_last_event_ms = (last.seen_done_at - breakdown.last_event_at) * 1000.0;
    for task in &mut breakdown.tasks {
        task.in_floor_ms = floor_steps
            .iter()
            .find(|(step, _)| step.substitution().strip_suffix("FunctionArn") == Some(task.state.as_str()))
            .map(|(_, ms)| *ms);
    }
    stack.stop().await;
    Ok(LocalOnboarding {
        runs: on_stack.len(),
        stack_ms: Summary::of(&on_stack),
        floor_ms: Summary::of(&floor),
        start_execution_ms: Summary::of(&starts),
        floor_steps: Step::forward().iter().map(|s| s.name().to_string()).collect(),
        breakdown,
        cost,
    })
}

/// One tenant's onboarding through the state machine in one mapping type (its own stack).
#[derive(Debug, Clone, Serialize)]
pub struct ModeLatency {
    pub mapping_type: MappingType,
    pub runs: usize,
    pub ms: Summary,
}

/// The three mapping types side by side, in one run: the same onboarding, one stack each,
/// the state machine's IAM wait at 0 as in the floor comparison (what differs is the work:
/// a role and a rule, a role on the group, or neither).
pub async fn per_mode(runs: usize) -> anyhow::Result<Vec<ModeLatency>> {
    let mut out = vec![];
    for mapping_type in [MappingType::Rules, MappingType::Token, MappingType::Abac] {
        let stack = bench_stack(mapping_type).await?;
        let ops = ops_for(&stack).await?;
        let poll = Duration::from_millis(20);
        onboard_on_stack(&ops, &TenantId::parse("warm-mode")?, poll).await?;
        let mut samples = vec![];
        // Rules type holds 25 tenants; one is the warm-up.
        for i in 0..runs.min(20) {
            let t0 = Instant::now();
            onboard_on_stack(&ops, &TenantId::parse(&format!("bench-m{i:02}"))?, poll).await?;
            samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        stack.stop().await;
        out.push(ModeLatency {
            mapping_type,
            runs: samples.len(),
            ms: Summary::of(&samples),
        });
    }
    Ok(out)
}

/// Reads the execution history: states entered and Lambda tasks scheduled (the cost), and
/// how the execution's time splits between tasks and the interpreter.
pub async fn history(ops: &Ops, execution_arn: &str) -> anyhow::Result<(Breakdown, Cost)> {
    let mut events = vec![];
    let mut pages = ops
        .ctx
        .clients
        .sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("reading the history of {execution_arn}"))?;
        events.extend(page.events().iter().cloned());
    }
    let mut states = vec![];
    let mut invocations = 0;
    let mut in_tasks = 0.0;
    let mut scheduled_at = None;
    let mut state = String::new();
    let mut tasks = vec![];
    let mut gaps = vec![];
    for (i, e) in events.iter().enumerate() {
        let kind = e.r#type().as_str();
        let at = e.timestamp().as_secs_f64();
        if kind.ends_with("StateEntered") {
            state = e
                .state_entered_event_details()
                .map(|d| d.name().to_string())
                .unwrap_or_default();
            states.push(state.clone());
        }
        match kind {
            "LambdaFunctionScheduled" => {
                invocations += 1;
                scheduled_at = Some(at);
            }
            "LambdaFunctionSucceeded" | "LambdaFunctionFailed" | "LambdaFunctionTimedOut" => {
                if let Some(s) = scheduled_at.take() {
                    in_tasks += at - s;
                    tasks.push(TaskTime {
                        state: state.clone(),
                        in_state_machine_ms: (at - s) * 1000.0,
                        in_floor_ms: None,
                    });
                }
            }
            _ => {}
        }
        if i > 0 {
            let prev = &events[i - 1];
            gaps.push(Gap {
                ms: (at - prev.timestamp().as_secs_f64()) * 1000.0,
                after: describe(prev),
                before: describe(e),
            });
        }
    }
    let first_event_at = events.first().map_or(0.0, |e| e.timestamp().as_secs_f64());
    let last_event_at = events.last().map_or(0.0, |e| e.timestamp().as_secs_f64());
    let execution_ms = (last_event_at - first_event_at) * 1000.0;
    gaps.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    gaps.truncate(3);
    let in_tasks_ms = in_tasks * 1000.0;
    Ok((
        Breakdown {
            before_first_event_ms: 0.0,
            after_last_event_ms: 0.0,
            first_event_at,
            last_event_at,
            execution_ms,
            in_tasks_ms,
            between_states_ms: execution_ms - in_tasks_ms,
            tasks,
            largest_gaps: gaps,
        },
        Cost {
            state_transitions: states.len(),
            lambda_invocations: invocations,
            states,
        },
    ))
}

fn describe(e: &aws_sdk_sfn::types::HistoryEvent) -> String {
    let name = e
        .state_entered_event_details()
        .map(|d| d.name())
        .or_else(|| e.state_exited_event_details().map(|d| d.name()));
    match name {
        Some(n) => format!("{} {n}", e.r#type().as_str()),
        None => e.r#type().as_str().to_string(),
    }
}

/// What running every step under its own role costs (the extension authorizing each call
/// against the function role's policy): the same onboardings on a stack whose functions
/// use the local admin key, and on one whose functions use their template roles.
#[derive(Debug, Clone, Serialize)]
pub struct Enforcement {
    pub runs: usize,
    pub admin_ms: Summary,
    pub function_roles_ms: Summary,
    /// Starting the stack with function roles (renders the template, creates and assumes
    /// one role per function) minus starting it without.
    pub extra_start_ms: f64,
}

pub async fn enforcement(runs: usize) -> anyhow::Result<Enforcement> {
    let mut medians = vec![];
    let mut starts = vec![];
    for function_roles in [false, true] {
        let t0 = Instant::now();
        let stack = LocalStack::start(
            Options {
                iam_wait_seconds: 0,
                mapping_type: MappingType::Rules,
                function_roles,
                ..Options::default()
            },
            None,
        )
        .await?;
        starts.push(t0.elapsed().as_secs_f64() * 1000.0);
        let ops = ops_for(&stack).await?;
        let poll = Duration::from_millis(20);
        onboard_on_stack(&ops, &TenantId::parse("warm-stack")?, poll).await?;
        let mut samples = vec![];
        for i in 0..runs.min(20) {
            let t0 = Instant::now();
            onboard_on_stack(&ops, &TenantId::parse(&format!("bench-e{i:02}"))?, poll).await?;
            samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        stack.stop().await;
        medians.push(Summary::of(&samples));
    }
    let function_roles_ms = medians.pop().context("two runs")?;
    let admin_ms = medians.pop().context("two runs")?;
    Ok(Enforcement {
        runs: admin_ms.n,
        admin_ms,
        function_roles_ms,
        extra_start_ms: starts[1] - starts[0],
    })
}
