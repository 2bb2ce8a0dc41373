//! An execution's history folded into one line per state: when it was entered and left,
//! how many times its task ran (retries) and why each failed. Pure: `watch` and `status`
//! feed it events read from GetExecutionHistory.
//!
//! Both families of task events are handled: moto and a state whose `Resource` is a
//! function ARN emit `LambdaFunction*`; AWS's `lambda:invoke` integration emits `Task*`.

use serde::Serialize;

/// The parts of a history event the timeline uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    /// Seconds since the Unix epoch.
    pub at: f64,
    /// The `HistoryEventType`, e.g. `TaskStateEntered`.
    pub kind: String,
    /// The state's name on `*StateEntered` / `*StateExited`.
    pub state: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepOutcome {
    Running,
    Succeeded,
    /// Its task failed for good (the state machine's Catch took over), or it is a Fail state.
    Failed,
    Aborted,
}

/// A failed run of a state's task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskFailure {
    pub error: String,
    /// The human part of the cause.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRun {
    pub name: String,
    /// Task, Pass, Wait, Choice, Fail, Succeed, ...
    pub kind: String,
    pub entered_at: f64,
    pub exited_at: Option<f64>,
    /// How many times its task was scheduled.
    pub invocations: u32,
    /// Failed runs of its task, in order.
    pub failures: Vec<TaskFailure>,
    pub outcome: StepOutcome,
    #[serde(skip)]
    last_task_ok: Option<bool>,
}

impl StepRun {
    /// Task runs after the first: the state's Retry at work.
    pub fn retries(&self) -> u32 {
        self.invocations.saturating_sub(1)
    }

