//! The operator commands end to end: the real `tenantctl` binary against a local stack
//! started by the test (on free ports), its `--json` output parsed and its exit codes
//! checked. The binary runs as an operator: under the role the local stack creates from
//! the template's `OperatorPolicy` (or `OperatorReadOnlyPolicy`), never the emulator's
//! admin key. Lives in this crate so the binary is `CARGO_BIN_EXE_tenantctl`.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tenant_localstack::LocalStack;
use tenant_localstack::lambda_endpoint::FaultMode;
use tenant_localstack::stack::Principal;
use tenant_steps::Step;
use tenantctl::Ops;
use tenantctl::onboard;

#[path = "../../../tests/e2e/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::tid;

struct Stack {
    stack: LocalStack,
    /// The emulator's admin, for setting the scene in process.
    ops: Ops,
    /// Settings with the full operator role's credentials.
    env_file: PathBuf,
    /// Settings with the read-only operator role's credentials.
    read_only_env_file: PathBuf,
}

/// Writes the stack's settings with `principal`'s credentials as an env file.
fn write_env_file(stack: &LocalStack, principal: Principal, name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tenantctl-operators-{name}-{}.env", std::process::id()));
    let lines = stack
        .env_lines_as(principal)
        .expect("the stack created the operator roles");
    let text: String = lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

async fn spawn(name: &str, iam_wait_seconds: u32) -> Stack {
    let helpers::TestStack { stack, ops } = helpers::spawn_with_iam_wait(iam_wait_seconds).await;
    let env_file = write_env_file(&stack, Principal::Operator, name);
    let read_only_env_file = write_env_file(&stack, Principal::OperatorReadOnly, &format!("{name}-read-only"));
    Stack {
        stack,
        ops,
        env_file,
        read_only_env_file,
    }
}

impl Stack {
    /// Runs the binary as the operator with this stack's settings (and nothing from the
    /// environment).
    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(&self.env_file, args).await
    }

    /// Runs the binary as the read-only operator.
    async fn run_read_only(&self, args: &[&str]) -> Output {
        self.run_with(&self.read_only_env_file, args).await
    }

    async fn run_with(&self, env_file: &PathBuf, args: &[&str]) -> Output {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
            .arg("--env-file")
            .arg(env_file)
            .args(args)
            .env_remove("TENANTCTL_ENV_FILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.code().is_some(),
            "tenantctl {args:?} was killed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    async fn start(&self, tenant: &str) -> String {
        onboard::start(&self.ops, &tid(tenant), Some(tenant), None)
            .await
            .unwrap()
            .execution_arn
    }

    async fn stop(self) {
        let _ = std::fs::remove_file(&self.env_file);
        let _ = std::fs::remove_file(&self.read_only_env_file);
        self.stack.stop().await;
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn step<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["type"] == "step" && l["step"] == name)
        .unwrap_or_else(|| panic!("no step line for {name}: {lines:#?}"))
}

/// `watch` follows a running onboarding from its history: each state with its duration,
/// a retried step with its retry and the error that caused it, and the outcome.
#[tokio::test(flavor = "multi_thread")]
async fn watch_follows_a_running_onboarding_and_counts_retries() {
    let t = spawn("watch", 1).await;
    t.stack.faults.set("umbrella", Step::CreateRole, FaultMode::FailOnce);
    t.start("umbrella").await;
    // Started while the execution runs (the IAM wait alone takes a second).
    let out = t.run(&["--json", "watch", "umbrella"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["type"], "watching");
    assert_eq!(lines[0]["execution"], "umbrella-1");
    let role = step(&lines, "CreateRole");
    assert_eq!(
        (role["invocations"].as_u64(), role["retries"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(role["failures"][0]["error"], "ServiceUnavailable");
    assert_eq!(role["outcome"], "SUCCEEDED");
    let wait = step(&lines, "WaitForIamPropagation");
    assert!(wait["duration"].as_f64().unwrap() >= 0.9, "{wait}");
    let failed_runs: Vec<_> = lines.iter().filter(|l| l["type"] == "task_failed").collect();
    assert_eq!(failed_runs.len(), 1);
    let result = lines.last().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(result["record_status"], "ACTIVE");
    assert_eq!(result["retries"], 1);
    assert!(result["failed_step"].is_null() && result["next"].is_null(), "{result}");
    // The order of steps is the state machine's.
    let order: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "step" && l["state_type"] == "Task")
        .map(|l| l["step"].as_str().unwrap())
        .collect();
    assert_eq!(order.first(), Some(&"RecordProvisioning"));
    assert_eq!(order.last(), Some(&"RecordActive"));

    // Text for a pipe: no spinner control characters, one finished line per state.
    let text = t.run(&["watch", "umbrella"]).await;
    assert_eq!(code(&text), 0);
    let text = stdout(&text);
    assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text}");
    assert!(
        text.contains("✓ CreateRole") && text.contains("1 retry after ServiceUnavailable"),
        "{text}"
    );
    assert!(
        text.contains("umbrella: ACTIVE — execution umbrella-1 SUCCEEDED"),
        "{text}"
    );

    // Stopped during the IAM wait: the record is left PROVISIONING; watch and status say
    // it is stuck and that offboarding takes it over.
    let arn = t.start("stuckco").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tl = tenantctl::history::timeline(&t.ops, &arn).await.unwrap();
        if tl.steps.iter().any(|s| s.name == "WaitForIamPropagation") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never reached the wait: {tl:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.ops
        .ctx
        .clients
        .sfn
        .stop_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    let out = t.run(&["--json", "watch", "stuckco"]).await;
    assert_eq!(code(&out), 1);
    let result = json_lines(&out).pop().unwrap();
    assert_eq!(result["status"], "ABORTED");
    assert_eq!(result["record_status"], "PROVISIONING");
    assert!(result["error"].is_null(), "{result}");
    assert!(
        result["next"]
            .as_str()
            .unwrap()
            .contains("`tenantctl offboard stuckco`"),
        "{result}"
    );
    let out = t.run(&["--json", "status", "stuckco"]).await;
    assert_eq!(code(&out), 1, "a stuck tenant needs an operator");
    let st = json(&out);
    assert_eq!(st["stuck"], true);
    assert_eq!(st["execution"]["status"], "ABORTED");
    assert!(st["record"]["attempts"][0]["outcome"].is_null(), "{st}");
    t.stop().await;
}

/// A failed onboarding seen through `watch` and `status`: the failed step, the error, the
/// cause and the command to run; then the retry's attempt next to the failed one.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_onboarding_through_watch_and_status_then_retry() {
    let t = spawn("failed", 0).await;
    t.stack
        .faults
        .set("vandelay", Step::CreateSecret, FaultMode::FailAlways);
    let arn = t.start("vandelay").await;
    let out = t.run(&["--json", "watch", "vandelay"]).await;
    assert_eq!(code(&out), 1, "a failed onboarding exits 1");
    let lines = json_lines(&out);
    let secret = step(&lines, "CreateSecret");
    assert_eq!(secret["outcome"], "FAILED");
    assert_eq!(secret["failures"][0]["error"], "FaultInjected");
    // Compensation ran, in reverse order of creation.
    let teardown: Vec<_> = ["DeleteRole", "DeleteSecret", "DeletePrefix", "DeleteGroup"]
        .iter()
        .map(|s| step(&lines, s)["offset"].as_f64().unwrap())
        .collect();
    assert!(teardown.windows(2).all(|w| w[0] <= w[1]), "{teardown:?}");
    let result = lines.last().unwrap();
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["record_status"], "FAILED");
    assert_eq!(result["failed_step"], "CreateSecret");
    assert_eq!(result["error"], "FaultInjected");
    assert!(
        result["message"].as_str().unwrap().contains("create-secret"),
        "{result}"
    );
    assert!(
        result["next"].as_str().unwrap().contains("`tenantctl retry vandelay`"),
        "{result}"
    );
    assert_eq!(result["exit"], 1);

    let text = stdout(&t.run(&["watch", "vandelay"]).await);
    assert!(text.contains("✗ CreateSecret"), "{text}");
    assert!(text.contains("failed step  CreateSecret"), "{text}");
    assert!(text.contains("error        FaultInjected"), "{text}");
    assert!(
        text.contains("next         fix the cause above, then `tenantctl retry vandelay`"),
        "{text}"
    );

    let out = t.run(&["--json", "status", "vandelay"]).await;
    assert_eq!(code(&out), 1, "a FAILED tenant needs an operator");
    let st = json(&out);
    assert_eq!(st["record"]["status"], "FAILED");
    let attempts = st["record"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["outcome"], "FAILED");
    assert_eq!(attempts[0]["failed_step"], "CreateSecret");
    assert_eq!(attempts[0]["error_name"], "FaultInjected");
    assert!(attempts[0]["started_at"].as_u64().unwrap() <= attempts[0]["ended_at"].as_u64().unwrap());
    assert_eq!(st["execution"]["arn"], arn.as_str());
    assert_eq!(st["execution"]["status"], "FAILED");
    assert!(
        st["execution"]["console_url"].is_null(),
        "no console link on the local stack"
    );
    let steps = st["execution"]["timeline"]["steps"].as_array().unwrap();
    let failed: Vec<_> = steps
        .iter()
        .filter(|s| s["outcome"] == "FAILED")
        .map(|s| &s["name"])
        .collect();
    assert_eq!(failed, ["CreateSecret", "OnboardingFailed"]);
    // Each resource is an observation: state found, absent (with what was seen) or unavailable.
    assert_eq!(st["resources"]["group"]["state"], "absent");
    assert_eq!(st["names"]["prefix"], "tenants/vandelay/");
    assert!(st["next"].as_str().unwrap().contains("tenantctl retry vandelay"));

    // Fixed: the retry is attempt 2, and status shows both attempts.
    t.stack.faults.clear();
    let retry = onboard::retry(&t.ops, &tid("vandelay")).await.unwrap();
    onboard::wait(&t.ops, &retry.execution_arn, Duration::from_secs(60))
        .await
        .unwrap();
    let out = t.run(&["--json", "status", "vandelay"]).await;
    assert_eq!(code(&out), 0);
    let st = json(&out);
    let outcomes: Vec<_> = st["record"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(outcomes, [(1, "FAILED".to_string()), (2, "ACTIVE".to_string())]);
    assert_eq!(st["execution"]["name"], "vandelay-2");
    assert!(st["next"].is_null());
    let text = stdout(&t.run(&["status", "vandelay"]).await);
    assert!(text.starts_with("vandelay: ACTIVE"), "{text}");
    assert!(text.contains("#1") && text.contains("#2"), "{text}");
    assert!(text.contains("s3://") && text.contains("arn:aws:iam::"), "{text}");

    // A failed rollback: watch names what is left and how to remove it.
    t.stack
        .faults
        .set("kramerica", Step::RecordActive, FaultMode::FailAlways);
    t.stack.faults.set("kramerica", Step::DeleteRole, FaultMode::FailAlways);
    t.start("kramerica").await;
    let out = t.run(&["--json", "watch", "kramerica"]).await;
    assert_eq!(code(&out), 1);
    let result = json_lines(&out).pop().unwrap();
    assert_eq!(result["record_status"], "ROLLBACK_FAILED");
    assert_eq!(result["failed_step"], "RecordActive");
    assert!(
        result["rollback_error"].as_str().unwrap().starts_with("RollbackFailed"),
        "{result}"
    );
    assert_eq!(result["remaining"], serde_json::json!(["role", "role policy"]));
    assert!(
        result["next"]
            .as_str()
            .unwrap()
            .contains("`tenantctl offboard kramerica`"),
        "{result}"
    );
    let st = json(&t.run(&["--json", "status", "kramerica"]).await);
    assert_eq!(st["record"]["attempts"][0]["outcome"], "ROLLBACK_FAILED");
    assert_eq!(st["record"]["attempts"][0]["failed_step"], "RecordActive");
    t.stop().await;
}

/// `list` filters, sorts, pages and counts; every command's exit code on the common
/// errors; errors as JSON with --json.
#[tokio::test(flavor = "multi_thread")]
async fn list_filters_pages_and_counts_and_exit_codes_hold() {
    let t = spawn("list", 0).await;
    t.stack.faults.set("soylent", Step::CreateGroup, FaultMode::FailAlways);
    for tenant in ["acme", "globex", "soylent", "wayne"] {
        let arn = t.start(tenant).await;
        onboard::wait(&t.ops, &arn, Duration::from_secs(60)).await.unwrap();
    }
    let ids = |v: &Value| -> Vec<String> {
        v["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["tenant_id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = json(&t.run(&["--json", "list", "--sort", "id"]).await);
    assert_eq!(ids(&all), ["acme", "globex", "soylent", "wayne"]);
    assert_eq!(all["counts"], serde_json::json!({ "ACTIVE": 3, "FAILED": 1 }));
    let failed = json(&t.run(&["--json", "list", "--status", "failed"]).await);
    assert_eq!(ids(&failed), ["soylent"]);
    assert_eq!(failed["tenants"][0]["failed_step"], "CreateGroup");
    let both = json(
        &t.run(&["--json", "list", "--status", "FAILED", "--status", "active"])
            .await,
    );
    assert_eq!(both["matching"], 4);
    let old = json(&t.run(&["--json", "list", "--older-than", "1h"]).await);
    assert_eq!(old["matching"], 0);
    let recent = json(&t.run(&["--json", "list", "--newer-than", "10m"]).await);
    assert_eq!(recent["matching"], 4);
    // Pages of 3 by id: the token continues where the first page stopped.
    let first = json(&t.run(&["--json", "list", "--sort", "id", "--limit", "3"]).await);
    assert_eq!(ids(&first), ["acme", "globex", "soylent"]);
    let token = first["next_page_token"].as_str().unwrap().to_string();
    let second = json(
        &t.run(&["--json", "list", "--sort", "id", "--limit", "3", "--page-token", &token])
            .await,
    );
    assert_eq!(ids(&second), ["wayne"]);
    assert!(second["next_page_token"].is_null());
    let text = stdout(&t.run(&["list", "--status", "failed"]).await);
    assert!(
        text.contains("soylent") && text.contains("CreateGroup: FaultInjected"),
        "{text}"
    );
    assert!(text.contains("all tenants: ACTIVE 3, FAILED 1"), "{text}");

    // Exit codes: 0 ok, 2 usage, 3 not found, 5 refused; errors say what and what next.
    assert_eq!(code(&t.run(&["status", "acme"]).await), 0);
    assert_eq!(code(&t.run(&["status", "Not_Valid"]).await), 2);
    assert_eq!(code(&t.run(&["list", "--status", "happy"]).await), 2);
    assert_eq!(code(&t.run(&["list", "--page-token", "x"]).await), 2);
    let missing = t.run(&["--json", "status", "nobody"]).await;
    assert_eq!(code(&missing), 3);
    let err = json(&missing);
    assert_eq!(err["error"]["kind"], "not_found");
    assert_eq!(err["error"]["tenant"], "nobody");
    assert!(
        err["error"]["next"]
            .as_str()
            .unwrap()
            .contains("tenantctl onboard nobody")
    );
    assert_eq!(code(&t.run(&["watch", "nobody"]).await), 3);
    let refused = t.run(&["retry", "acme"]).await;
    assert_eq!(code(&refused), 5);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("tenant acme is ACTIVE") && stderr.contains("next:"),
        "{stderr}"
    );
    assert_eq!(code(&t.run(&["onboard", "acme"]).await), 5);

    // 4: the stack is gone, so AWS cannot be reached.
    let env_file = t.env_file.clone();
    let _ = std::fs::remove_file(&t.read_only_env_file);
    t.stack.stop().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .arg("--env-file")
        .arg(&env_file)
        .args(["list"])
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&env_file);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The operator role runs every command that changes something (onboard, check-isolation,
/// reconcile, offboard); the read-only role runs `status`, `list` and `audit` and is
/// refused `offboard` by IAM, with the action named, leaving the tenant as it was.
#[tokio::test(flavor = "multi_thread")]
async fn operator_roles_allow_their_commands_and_the_read_only_one_is_refused_changes() {
    let t = spawn("roles", 0).await;
    for tenant in ["initech", "hooli"] {
        let out = t.run(&["onboard", tenant, "--name", tenant]).await;
        assert_eq!(
            code(&out),
            0,
            "{}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = t.run(&["--json", "check-isolation", "initech", "hooli"]).await;
    assert_eq!(
        code(&out),
        0,
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(json(&out).as_array().is_some_and(|c| !c.is_empty()));
    let out = t.run(&["--json", "reconcile"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["mapped_tenants"], 2);

    // Read-only: the reads work.
    let out = t.run_read_only(&["--json", "status", "initech"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["record"]["status"], "ACTIVE");
    let out = t.run_read_only(&["--json", "list"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["matching"], 2);
    let out = t.run_read_only(&["audit"]).await;
    assert_eq!(
        code(&out),
        0,
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).starts_with("clean:"), "{}", stdout(&out));
    // ... and offboarding is refused by IAM, naming the action it lacks.
    let out = t.run_read_only(&["--json", "offboard", "initech"]).await;
    assert_eq!(code(&out), 4, "{}", stdout(&out));
    let err = json(&out);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("AccessDenied") && message.contains("not authorized to perform: states:StartExecution"),
        "{message}"
    );
    assert!(message.contains("OperatorReadOnlyPolicyRole"), "{message}");
    let st = json(&t.run_read_only(&["--json", "status", "initech"]).await);
    assert_eq!(st["record"]["status"], "ACTIVE", "nothing changed: {st}");
    assert_eq!(st["resources"]["group"]["state"], "found");
    assert!(
        st["warnings"].as_array().unwrap().is_empty(),
        "the read-only operator reads every resource: {st}"
    );

    // The full operator offboards.
    let out = t.run(&["offboard", "initech"]).await;
    assert_eq!(
        code(&out),
        0,
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let st = json(&t.run_read_only(&["--json", "status", "initech"]).await);
    assert_eq!(st["record"]["status"], "OFFBOARDED", "{st}");
    t.stop().await;
}
