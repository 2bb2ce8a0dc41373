//! `watch`, `status` and `list` as a person (text, spinners on a terminal) or a script
//! (`--json`) sees them, and how errors are shown.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use tenant_domain::{Status, TenantId};
use tenant_steps::input::cause_message;
use tenant_steps::record::{self, TenantRecord};
use tenantctl::audit::Finding;
use tenantctl::exit::{CliError, Ending, Exit, exit_of, next_command, not_found};
use tenantctl::isolation::{Access, Check};
use tenantctl::listing::{self, Query};
use tenantctl::outln;
use tenantctl::timeline::{Change, StepOutcome, StepRun, Timeline};
use tenantctl::{Ops, history, onboard, status};

pub fn code(exit: Exit) -> ExitCode {
    ExitCode::from(exit.code())
}

/// Prints an error: what failed, for which tenant, what to do next. With --json it is a
/// JSON object on stdout, so a script reads one stream.
pub fn error(err: &anyhow::Error, json: bool) -> ExitCode {
    let exit = exit_of(err);
    let ours = err.chain().find_map(|e| e.downcast_ref::<CliError>());
    // The same advice on both streams: a script reading --json is told what a person is.
    let next = ours
        .and_then(|e| e.next.clone())
        .or_else(|| (exit == Exit::Environment).then(|| tenantctl::exit::environment_next(err).to_string()));
    if json {
        let doc = json!({ "error": {
            "exit": exit.code(),
            "kind": exit,
            "tenant": ours.and_then(|e| e.tenant.clone()),
            "message": ours.map_or_else(|| format!("{err:#}"), |e| e.message.clone()),
            "next": next,
        }});
        outln!("{doc}");
    } else {
        eprintln!(
            "error: {}",
            ours.map_or_else(|| format!("{err:#}"), |e| e.message.clone())
        );
        if let Some(next) = next {
            eprintln!("next: {next}");
        }
    }
    code(exit)
}

fn fmt_time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn ago(secs: u64) -> String {
    let now = record::now();
    humantime::format_duration(Duration::from_secs(now.saturating_sub(secs))).to_string() + " ago"
}

fn mark(o: StepOutcome) -> &'static str {
    match o {
        StepOutcome::Running => "…",
        StepOutcome::Succeeded => "✓",
        StepOutcome::Failed => "✗",
        StepOutcome::Aborted => "■",
    }
}

