//! Reading an execution's history into a [`Timeline`], incrementally while it runs.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_sfn::types::HistoryEvent;

use crate::Ops;
use crate::exit::{CliError, Exit};
use crate::timeline::{Change, Event, Timeline};

/// The error and cause of a failure event, whichever of AWS's detail types carries them.
fn failure_of(e: &HistoryEvent) -> (Option<String>, Option<String>) {
    macro_rules! pick {
        ($($details:ident),*) => {
            $(if let Some(d) = e.$details() {
                return (d.error().map(str::to_string), d.cause().map(str::to_string));
            })*
        };
    }
    pick!(
        lambda_function_failed_event_details,
        lambda_function_timed_out_event_details,
        lambda_function_start_failed_event_details,
        lambda_function_schedule_failed_event_details,
        task_failed_event_details,
        task_timed_out_event_details,
        task_start_failed_event_details,
        task_submit_failed_event_details,
        activity_failed_event_details,
        activity_timed_out_event_details,
        activity_schedule_failed_event_details,
        execution_failed_event_details,
        execution_aborted_event_details,
        execution_timed_out_event_details
    );
    (None, None)
}

pub fn event_of(e: &HistoryEvent) -> Event {
    let (error, cause) = failure_of(e);
    // An aborted execution carries empty strings rather than no error.
    let (error, cause) = (error.filter(|s| !s.is_empty()), cause.filter(|s| !s.is_empty()));
    Event {
        id: e.id(),
        at: e.timestamp().as_secs_f64(),
        kind: e.r#type().as_str().to_string(),
        state: e
            .state_entered_event_details()
            .map(|d| d.name().to_string())
            .or_else(|| e.state_exited_event_details().map(|d| d.name().to_string())),
        error,
        cause,
    }
}

/// Events after `after`, oldest first. Reads newest-first and stops at the first page
/// reaching events already seen, so a poll costs one call however long the history is.
/// (moto ignores `reverseOrder` and returns everything in one page; the filter and the
/// sort cover that.)
pub async fn events_after(ops: &Ops, execution_arn: &str, after: i64) -> anyhow::Result<Vec<Event>> {
    let mut out = vec![];
    let mut token: Option<String> = None;
    loop {
        let page = ops
            .ctx
            .clients
            .sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .reverse_order(true)
            .max_results(100)
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            // Step Functions keeps a history for 90 days after the execution closed.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_does_not_exist()) => {
                return Err(CliError::new(
                    Exit::NotFound,
                    None,
                    format!("execution {execution_arn} does not exist (or its history has expired)"),
                )
                .into());
            }
            Err(e) => return Err(e).with_context(|| format!("reading the history of {execution_arn}")),
        };
        let mut reached_seen = false;
        for e in page.events() {
            if e.id() > after {
                out.push(event_of(e));
            } else {
                reached_seen = true;
            }
        }
        token = page.next_token().map(str::to_string);
        if reached_seen || token.is_none() {
            break;
        }
    }
    out.sort_by_key(|e| e.id);
    out.dedup_by_key(|e| e.id);
    Ok(out)
}

/// The whole timeline of an execution as it stands.
pub async fn timeline(ops: &Ops, execution_arn: &str) -> anyhow::Result<Timeline> {
    let mut t = Timeline::default();
    for e in events_after(ops, execution_arn, 0).await? {
        t.apply(&e);
    }
    Ok(t)
}

/// Polls the history until the execution ends, reporting each change as it happens and
/// `on_tick` between polls (for a spinner's elapsed time).
pub async fn follow(
    ops: &Ops,
    tenant: &str,
    execution_arn: &str,
    timeout: Duration,
    mut on_change: impl FnMut(&Timeline, &Change),
    mut on_tick: impl FnMut(&Timeline),
) -> anyhow::Result<Timeline> {
    let deadline = Instant::now() + timeout;
    let mut t = Timeline::default();
    loop {
        for e in events_after(ops, execution_arn, t.last_event_id).await? {
            for change in t.apply(&e) {
                on_change(&t, &change);
            }
        }
        if t.end.is_some() {
            return Ok(t);
        }
        if Instant::now() > deadline {
            return Err(CliError::new(
                Exit::StillRunning,
                Some(tenant),
                format!("execution {execution_arn} of {tenant} is still running after {timeout:?}"),
            )
            .next(format!("`tenantctl watch {tenant}` again to keep following it"))
            .into());
        }
        on_tick(&t);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The Step Functions console page of an execution, in the ARN's partition and region.
pub fn console_url(execution_arn: &str) -> Option<String> {
    let mut parts = execution_arn.split(':');
    let (Some("arn"), Some(partition), Some("states"), Some(region)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let host = match partition {
        "aws" => format!("{region}.console.aws.amazon.com"),
        "aws-cn" => format!("{region}.console.amazonaws.cn"),
        "aws-us-gov" => format!("{region}.console.amazonaws-us-gov.com"),
        _ => return None,
    };
    Some(format!(
        "https://{host}/states/home?region={region}#/v2/executions/details/{execution_arn}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_links_follow_the_arns_partition_and_region() {
        let arn = "arn:aws:states:eu-west-1:123456789012:execution:TenantOnboarding:acme-1";
        assert_eq!(
            console_url(arn).unwrap(),
            format!(
                "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{arn}"
            )
        );
        let cn = "arn:aws-cn:states:cn-north-1:123456789012:execution:T:acme-1";
        assert!(
            console_url(cn)
                .unwrap()
                .starts_with("https://cn-north-1.console.amazonaws.cn/")
        );
        assert_eq!(console_url("not-an-arn"), None);
    }
}