    /// Seconds from entering to leaving, or to `now` while running.
    pub fn duration(&self, now: f64) -> f64 {
        (self.exited_at.unwrap_or(now) - self.entered_at).max(0.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionEnd {
    /// SUCCEEDED, FAILED, ABORTED or TIMED_OUT.
    pub status: String,
    pub at: f64,
    pub error: Option<String>,
    pub message: Option<String>,
}

/// What an event changed, for a renderer that prints as things happen.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Entered(usize),
    /// A task run failed; the state may retry it.
    TaskFailed(usize),
    /// A task run started again after a failure.
    Retrying(usize),
    Exited(usize),
    Ended,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub started_at: Option<f64>,
    pub steps: Vec<StepRun>,
    pub end: Option<ExecutionEnd>,
    /// The last event applied; later polls skip events up to here.
    pub last_event_id: i64,
}

fn is_task_scheduled(kind: &str) -> bool {
    matches!(kind, "LambdaFunctionScheduled" | "TaskScheduled" | "ActivityScheduled")
}

fn is_task_succeeded(kind: &str) -> bool {
    matches!(kind, "LambdaFunctionSucceeded" | "TaskSucceeded" | "ActivitySucceeded")
}

fn is_task_failed(kind: &str) -> bool {
    matches!(
        kind,
        "LambdaFunctionFailed"
            | "LambdaFunctionTimedOut"
            | "LambdaFunctionStartFailed"
            | "LambdaFunctionScheduleFailed"
            | "TaskFailed"
            | "TaskTimedOut"
            | "TaskStartFailed"
            | "TaskSubmitFailed"
            | "ActivityFailed"
            | "ActivityTimedOut"
            | "ActivityScheduleFailed"
    )
}

fn execution_end_status(kind: &str) -> Option<&'static str> {
    match kind {
        "ExecutionSucceeded" => Some("SUCCEEDED"),
        "ExecutionFailed" => Some("FAILED"),
        "ExecutionAborted" => Some("ABORTED"),
        "ExecutionTimedOut" => Some("TIMED_OUT"),
        _ => None,
    }
}

impl Timeline {
    /// Folds one event in; events at or before `last_event_id` are ignored, so a poll
    /// may re-read events it has seen.
    pub fn apply(&mut self, e: &Event) -> Vec<Change> {
        if e.id <= self.last_event_id {
            return vec![];
        }
        self.last_event_id = e.id;
        let kind = e.kind.as_str();
        let mut changes = vec![];
        if kind == "ExecutionStarted" {
            self.started_at = Some(e.at);
        } else if kind == "ExecutionRedriven" {
            // A redrive continues the same execution: it is running again.
            self.end = None;
        } else if let Some(state_kind) = kind.strip_suffix("StateEntered") {
            self.started_at.get_or_insert(e.at);
            self.steps.push(StepRun {
                name: e.state.clone().unwrap_or_else(|| "?".into()),
                kind: state_kind.to_string(),
                entered_at: e.at,
                exited_at: None,
                invocations: 0,
                failures: vec![],
                outcome: if state_kind == "Fail" {
                    StepOutcome::Failed
                } else {
                    StepOutcome::Running
                },
                last_task_ok: None,
            });
            changes.push(Change::Entered(self.steps.len() - 1));
            if state_kind == "Fail" || state_kind == "Succeed" {
                // Terminal states have no exit event of their own.
                let i = self.steps.len() - 1;
                self.steps[i].exited_at = Some(e.at);
                if state_kind == "Succeed" {
                    self.steps[i].outcome = StepOutcome::Succeeded;
                }
                changes.push(Change::Exited(i));
            }
        } else if kind.ends_with("StateExited") || kind.ends_with("StateAborted") {
            if let Some(i) = self.open_step(e.state.as_deref()) {
                let step = &mut self.steps[i];
                step.exited_at = Some(e.at);
                step.outcome = if kind.ends_with("StateAborted") {
                    StepOutcome::Aborted
                } else if step.last_task_ok == Some(false) {
                    StepOutcome::Failed
                } else {
                    StepOutcome::Succeeded
                };
                changes.push(Change::Exited(i));
            }
        } else if is_task_scheduled(kind) {
            if let Some(i) = self.open_step(None) {
                let step = &mut self.steps[i];
                step.invocations += 1;
                if step.invocations > 1 {
                    changes.push(Change::Retrying(i));
                }
            }
        } else if is_task_succeeded(kind) {
            if let Some(i) = self.open_step(None) {
                self.steps[i].last_task_ok = Some(true);
            }
        } else if is_task_failed(kind) {
            if let Some(i) = self.open_step(None) {
                let step = &mut self.steps[i];
                step.last_task_ok = Some(false);
                step.failures.push(TaskFailure {
                    error: e.error.clone().unwrap_or_else(|| kind.to_string()),
                    message: message_of(e.cause.as_deref()),
                });
                changes.push(Change::TaskFailed(i));
            }
        } else if let Some(status) = execution_end_status(kind) {
            for (i, step) in self.steps.iter_mut().enumerate() {
                if step.exited_at.is_none() {
                    step.exited_at = Some(e.at);
                    step.outcome = if status == "SUCCEEDED" {
                        StepOutcome::Succeeded
                    } else {
                        StepOutcome::Aborted
                    };
                    changes.push(Change::Exited(i));
                }
            }
            self.end = Some(ExecutionEnd {
                status: status.to_string(),
                at: e.at,
                error: e.error.clone(),
                message: e.cause.as_deref().map(|c| message_of(Some(c))),
            });
            changes.push(Change::Ended);
        }
        changes
    }

    /// The open step named `name`, or the latest open one.
    fn open_step(&self, name: Option<&str>) -> Option<usize> {
        let open = |s: &&StepRun| s.exited_at.is_none();
        let by_name = name.and_then(|n| self.steps.iter().rposition(|s| open(&s) && s.name == n));
        by_name.or_else(|| self.steps.iter().rposition(|s| open(&s)))
    }

    /// The step whose failure sent the execution to compensation: the first task that
    /// failed for good.
    pub fn failed_step(&self) -> Option<&StepRun> {
        self.steps
            .iter()
            .find(|s| s.kind == "Task" && s.outcome == StepOutcome::Failed)
    }