fn retries_note(s: &StepRun) -> String {
    match s.retries() {
        0 => String::new(),
        1 => format!("  1 retry after {}", s.failures[0].error),
        n => format!(
            "  {n} retries after {}",
            s.failures
                .iter()
                .map(|f| f.error.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One finished state, as `watch` and `status` print it.
fn step_line(t: &Timeline, s: &StepRun, now: f64) -> String {
    let offset = s.entered_at - t.started_at.unwrap_or(s.entered_at);
    let mut line = format!(
        "  {} {:<26} {:<6} {:>7.2}s  (+{offset:.2}s){}",
        mark(s.outcome),
        s.name,
        s.kind,
        s.duration(now),
        retries_note(s)
    );
    if s.outcome == StepOutcome::Failed
        && let Some(f) = s.failures.last()
    {
        line.push_str(&format!("  {}: {}", f.error, f.message));
    }
    line
}

fn step_json(kind: &str, t: &Timeline, s: &StepRun, now: f64) -> Value {
    json!({
        "type": kind,
        "step": s.name,
        "state_type": s.kind,
        "offset": s.entered_at - t.started_at.unwrap_or(s.entered_at),
        "duration": s.duration(now),
        "invocations": s.invocations,
        "retries": s.retries(),
        "outcome": s.outcome,
        "failures": s.failures,
    })
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The summary of an ended execution, from its timeline and the record now.
fn summary(tenant: &TenantId, execution: &str, t: &Timeline, rec: Option<&TenantRecord>) -> Value {
    let end = t.end.as_ref();
    let owned = rec.is_some_and(|r| r.execution == execution);
    let failed = t.failed_step();
    let last_failure = failed.and_then(|s| s.failures.last());
    let on_record = |f: fn(&TenantRecord) -> Option<&String>| rec.filter(|_| owned).and_then(f).cloned();
    let failed_step = on_record(|r| r.failed_step.as_ref()).or_else(|| failed.map(|s| s.name.clone()));
    let error = on_record(|r| r.error_name.as_ref())
        .or_else(|| last_failure.map(|f| f.error.clone()))
        .or_else(|| end.and_then(|e| e.error.clone()));
    let message = on_record(|r| r.error_message.as_ref())
        .or_else(|| last_failure.map(|f| f.message.clone()))
        .or_else(|| end.and_then(|e| e.message.clone()));
    let exec_status = end.map_or("RUNNING", |e| e.status.as_str());
    let remaining = rec.map(|r| r.remaining.clone()).unwrap_or_default();
    let next = next_command(&Ending {
        tenant: tenant.as_str(),
        execution_status: exec_status,
        error: error.as_deref(),
        record_status: rec.map(|r| r.status),
        owned,
        owner: rec.map(|r| r.execution.as_str()),
        remaining: &remaining,
    });
    let ok = exec_status == "SUCCEEDED" && rec.is_some_and(|r| matches!(r.status, Status::Active | Status::Offboarded));
    let duration = match (t.started_at, end) {
        (Some(s), Some(e)) => e.at - s,
        _ => 0.0,
    };
    json!({
        "type": "result",
        "tenant": tenant.as_str(),
        "execution": execution,
        "status": exec_status,
        "record_status": rec.map(|r| r.status),
        "duration": duration,
        "states": t.steps.len(),
        "retries": t.retries(),
        "failed_step": if ok { None } else { failed_step },
        "error": if ok { None } else { error },
        "message": if ok { None } else { message },
        "rollback_error": if exec_status == "FAILED" && rec.is_some_and(|r| r.status == Status::RollbackFailed) {
            end.map(|e| format!("{}: {}", e.error.as_deref().unwrap_or(""), e.message.as_deref().unwrap_or("")))
        } else {
            None
        },
        "remaining": remaining,
        "next": next,
        "exit": if ok { Exit::Ok.code() } else { Exit::Failed.code() },
    })
}

fn print_summary(s: &Value) {
    let str_of = |k: &str| s[k].as_str().map(str::to_string);
    let record = str_of("record_status").unwrap_or_else(|| "NO RECORD".into());
    outln!(
        "{}: {record} — execution {} {} in {:.2}s ({} states, {} {})",
        s["tenant"].as_str().unwrap_or(""),
        s["execution"].as_str().unwrap_or(""),
        s["status"].as_str().unwrap_or(""),
        s["duration"].as_f64().unwrap_or(0.0),
        s["states"],
        s["retries"],
        if s["retries"] == 1 { "retry" } else { "retries" },
    );
    for (label, key) in [
        ("failed step", "failed_step"),
        ("error", "error"),
        ("cause", "message"),
        ("rollback", "rollback_error"),
    ] {
        if let Some(v) = str_of(key) {
            outln!("  {label:<12} {v}");
        }
    }
    if let Some(left) = s["remaining"].as_array().filter(|a| !a.is_empty()) {
        let left: Vec<_> = left.iter().filter_map(Value::as_str).collect();
        outln!("  {:<12} {}", "left behind", left.join(", "));
    }
    if let Some(next) = str_of("next") {
        outln!("  {:<12} {next}", "next");
    }
}

pub async fn watch(ops: &Ops, tenant: &TenantId, json: bool, timeout: Duration) -> anyhow::Result<ExitCode> {
    let arn = onboard::current_execution(ops, tenant).await?;
    let execution = arn.rsplit(':').next().unwrap_or_default().to_string();
    // Spinners only for a person at a terminal; pipes and --json get plain lines.
    let tty = !json && std::io::stdout().is_terminal();
    let bar = if tty {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    } else {
        ProgressBar::hidden()
    };
    let say = |line: String| {
        if tty {
            bar.println(line);
        } else {
            outln!("{line}");
        }
    };
    if json {
        outln!(
            "{}",
            json!({ "type": "watching", "tenant": tenant.as_str(), "execution": execution, "execution_arn": arn })
        );
    } else {
        say(format!("{tenant}: following execution {execution}"));
    }
    let running = |t: &Timeline| {
        let now = now_secs();
        if let Some(s) = t.steps.iter().rev().find(|s| s.outcome == StepOutcome::Running) {
            let retry = match s.retries() {
                0 => String::new(),
                n => format!(
                    "  retry {n} after {}",
                    s.failures.last().map_or("", |f| f.error.as_str())
                ),
            };
            bar.set_message(format!("{:<26} {:<6} {:>7.1}s{retry}", s.name, s.kind, s.duration(now)));
        }
    };
    let timeline = history::follow(
        ops,
        tenant.as_str(),
        &arn,
        timeout,
        |t, change| {
            let now = now_secs();
            match change {
                Change::Entered(_) | Change::Retrying(_) => running(t),
                Change::TaskFailed(i) => {
                    let s = &t.steps[*i];
                    let f = s.failures.last().expect("a failure was just recorded");
                    if json {
                        outln!("{}", step_json("task_failed", t, s, now));
                    } else {
                        say(format!(
                            "    ! {} run {} failed: {}: {}",
                            s.name, s.invocations, f.error, f.message
                        ));
                    }
                }
                Change::Exited(i) => {
                    let s = &t.steps[*i];
                    if json {
                        outln!("{}", step_json("step", t, s, now));
                    } else {
                        say(step_line(t, s, now));
                    }
                }
                Change::Ended => bar.finish_and_clear(),
            }
        },
        running,
    )
    .await;
    bar.finish_and_clear();
    let timeline = timeline?;
    let rec = record::get(&ops.ctx, tenant.as_str()).await?;
    let s = summary(tenant, &execution, &timeline, rec.as_ref());
    if json {
        outln!("{s}");
    } else {
        print_summary(&s);
    }
    let ok = s["exit"] == 0;
    Ok(code(if ok { Exit::Ok } else { Exit::Failed }))
}

pub async fn status(ops: &Ops, tenant: &TenantId, json: bool) -> anyhow::Result<ExitCode> {
    let report = status::report(ops, tenant).await?;
    let Some(rec) = &report.record else {
        if report.execution.is_none() {
            return Err(not_found(
                tenant.as_str(),
                format!("tenant {tenant} has no record and no execution"),
            )
            .next(format!(
                "`tenantctl onboard {tenant}`, or `tenantctl list` to see the tenants"
            ))
            .into());
        }
        // A first attempt that was refused before writing a record still has a history.
        return status_text_or_json(&report, json, Exit::Failed);
    };
    let needs_operator = report.stuck || matches!(rec.status, Status::Failed | Status::RollbackFailed);
    // A missing resource of an ACTIVE tenant is a bad outcome; an unreadable one is the
    // environment's (the README's exit codes).
    let degraded = status::degraded(&report, rec.status);
    let exit = match degraded {
        _ if needs_operator => Exit::Failed,
        Some(e) => e,
        None => Exit::Ok,
    };
    status_text_or_json(&report, json, exit)
}

fn status_text_or_json(report: &status::Report, json: bool, exit: Exit) -> anyhow::Result<ExitCode> {
    if json {
        let mut v = serde_json::to_value(report)?;
        v["exit"] = json!(exit.code());
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code(exit));
    }
    let tenant = &report.tenant_id;
    match &report.record {
        None => outln!("{tenant}: no record"),
        Some(r) => {
            outln!(
                "{tenant}: {}   attempt {} · execution {} · updated {} ({})",
                r.status,
                r.attempt,
                r.execution,
                fmt_time(r.updated_at),
                ago(r.updated_at)
            );
            if let Some(line) = template_line(r, &report.current_template_version) {
                outln!("  {line}");
            }
            if r.company_name.is_some() || r.admin_email.is_some() {
                outln!(
                    "  {} <{}>",
                    r.company_name.as_deref().unwrap_or("-"),
                    r.admin_email.as_deref().unwrap_or("-")
                );
            }
            if report.stuck && report.execution.is_none() {
                outln!(
                    "  STUCK: execution {} is not running (it never started, or its history is gone) and left the record {}",
                    r.execution,
                    r.status
                );
            } else if report.stuck {
                outln!(
                    "  STUCK: execution {} has ended but left the record {}",
                    r.execution,
                    r.status
                );
            }
            if let (Some(step), Some(err)) = (&r.failed_step, &r.error_name) {
                outln!(
                    "  failed at {step}: {err}: {}",
                    r.error_message.as_deref().unwrap_or("")
                );
            }
            if !r.remaining.is_empty() {
                outln!("  left behind: {}", r.remaining.join(", "));
            }
            if !r.attempts.is_empty() {
                outln!("attempts");
                for a in &r.attempts {
                    let took = match (a.started_at, a.ended_at) {
                        (Some(s), Some(e)) => format!("{}s", e.saturating_sub(s)),
                        _ => "-".into(),
                    };
                    let failure = match (&a.failed_step, &a.error_name) {
                        (Some(s), Some(e)) => {
                            format!("  {s}: {e}: {}", a.error_message.as_deref().unwrap_or(""))
                        }
                        _ => String::new(),
                    };
                    outln!(
                        "  #{:<3} {:<24} {:<21} {:>5}  {:<15}{failure}",
                        a.attempt,
                        a.execution.as_deref().unwrap_or("-"),
                        a.started_at.map_or("-".into(), fmt_time),
                        took,
                        a.outcome.map_or("not settled", |o| o.as_str()),
                    );
                }
            }
        }
    }
    if let Some(x) = &report.execution {
        let t = &x.timeline;
        let took = match (t.started_at, &t.end) {
            (Some(s), Some(e)) => format!("{:.2}s", e.at - s),
            (Some(s), None) => format!("{:.2}s so far", now_secs() - s),
            _ => "-".into(),
        };
        let r = t.retries();
        let plural = if r == 1 { "retry" } else { "retries" };
        outln!("execution {}: {} ({took}, {r} {plural})", x.name, x.status);
        let now = now_secs();
        for s in &t.steps {
            outln!("  {}", step_line(t, s, now).trim_start());
        }
        if let Some(url) = &x.console_url {
            outln!("  console: {url}");
        }
    }
    // State first: the values (ARNs) are long and of any width.
    outln!("resources");
    for r in &report.rows {
        outln!("  {:<9}{:<12}{}", r.label, r.state, r.detail);
    }
    for w in &report.warnings {
        outln!("warning: {w}");
    }
    if let Some(next) = &report.next {
        outln!("next: {next}");
    }
    Ok(code(exit))
}

/// The record's template version against the deployment's; None before the tenant
/// reached ACTIVE with a recorded version and not behind (nothing to say).
fn template_line(r: &record::TenantRecord, current: &str) -> Option<String> {
    match r.template_version.as_deref() {
        Some(v) if v == current => Some(format!("template {v} (current)")),
        _ if !listing::is_behind(r, current) => r.template_version.as_ref().map(|v| format!("template {v}")),
        Some(v) => Some(format!(
            "template {v}, BEHIND the deployment's {current}: `tenantctl repair {}` converges it, keeping its data",
            r.tenant_id
        )),
        None => Some(format!(
            "template not recorded (onboarded before versions were), BEHIND the deployment's {current}: `tenantctl repair {}` converges it, keeping its data",
            r.tenant_id
        )),
    }
}

pub async fn list(ops: &Ops, q: &Query, json: bool) -> anyhow::Result<ExitCode> {
    let records = status::list(ops).await?;
    let current = ops.ctx.settings.template_version();
    let page = listing::query(records, q, record::now(), &current).map_err(|m| CliError::new(Exit::Usage, None, m))?;
    // Unsettled tenants of this page whose execution is not running (one DescribeExecution
    // each, only for those).
    let mut stuck = std::collections::BTreeSet::new();
    for r in page.tenants.iter().filter(|r| !r.status.is_settled()) {
        if !onboard::owner_running(ops, r).await? {
            stuck.insert(r.tenant_id.clone());
        }
    }
    if json {
        let mut v = serde_json::to_value(&page)?;
        v["stuck"] = json!(stuck);
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code(Exit::Ok));
    }
    outln!(
        "{:<34} {:<16} {:>7}  {:<22} {:<20} {:<24} failed at",
        "tenant",
        "status",
        "attempt",
        "execution",
        "updated",
        "template"
    );
    for r in &page.tenants {
        let failed = match (&r.failed_step, &r.error_name) {
            (Some(s), Some(e)) => format!("{s}: {e}"),
            _ => String::new(),
        };
        let status = if stuck.contains(&r.tenant_id) {
            format!("{} STUCK", r.status.as_str())
        } else {
            r.status.as_str().to_string()
        };
        let version = r.template_version.as_deref().unwrap_or("-");
        let template = if listing::is_behind(r, &current) {
            format!("{version} BEHIND")
        } else {
            version.to_string()
        };
        outln!(
            "{:<34} {:<16} {:>7}  {:<22} {:<20} {template:<24} {failed}",
            r.tenant_id,
            status,
            r.attempt,
            r.execution,
            ago(r.updated_at),
        );
    }
    let counts: Vec<_> = page.counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    outln!(
        "{} of {} matching shown; all tenants: {}",
        page.tenants.len(),
        page.matching,
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        }
    );
    if let Some(t) = &page.next_page_token {
        outln!("more: --page-token {t}");
    }
    if page.behind > 0 {
        outln!(
            "{} ACTIVE tenant(s) behind template {current}: `tenantctl list --behind` lists them, `tenantctl rollout plan` shows what changes, `tenantctl repair <id>` converges one",
            page.behind
        );
    }
    Ok(code(Exit::Ok))
}

/// `--status` values: the record statuses, any case, `-` or `_`.
pub fn parse_status(raw: &str) -> Result<Status, String> {
    let norm = raw.trim().to_uppercase().replace('-', "_");
    Status::parse(&norm).ok_or_else(|| {
        let all: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown status {raw:?}; one of: {}", all.join(", "))
    })
}

pub fn print_json(v: &(impl serde::Serialize + ?Sized)) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints the start, or follows the execution to its end and prints the outcome.
pub async fn follow(
    json: bool,
    ops: &Ops,
    tenant: &TenantId,
    started: onboard::Started,
    no_wait: bool,
    timeout: u64,
) -> anyhow::Result<ExitCode> {
    if no_wait {
        if json {
            print_json(&started)?;
        } else {
            let again = if started.already_running {
                " (already running)"
            } else {
                ""
            };
            outln!("started {}{again}: {}", started.execution_name, started.execution_arn);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let finished = onboard::wait(ops, &started.execution_arn, Duration::from_secs(timeout)).await?;
    let st = status::status(ops, tenant).await?;
    if json {
        print_json(&serde_json::json!({ "execution": finished, "tenant": st }))?;
    } else {
        let state = st
            .record
            .as_ref()
            .map_or("NO RECORD".to_string(), |r| r.status.to_string());
        outln!(
            "{tenant}: {state} (execution {} {})",
            started.execution_name,
            finished.status
        );
        if let Some(err) = &finished.error {
            let message = cause_message(finished.cause.as_deref().unwrap_or(""));
            outln!("  error: {err}: {message}");
            if let Some(r) = &st.record {
                if let Some(step) = &r.failed_step {
                    outln!("  failed step: {step}");
                }
                if !r.remaining.is_empty() {
                    outln!("  left behind: {}", r.remaining.join(", "));
                }
            }
            // The advice fits the state the tenant is in: the loser of two offboards
            // (the record is the winner's) is not told to retry, which would re-onboard.
            let next = next_command(&Ending {
                tenant: tenant.as_str(),
                execution_status: &finished.status,
                error: Some(err.as_str()),
                record_status: st.record.as_ref().map(|r| r.status),
                owned: st.record.as_ref().is_none_or(|r| r.execution == started.execution_name),
                owner: st.record.as_ref().map(|r| r.execution.as_str()),
                remaining: st.record.as_ref().map_or(&[][..], |r| r.remaining.as_slice()),
            });
            if let Some(next) = next {
                outln!("  next: {next}");
            }
        }
    }
    Ok(if finished.status == "SUCCEEDED" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `audit`'s findings: a table (with what was expected and found) or JSON; exits 1 on any.
pub fn audit(findings: &[Finding], json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(findings)?;
    } else if findings.is_empty() {
        outln!(
            "clean: every tenant resource belongs to a tenant that should have it, and every ACTIVE tenant matches the templates"
        );
    } else {
        for f in findings {
            let kind = serde_json::to_value(f.kind)?;
            outln!(
                "{:<34} {:<8} {} — {}",
                f.tenant,
                kind.as_str().unwrap_or_default(),
                f.resource,
                f.detail
            );
            if let Some(e) = &f.expected {
                outln!("{:<43} expected: {e}", "");
            }
            if let Some(found) = &f.found {
                outln!("{:<43} found:    {found}", "");
            }
        }
        outln!(
            "{} finding(s). next: drift of an ACTIVE tenant's role (policy, trust, boundary, tags, extra policies) — `tenantctl repair <id>` converges it in place and proves isolation, keeping the data (a failed proof puts the role back); other drift — restore the expected value, or rebuild the tenant keeping its objects: `tenantctl offboard <id> --keep-prefix` then `tenantctl retry <id>` (never without --keep-prefix: that deletes the tenant's data); unavailable — fix access and run again; a missing mapping rule — `tenantctl reconcile`; an orphan of a tenant — `tenantctl offboard <id>`; of no tenant — delete it by hand; a stuck record — `tenantctl retry <id>` (or `tenantctl offboard <id>`)",
            findings.len()
        );
    }
    // Anything that could not be read is the environment's failure (exit 4).
    let unreadable = findings.iter().any(|f| f.kind == tenantctl::audit::Kind::Unavailable);
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else if unreadable {
        code(Exit::Environment)
    } else {
        ExitCode::FAILURE
    })
}

/// `check-isolation`'s checks: a table (with the detail of each that failed) or JSON; exits
/// 1 if isolation does not hold.
pub fn isolation(checks: &[Check], json: bool) -> anyhow::Result<ExitCode> {
    let failed = checks.iter().filter(|c| !c.holds()).count();
    if json {
        print_json(checks)?;
    } else {
        outln!(
            "{:<12} {:<12} {:<32} {:<11} {:<11}",
            "user of",
            "resource of",
            "action",
            "expected",
            "result"
        );
        for c in checks {
            let mark = if c.holds() { "ok" } else { "FAIL" };
            let show = |o: Access| format!("{o:?}").to_lowercase();
            outln!(
                "{:<12} {:<12} {:<32} {:<11} {:<11} {mark}",
                c.actor,
                c.target,
                c.action,
                show(c.expected),
                show(c.actual)
            );
            if !c.holds() {
                outln!("    {}", c.detail);
            }
        }
        let denied = checks.iter().filter(|c| c.actual == Access::Denied).count();
        if failed == 0 {
            outln!(
                "isolation holds: {} checks, {denied} cross-tenant requests denied by IAM",
                checks.len()
            );
        } else {
            outln!("ISOLATION DOES NOT HOLD: {failed} of {} checks failed", checks.len());
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What `reconcile` did: the count, and each rule it dropped (with whether its role
/// still existed: only with `--force`).
pub fn repaired(r: &tenantctl::repair::Repaired, json: bool) -> anyhow::Result<ExitCode> {
    use tenantctl::repair::Repaired;
    let exit = match r {
        Repaired::Converged { .. } => Exit::Ok,
        Repaired::Reverted { .. } => Exit::Failed,
    };
    if json {
        let mut v = serde_json::to_value(r)?;
        v["exit"] = json!(exit.code());
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code(exit));
    }
    match r {
        Repaired::Converged {
            tenant_id,
            from_version,
            to_version,
            ..
        } => outln!(
            "{tenant_id}: converged to template {to_version} (was {}) and isolation proven; no data was touched; the previous documents are on the record",
            from_version.as_deref().unwrap_or("not recorded")
        ),
        Repaired::Reverted {
            tenant_id,
            error,
            message,
            ..
        } => {
            outln!("{tenant_id}: the converged role failed its proof ({error}: {message})");
            outln!("{tenant_id}: reverted to its previous documents; its data was not touched");
            outln!(
                "next: fix the deployment's tenant template (`tenantctl rollout plan` shows what it would change), then `tenantctl repair {tenant_id}` again"
            );
        }
    }
    Ok(code(exit))
}

pub fn plan(plan: &tenantctl::plan::Plan, json: bool) -> anyhow::Result<ExitCode> {
    use tenant_domain::rollout::StatementChange;
    if json {
        print_json(plan)?;
        return Ok(code(Exit::Ok));
    }
    outln!(
        "template {}: {} ACTIVE tenant(s) behind, {} up to date",
        plan.current_version,
        plan.tenants.len(),
        plan.up_to_date
    );
    for t in &plan.tenants {
        outln!(
            "{} (recorded {})",
            t.tenant_id,
            t.recorded_version.as_deref().unwrap_or("no version")
        );
        for c in &t.changes {
            if let Some((from, to)) = &c.value {
                outln!("  {}: {from} -> {to}", c.document);
            }
            for st in &c.statements {
                match st {
                    StatementChange::Added { sid, statement } => outln!("  {}: + {sid} {statement}", c.document),
                    StatementChange::Removed { sid, statement } => {
                        outln!("  {}: - {sid} {statement}", c.document)
                    }
                    StatementChange::Changed { sid, from, to } => {
                        outln!("  {}: ~ {sid} {from} -> {to}", c.document)
                    }
                }
            }
        }
    }
    Ok(code(Exit::Ok))
}

pub fn reconciled(done: &tenantctl::reconcile::Reconciled, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(done)?;
    } else {
        outln!(
            "role mapping rebuilt from the table: {} tenants mapped",
            done.mapped_tenants
        );
        for d in &done.dropped {
            let role = if d.role_exists {
                "its role still exists"
            } else {
                "its role is gone"
            };
            outln!("  dropped the rule for {} ({}; {role})", d.group, d.role_arn);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per wave of a rollout: its tenants' results so far.
fn rollout_waves(r: &tenant_steps::rollout::Rollout) {
    use tenant_domain::rollout::TenantResult;
    for (i, wave) in r.waves.iter().enumerate() {
        let label = if i == 0 { " (canary)" } else { "" };
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for t in wave {
            let result = match r.results.get(t).map(|l| l.result) {
                Some(TenantResult::Converged) => "converged",
                Some(TenantResult::Reverted) => "reverted",
                Some(TenantResult::Skipped) => "skipped",
                Some(TenantResult::RevertFailed) => "revert failed",
                None => "not reached",
            };
            *counts.entry(result).or_default() += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        outln!(
            "  wave {}/{}{label}: {} tenant(s): {}",
            i + 1,
            r.waves.len(),
            wave.len(),
            counts.join(", ")
        );
        for t in wave {
            if let Some(line) = r.results.get(t).filter(|l| l.result != TenantResult::Converged) {
                outln!(
                    "    {t}: {:?}{}{}",
                    line.result,
                    line.error.as_deref().map(|e| format!(" {e}")).unwrap_or_default(),
                    line.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                );
            }
        }
    }
}

fn rollout_summary(report: &tenantctl::rollout::Report) -> Exit {
    let r = &report.rollout;
    outln!(
        "rollout {} to template {}: {} ({} of {} wave(s) done, {} failed proof(s), at most {} tolerated)",
        r.rollout_id,
        r.version,
        r.state.as_str(),
        r.waves_done.min(r.waves.len()),
        r.waves.len(),
        r.failures,
        r.max_failures
    );
    rollout_waves(r);
    if let Some(reason) = &r.reason {
        outln!("why: {reason}");
    }
    if !report.half_applied.is_empty() {
        outln!(
            "half applied (converged, neither proven nor reverted): {}",
            report.half_applied.join(", ")
        );
    }
    let unfinished = r.unfinished();
    match r.state {
        tenant_steps::rollout::RolloutState::Running => {
            outln!("next: `tenantctl rollout status` follows it; `tenantctl rollout abort` stops it")
        }
        tenant_steps::rollout::RolloutState::Completed => {
            outln!("next: `tenantctl audit` checks every tenant against the template")
        }
        _ if !unfinished.is_empty() => outln!(
            "next: {} tenant(s) are still on their previous template and were reverted or not reached; fix the template (`tenantctl rollout plan` shows what changes; `tenantctl local deploy --tenant-template` or a stack update) and `tenantctl rollout start`, or `tenantctl rollout resume` to try the same template again",
            unfinished.len()
        ),
        _ => {}
    }
    tenantctl::rollout::exit_of(r)
}

pub async fn rollout_started(
    ops: &Ops,
    started: &tenantctl::rollout::Started,
    wait: &crate::cli::RolloutWait,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use tenantctl::rollout::Started;
    let (rollout, reverted_first) = match started {
        Started::NothingBehind { version, up_to_date } => {
            if json {
                print_json(started)?;
            } else {
                outln!(
                    "template {version}: every ACTIVE tenant ({up_to_date}) is at this version; nothing to roll out"
                );
            }
            return Ok(code(Exit::Ok));
        }
        Started::Started {
            rollout,
            reverted_first,
            more_behind,
        } => {
            if *more_behind > 0 && !json {
                outln!(
                    "{more_behind} more tenant(s) are behind beyond --max-tenants: the next `tenantctl rollout start` takes them"
                );
            }
            (rollout, reverted_first)
        }
    };
    if !json {
        if !reverted_first.is_empty() {
            outln!(
                "put back the documents an earlier, stopped rollout left half applied: {}",
                reverted_first.join(", ")
            );
        }
        let sizes: Vec<String> = rollout.waves.iter().map(|w| w.len().to_string()).collect();
        outln!(
            "rollout {} started: template {}, {} tenant(s) in {} wave(s) of {} (canary first), {} at once, at most {} failed proof(s)",
            rollout.rollout_id,
            rollout.version,
            rollout.waves.iter().map(Vec::len).sum::<usize>(),
            rollout.waves.len(),
            sizes.join(", "),
            rollout.concurrency,
            rollout.max_failures
        );
    }
    if wait.no_wait {
        if json {
            print_json(started)?;
        } else {
            outln!("next: `tenantctl rollout status` follows it");
        }
        return Ok(code(Exit::Ok));
    }
    rollout_follow(ops, &rollout.rollout_id, wait.timeout, json).await
}

/// Follows rollout `id` to its end (a line per wave), then its summary and exit code.
pub async fn rollout_follow(ops: &Ops, id: &str, timeout: u64, json: bool) -> anyhow::Result<ExitCode> {
    let followed = tenantctl::rollout::follow(ops, id, Duration::from_secs(timeout), |r, done| {
        if !json {
            let wave = &r.waves[done - 1];
            let converged = wave
                .iter()
                .filter(|t| {
                    r.results
                        .get(*t)
                        .is_some_and(|l| l.result == tenant_domain::rollout::TenantResult::Converged)
                })
                .count();
            outln!(
                "wave {done}/{}: {converged} of {} converged and proven; {} failed proof(s) so far",
                r.waves.len(),
                wave.len(),
                r.failures
            );
        }
    })
    .await?;
    let Some(report) = followed else {
        if json {
            print_json(&json!({ "rollout_id": id, "state": "running", "exit": Exit::StillRunning.code() }))?;
        } else {
            outln!(
                "rollout {} is still running after {}s; it goes on without the CLI: `tenantctl rollout status`",
                id,
                timeout
            );
        }
        return Ok(code(Exit::StillRunning));
    };
    if json {
        let exit = tenantctl::rollout::exit_of(&report.rollout);
        let mut v = serde_json::to_value(&report)?;
        v["exit"] = json!(exit.code());
        print_json(&v)?;
        return Ok(code(exit));
    }
    Ok(code(rollout_summary(&report)))
}

pub fn rollout_status(report: Option<&tenantctl::rollout::Report>, json: bool) -> anyhow::Result<ExitCode> {
    let Some(report) = report else {
        if json {
            print_json(&json!({ "rollout": null }))?;
        } else {
            outln!("no rollout yet: `tenantctl rollout plan` shows the tenants behind the template");
        }
        return Ok(code(Exit::Ok));
    };
    if json {
        print_json(report)?;
        return Ok(code(Exit::Ok));
    }
    rollout_summary(report);
    // Status reports; it does not fail because the rollout did.
    Ok(code(Exit::Ok))
}

pub fn rollout_aborted(a: &tenantctl::rollout::Aborted, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(a)?;
        return Ok(code(Exit::Ok));
    }
    outln!(
        "rollout {}: {}",
        a.rollout_id,
        if a.stopped { "stopped" } else { "was not running" }
    );
    if a.reverted.is_empty() {
        outln!("no tenant was left half applied; tenants it proved keep the new template");
    } else {
        outln!(
            "put back the previous documents of {} (converged, not yet proven); tenants it proved keep the new template",
            a.reverted.join(", ")
        );
    }
    outln!("next: `tenantctl rollout status`; `tenantctl rollout resume` goes on with the same template");
    Ok(code(Exit::Ok))
}