    /// Task runs after the first, over the whole execution.
    pub fn retries(&self) -> u32 {
        self.steps.iter().map(StepRun::retries).sum()
    }
}

fn message_of(cause: Option<&str>) -> String {
    tenant_steps::input::cause_message(cause.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(id: i64, at: f64, kind: &str) -> Event {
        Event {
            id,
            at,
            kind: kind.into(),
            state: None,
            error: None,
            cause: None,
        }
    }

    fn entered(id: i64, at: f64, kind: &str, name: &str) -> Event {
        Event {
            state: Some(name.into()),
            ..ev(id, at, kind)
        }
    }

    fn failed(id: i64, at: f64, kind: &str, error: &str, message: &str) -> Event {
        Event {
            error: Some(error.into()),
            cause: Some(serde_json::json!({ "errorMessage": message, "errorType": error }).to_string()),
            ..ev(id, at, kind)
        }
    }

    /// The shape moto produces: a retried CreateRole (one failure, then success).
    fn moto_retry() -> Vec<Event> {
        vec![
            ev(1, 0.0, "ExecutionStarted"),
            entered(2, 0.0, "PassStateEntered", "Init"),
            ev(3, 0.0, "PassStateExited"),
            entered(4, 0.0, "TaskStateEntered", "CreateRole"),
            ev(5, 0.0, "LambdaFunctionScheduled"),
            ev(6, 0.0, "LambdaFunctionStarted"),
            failed(7, 0.1, "LambdaFunctionFailed", "ServiceUnavailable", "iam busy"),
            ev(8, 0.5, "LambdaFunctionScheduled"),
            ev(9, 0.5, "LambdaFunctionStarted"),
            ev(10, 0.6, "LambdaFunctionSucceeded"),
            ev(11, 0.6, "TaskStateExited"),
            entered(12, 0.6, "WaitStateEntered", "WaitForIamPropagation"),
            ev(13, 1.6, "WaitStateExited"),
            ev(14, 1.6, "ExecutionSucceeded"),
        ]
    }

    #[test]
    fn a_retry_is_counted_within_its_state() {
        let mut t = Timeline::default();
        let changes: Vec<_> = moto_retry().iter().flat_map(|e| t.apply(e)).collect();
        assert!(changes.contains(&Change::Retrying(1)));
        assert_eq!(t.steps.len(), 3);
        let role = &t.steps[1];
        assert_eq!(
            (role.name.as_str(), role.invocations, role.retries()),
            ("CreateRole", 2, 1)
        );
        assert_eq!(role.outcome, StepOutcome::Succeeded);
        assert_eq!(role.failures[0].error, "ServiceUnavailable");
        assert_eq!(role.failures[0].message, "iam busy");
        assert!((role.duration(99.0) - 0.6).abs() < 1e-9);
        assert!((t.steps[2].duration(99.0) - 1.0).abs() < 1e-9);
        assert_eq!(t.end.as_ref().unwrap().status, "SUCCEEDED");
        assert_eq!(t.retries(), 1);
        assert!(t.failed_step().is_none());
    }

    /// AWS's `lambda:invoke` integration: Task* events, named exits, a caught failure,
    /// compensation and a Fail state.
    #[test]
    fn aws_task_events_and_a_caught_failure() {
        let events = vec![
            ev(1, 10.0, "ExecutionStarted"),
            entered(2, 10.0, "TaskStateEntered", "CreateSecret"),
            ev(3, 10.0, "TaskScheduled"),
            ev(4, 10.1, "TaskStarted"),
            failed(5, 10.2, "TaskFailed", "SecretsDenied", "access denied"),
            entered(6, 10.2, "TaskStateExited", "CreateSecret"),
            entered(7, 10.2, "PassStateEntered", "CreateSecretFailed"),
            entered(8, 10.2, "PassStateExited", "CreateSecretFailed"),
            entered(9, 10.3, "TaskStateEntered", "RecordFailed"),
            ev(10, 10.3, "TaskScheduled"),
            ev(11, 10.4, "TaskSucceeded"),
            entered(12, 10.4, "TaskStateExited", "RecordFailed"),
            entered(13, 10.4, "FailStateEntered", "OnboardingFailed"),
            failed(14, 10.4, "ExecutionFailed", "SecretsDenied", "access denied"),
        ];
        let mut t = Timeline::default();
        for e in &events {
            t.apply(e);
        }
        let outcomes: Vec<_> = t.steps.iter().map(|s| (s.name.as_str(), s.outcome)).collect();
        assert_eq!(
            outcomes,
            [
                ("CreateSecret", StepOutcome::Failed),
                ("CreateSecretFailed", StepOutcome::Succeeded),
                ("RecordFailed", StepOutcome::Succeeded),
                ("OnboardingFailed", StepOutcome::Failed),
            ]
        );
        assert_eq!(t.failed_step().unwrap().name, "CreateSecret");
        let end = t.end.unwrap();
        assert_eq!(
            (end.status.as_str(), end.error.as_deref()),
            ("FAILED", Some("SecretsDenied"))
        );
        assert_eq!(end.message.as_deref(), Some("access denied"));
    }

    #[test]
    fn an_aborted_execution_closes_the_running_step() {
        let mut t = Timeline::default();
        t.apply(&ev(1, 0.0, "ExecutionStarted"));
        t.apply(&entered(2, 0.0, "TaskStateEntered", "CreateGroup"));
        t.apply(&ev(3, 0.0, "LambdaFunctionScheduled"));
        assert_eq!(t.steps[0].outcome, StepOutcome::Running);
        assert!((t.steps[0].duration(2.5) - 2.5).abs() < 1e-9);
        let changes = t.apply(&ev(4, 3.0, "ExecutionAborted"));
        assert_eq!(changes, [Change::Exited(0), Change::Ended]);
        assert_eq!(t.steps[0].outcome, StepOutcome::Aborted);
        assert_eq!(t.end.unwrap().status, "ABORTED");
    }

    proptest! {
        /// Re-reading the history (as every poll may) never changes the timeline, and
        /// reading it in any split gives the same result as reading it at once.
        #[test]
        fn polling_is_idempotent(split in 0usize..14, overlap in 0usize..14) {
            let events = moto_retry();
            let mut once = Timeline::default();
            for e in &events {
                once.apply(e);
            }
            let mut polled = Timeline::default();
            for e in &events[..split] {
                polled.apply(e);
            }
            for e in &events[split.saturating_sub(overlap)..] {
                polled.apply(e);
            }
            prop_assert_eq!(polled, once);
        }

        /// Retries are the task runs after the first, whatever the number of failures.
        #[test]
        fn retries_count_repeated_schedules(failures in 0u32..8) {
            let mut t = Timeline::default();
            let mut id = 0;
            let mut next = |kind: &str, state: Option<&str>, error: Option<&str>| {
                id += 1;
                Event { id, at: id as f64, kind: kind.into(), state: state.map(Into::into),
                        error: error.map(Into::into), cause: None }
            };
            t.apply(&next("TaskStateEntered", Some("CreateGroup"), None));
            for _ in 0..failures {
                t.apply(&next("LambdaFunctionScheduled", None, None));
                t.apply(&next("LambdaFunctionFailed", None, Some("Throttled")));
            }
            t.apply(&next("LambdaFunctionScheduled", None, None));
            t.apply(&next("LambdaFunctionSucceeded", None, None));
            t.apply(&next("TaskStateExited", None, None));
            prop_assert_eq!(t.steps[0].retries(), failures);
            prop_assert_eq!(t.steps[0].failures.len() as u32, failures);
            prop_assert_eq!(t.steps[0].outcome, StepOutcome::Succeeded);
        }
    }
}
