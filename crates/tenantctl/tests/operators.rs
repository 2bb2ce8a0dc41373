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
    spawn_with(
        name,
        tenant_localstack::Options {
            iam_wait_seconds,
            ..Default::default()
        },
    )
    .await
}

async fn spawn_with(name: &str, options: tenant_localstack::Options) -> Stack {
    let helpers::TestStack { stack, ops } = helpers::spawn_stack(options).await;
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
            .contains("`tenantctl offboard stuckco --keep-prefix`"),
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
            .contains("`tenantctl offboard kramerica --keep-prefix`"),
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
        let out = t.run(&["onboard", tenant, "--company-name", tenant]).await;
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
    let out = t
        .run_read_only(&["--json", "offboard", "initech", "--keep-prefix"])
        .await;
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

    // Without --keep-prefix or --delete-data offboarding is refused before anything
    // changes (exit 2), naming both: customer data is deleted only when asked.
    let out = t.run(&["offboard", "initech"]).await;
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let said = String::from_utf8_lossy(&out.stderr).to_string() + &stdout(&out);
    assert!(
        said.contains("tenants/initech/") && said.contains("--keep-prefix") && said.contains("--delete-data"),
        "{said}"
    );
    let st = json(&t.run_read_only(&["--json", "status", "initech"]).await);
    assert_eq!(st["record"]["status"], "ACTIVE", "nothing changed: {st}");

    // The full operator offboards, deleting the data as asked.
    let out = t.run(&["offboard", "initech", "--delete-data"]).await;
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

/// `reconcile` after the tenants table was lost refuses to drop the rule of a tenant whose
/// role still exists, names it and changes nothing (exit 5); `--force` drops it.
#[tokio::test(flavor = "multi_thread")]
async fn reconcile_after_the_table_was_lost_refuses_to_drop_live_tenants_rules() {
    let t = spawn("reconcile-lost", 0).await;
    let out = t.run(&["onboard", "initech", "--company-name", "Initech"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let rules = || tenant_steps::mapping::current_rules(&t.ops.ctx);
    let before = rules().await.unwrap();
    assert_eq!(before.len(), 1, "{before:?}");
    // The table is lost (restored empty): the record goes, the tenant's resources stay.
    t.ops
        .ctx
        .clients
        .ddb
        .delete_item()
        .table_name(&t.ops.ctx.settings.table)
        .key(
            tenant_steps::record::attr::TENANT_ID,
            aws_sdk_dynamodb::types::AttributeValue::S("initech".into()),
        )
        .send()
        .await
        .unwrap();

    let out = t.run(&["--json", "reconcile"]).await;
    assert_eq!(code(&out), 5, "{}", stdout(&out));
    let err = json(&out);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tenant:initech:members") && message.contains("role/tenants/tenant-initech"),
        "{message}"
    );
    assert!(message.contains("Nothing was changed"), "{message}");
    assert!(
        err["error"]["next"].as_str().unwrap().contains("reconcile --force"),
        "{err}"
    );
    assert_eq!(rules().await.unwrap(), before, "the refused reconcile wrote nothing");

    let out = t.run(&["--json", "reconcile", "--force"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let done = json(&out);
    assert_eq!(done["mapped_tenants"], 0, "{done}");
    assert_eq!(done["dropped"][0]["group"], "tenant:initech:members", "{done}");
    assert_eq!(done["dropped"][0]["role_exists"], true, "{done}");
    assert!(rules().await.unwrap().is_empty());
    t.stop().await;
}

/// A reader that goes away early (`tenantctl local env | head -1`) ends the output, not the
/// process with a panic on the broken pipe: the command exits with its own code.
#[test]
fn a_reader_closing_stdout_early_is_not_a_panic() {
    use std::io::Read as _;
    let dir = std::env::temp_dir().join(format!("tenantctl-closed-stdout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Far more than a pipe's buffer, so the writes outlive the reader.
    let lines: String = (0..20_000).map(|i| format!("TENANT_VAR_{i}=value-{i}\n")).collect();
    std::fs::write(dir.join("local.env"), lines).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .arg("--state-dir")
        .arg(&dir)
        .args(["local", "env"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 7];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(&first, b"export ");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// A signup whose StartExecution failed (injected: a state machine that does not exist)
/// leaves a PENDING record whose execution never ran. `status` shows it STUCK (exit 1) with
/// the way out; `retry` refuses while the signup may still be starting it and, once that
/// grace has passed (the record is aged here), starts it: the tenant reaches ACTIVE with
/// the signup's company name and admin email.
#[tokio::test(flavor = "multi_thread")]
async fn a_signup_whose_start_failed_is_shown_stuck_and_retry_recovers_it() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use tenant_steps::record::attr;
    let t = spawn("pending-orphan", 0).await;
    let signup = tenant_domain::signup::Signup {
        tenant_id: tid("globex"),
        company_name: "Globex".into(),
        admin_email: "hank@globex.example".into(),
    };
    let missing = t.ops.onboarding_arn.replace(":stateMachine:", ":stateMachine:missing-");
    let err = tenant_steps::signup::submit(&t.ops.ctx, &missing, &signup, tenant_steps::signup::Source::Form)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&missing),
        "the error names the state machine: {err}"
    );

    let out = t.run(&["--json", "status", "globex"]).await;
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let st = json(&out);
    assert_eq!(st["record"]["status"], "PENDING", "{st}");
    assert_eq!(st["stuck"], true, "{st}");
    assert!(st["next"].as_str().unwrap().contains("tenantctl retry globex"), "{st}");
    let out = t.run(&["--json", "audit"]).await;
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let findings = json(&out);
    let stuck: Vec<_> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "stuck")
        .collect();
    assert_eq!(stuck.len(), 1, "{findings}");
    assert_eq!(stuck[0]["tenant"], "globex", "{findings}");
    assert!(stuck[0]["detail"].as_str().unwrap().contains("PENDING"), "{findings}");
    let listed = json(&t.run(&["--json", "list"]).await);
    assert_eq!(listed["stuck"], serde_json::json!(["globex"]), "{listed}");

    let out = t.run(&["--json", "retry", "globex", "--no-wait"]).await;
    assert_eq!(code(&out), 5, "{}", stdout(&out));
    let message = json(&out)["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("has not started yet"), "{message}");

    t.ops
        .ctx
        .clients
        .ddb
        .update_item()
        .table_name(&t.ops.ctx.settings.table)
        .key(attr::TENANT_ID, AttributeValue::S("globex".into()))
        .update_expression("SET #u = :old")
        .expression_attribute_names("#u", attr::UPDATED_AT)
        .expression_attribute_values(
            ":old",
            AttributeValue::N((tenant_steps::record::now() - 3600).to_string()),
        )
        .send()
        .await
        .unwrap();
    let out = t.run(&["retry", "globex"]).await;
    assert_eq!(
        code(&out),
        0,
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let st = json(&t.run(&["--json", "status", "globex"]).await);
    assert_eq!(st["record"]["status"], "ACTIVE", "{st}");
    assert_eq!(st["record"]["company_name"], "Globex", "{st}");
    assert_eq!(st["record"]["admin_email"], "hank@globex.example", "{st}");
    t.stop().await;
}

/// An execution started with the previous version's input (`name`/`email`, as an old
/// `tenantctl` or signup function sends during an upgrade) ends at `Init`, before its first
/// step: nothing is created and the record stays PENDING. `status` says so and names
/// `retry`, which starts the next attempt from the record: ACTIVE, with the record's
/// company name and admin email.
#[tokio::test(flavor = "multi_thread")]
async fn an_execution_that_ended_before_claiming_its_tenant_is_retried_from_the_record() {
    let t = spawn("unclaimed", 0).await;
    let tenant = tid("initech");
    let claimed = tenant_steps::record::claim(
        &t.ops.ctx,
        &tenant_steps::record::Claim {
            tenant: &tenant,
            company_name: Some("Initech"),
            admin_email: Some("bill@initech.example"),
            execution: "initech-1",
            attempt: 1,
            source: "cli",
        },
    )
    .await
    .unwrap();
    assert!(claimed);
    let old_input = serde_json::json!({
        "tenant_id": "initech", "name": "Initech", "email": "bill@initech.example", "attempt": 1
    });
    let started = t
        .ops
        .ctx
        .clients
        .sfn
        .start_execution()
        .state_machine_arn(&t.ops.onboarding_arn)
        .name("initech-1")
        .input(old_input.to_string())
        .send()
        .await
        .unwrap();
    let ended = onboard::wait(&t.ops, started.execution_arn(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(ended.status, "FAILED", "{ended:?}");

    let out = t.run(&["--json", "status", "initech"]).await;
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let st = json(&out);
    assert_eq!(st["record"]["status"], "PENDING", "{st}");
    assert_eq!(st["stuck"], true, "{st}");
    let next = st["next"].as_str().unwrap();
    assert!(
        next.contains("nothing was created") && next.contains("`tenantctl retry initech`"),
        "{st}"
    );
    let res = tenantctl::status::inspect(&t.ops, &tenant).await.unwrap();
    assert!(res.present().is_empty(), "{:?}", res.present());

    let out = t.run(&["retry", "initech"]).await;
    assert_eq!(
        code(&out),
        0,
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let st = json(&t.run(&["--json", "status", "initech"]).await);
    assert_eq!(st["record"]["status"], "ACTIVE", "{st}");
    assert_eq!(st["record"]["attempt"], 2, "{st}");
    assert_eq!(st["record"]["company_name"], "Initech", "{st}");
    assert_eq!(st["record"]["admin_email"], "bill@initech.example", "{st}");
    t.stop().await;
}

/// One ownership rule for every entry point: 50 rounds of a POST /signup to the page, a
/// `TenantSignupRequested` event (its handler) and `tenantctl onboard` for the same id at
/// random offsets. Each round has exactly one winner; the record carries the winner's whole
/// request (company name, admin email, source) and nothing of a loser's; every loser is told (the page:
/// 409 naming the field, no other customer's data; the event: `Taken` naming the winner,
/// which it logs; the CLI, the real binary as the operator: exit 5 naming the winner's
/// request).
#[tokio::test(flavor = "multi_thread")]
async fn signup_event_and_cli_racing_for_one_id_have_one_winner_and_nothing_mixed() {
    use tenant_steps::signup::{SignupOutcome, Source, submit};
    let t = spawn("claim-race", 0).await;
    // A small LCG: random offsets without a dependency; the seed is printed for a rerun.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("offset seed {seed}");
    let mut offset = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Duration::from_micros((seed >> 33) % 60_000)
    };
    // The binary needs a process start and its clients before it claims: the other two
    // wait about as long (a read-only command's wall time), so each can win.
    let mut starts = vec![];
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        t.run(&["status", "race-probe"]).await;
        starts.push(t0.elapsed());
    }
    starts.sort();
    let head_start = starts[1];
    println!("the CLI's head start {head_start:?}");
    let mut tally = std::collections::BTreeMap::new();
    for round in 0..50 {
        let id = format!("race-{round}");
        let tenant = tid(&id);
        let signup = |who: &str| tenant_domain::signup::Signup {
            tenant_id: tenant.clone(),
            company_name: format!("{who} {round}"),
            admin_email: format!("{who}-{round}@example.com"),
        };
        let event = signup("event");
        let form = serde_json::json!({
            "tenant_id": id,
            "company_name": format!("form {round}"),
            "admin_email": format!("form-{round}@example.com"),
        });
        let (d_form, d_event, d_cli) = (offset(), offset(), offset());
        let arn = t.ops.onboarding_arn.clone();
        let (by_form, by_event, by_cli) = tokio::join!(
            async {
                tokio::time::sleep(head_start + d_form).await;
                post_signup(t.stack.signup_port, &form).await
            },
            async {
                tokio::time::sleep(head_start + d_event).await;
                submit(&t.ops.ctx, &arn, &event, Source::Event).await
            },
            async {
                tokio::time::sleep(d_cli).await;
                // The binary, as the operator, as a person would race the page.
                t.run(&[
                    "onboard",
                    &id,
                    "--company-name",
                    &format!("cli {round}"),
                    "--admin-email",
                    &format!("cli-{round}@example.com"),
                    "--no-wait",
                ])
                .await
            },
        );
        let mut told_signups = vec![];
        let mut won = |r: &Result<SignupOutcome, tenant_steps::StepError>| match r {
            Ok(SignupOutcome::Accepted { repeated, .. }) => {
                assert!(!repeated, "round {round}: a different request is never a repeat");
                true
            }
            Ok(SignupOutcome::Taken { held_by, .. }) => {
                told_signups.push(held_by.clone());
                false
            }
            Err(e) => panic!("round {round}: signup failed: {e}"),
        };
        let cli_won = match code(&by_cli) {
            0 => true,
            5 => false,
            other => panic!(
                "round {round}: tenantctl onboard exited {other}: {}",
                String::from_utf8_lossy(&by_cli.stderr)
            ),
        };
        // The page: 202 accepted, or 409 naming the field (and no other customer's data).
        let form_won = match by_form.0 {
            202 => true,
            409 => {
                assert!(
                    by_form.1.contains("tenant_id") && !by_form.1.contains("@example.com"),
                    "round {round}: {}",
                    by_form.1
                );
                false
            }
            other => panic!("round {round}: POST /signup answered {other}: {}", by_form.1),
        };
        let winners: Vec<_> = [(form_won, "form"), (won(&by_event), "event"), (cli_won, "cli")]
            .into_iter()
            .filter(|(w, _)| *w)
            .map(|(_, who)| who)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: winners {winners:?}; form {by_form:?}; event {by_event:?}; cli {}: {}",
            code(&by_cli),
            String::from_utf8_lossy(&by_cli.stderr)
        );
        let winner = winners[0];
        *tally.entry(winner).or_insert(0) += 1;
        let item = t
            .ops
            .ctx
            .clients
            .ddb
            .get_item()
            .table_name(&t.ops.ctx.settings.table)
            .key(
                tenant_steps::record::attr::TENANT_ID,
                aws_sdk_dynamodb::types::AttributeValue::S(id.clone()),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let item = item.item().unwrap();
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        use tenant_steps::record::attr;
        assert_eq!(
            s(attr::COMPANY_NAME),
            format!("{winner} {round}"),
            "round {round}: {item:?}"
        );
        assert_eq!(
            s(attr::ADMIN_EMAIL),
            format!("{winner}-{round}@example.com"),
            "round {round}: {item:?}"
        );
        let source = match winner {
            "form" => "signup-form",
            "event" => "signup-event",
            _ => onboard::SOURCE,
        };
        assert_eq!(s(attr::SOURCE), source, "round {round}: {item:?}");
        // A losing signup or event is told the winner (the event logs it).
        for held_by in &told_signups {
            assert!(
                held_by.contains(&format!("company name {winner} {round}")),
                "round {round}: {held_by}"
            );
        }
        if !cli_won {
            let told = String::from_utf8_lossy(&by_cli.stderr);
            assert!(
                told.contains(&format!("{winner} {round}")),
                "round {round}: the CLI is told who won: {told}"
            );
        }
    }
    println!("winners by entry point: {tally:?}");
    t.stop().await;
}

/// POST /signup as a browser's script sends it (JSON); the status and the body.
async fn post_signup(port: u16, body: &Value) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "POST /signup HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    (status, response)
}

/// `check-isolation --user`: an existing user signed in with its own password. In one
/// tenant's group it reaches that tenant's data and no other's (exit 0); put out of band in
/// a second tenant's group it reaches neither (no tenant claim, so no rule matches); a
/// policy widened out of band is a breach (exit 1, the check named); a user of no tenant
/// reaches nothing.
#[tokio::test(flavor = "multi_thread")]
async fn check_isolation_of_an_arbitrary_user() {
    let t = spawn("isolation-user", 0).await;
    for tenant in ["acme", "globex"] {
        let arn = t.start(tenant).await;
        let done = onboard::wait(&t.ops, &arn, Duration::from_secs(120)).await.unwrap();
        assert_eq!(done.status, "SUCCEEDED", "{tenant}: {done:?}");
    }
    let idp = &t.ops.ctx.clients.idp;
    let pool = &t.ops.ctx.settings.user_pool_id;
    let password = "Correct-horse-battery-9";
    for email in ["alice@acme.example", "nobody@example.com"] {
        idp.admin_create_user()
            .user_pool_id(pool)
            .username(email)
            .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
            .user_attributes(
                aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
                    .name("email")
                    .value(email)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        idp.admin_set_user_password()
            .user_pool_id(pool)
            .username(email)
            .password(password)
            .permanent(true)
            .send()
            .await
            .unwrap();
    }
    let add = |group: &'static str| {
        idp.admin_add_user_to_group()
            .user_pool_id(pool)
            .username("alice@acme.example")
            .group_name(group)
            .send()
    };
    add("tenant:acme:members").await.unwrap();
    let check = |user: &'static str, pass: &'static str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
            .arg("--env-file")
            .arg(&t.env_file)
            .args(["--json", "check-isolation", "--user", user])
            .env("TENANTCTL_USER_PASSWORD", pass)
            .env_remove("TENANTCTL_ENV_FILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
    };
    let summary = |out: &Output| -> Vec<(String, String, String)> {
        let checks: Vec<Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(out), String::from_utf8_lossy(&out.stderr)));
        checks
            .iter()
            .map(|c| {
                (
                    c["target"].as_str().unwrap().to_string(),
                    c["expected"].as_str().unwrap().to_string(),
                    c["actual"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    // One tenant: its own data allowed, the other's denied, every ACTIVE tenant tried.
    let out = check("alice@acme.example", password).await.unwrap();
    assert_eq!(
        code(&out),
        0,
        "{} {}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let checks = summary(&out);
    assert!(checks.iter().any(|c| c.0 == "globex"), "{checks:?}");
    for (target, expected, actual) in &checks {
        let want = if target == "acme" { "Allowed" } else { "Denied" };
        assert_eq!(
            (expected.as_str(), actual.as_str()),
            (want, want),
            "{target}: {checks:?}"
        );
    }

    // Two tenants: nothing of either may be reached. The user's tokens carry no tenant_id
    // claim (the pre-token trigger gives none to a member of two tenants), so no Rules
    // rule matches and the identity pool refuses credentials.
    add("tenant:globex:members").await.unwrap();
    let out = check("alice@acme.example", password).await.unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let raw: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        raw.iter()
            .any(|c| c["action"] == "cognito-identity:GetCredentialsForIdentity"),
        "{}",
        stdout(&out)
    );
    let checks = summary(&out);
    assert!(checks.iter().all(|c| c.1 == "Denied" && c.2 == "Denied"), "{checks:?}");

    // A breach is reported: with acme's policy widened out of band to every tenant's
    // objects, the same one-tenant user reaches globex's marker (exit 1, that check named).
    idp.admin_remove_user_from_group()
        .user_pool_id(pool)
        .username("alice@acme.example")
        .group_name("tenant:globex:members")
        .send()
        .await
        .unwrap();
    let widened = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{}/tenants/*", t.ops.ctx.settings.bucket)}]
    });
    t.ops
        .ctx
        .clients
        .iam
        .put_role_policy()
        .role_name("tenant-acme")
        .policy_name("tenant-access")
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    let out = check("alice@acme.example", password).await.unwrap();
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let checks = summary(&out);
    assert!(
        checks
            .iter()
            .any(|c| c.0 == "globex" && c.1 == "Denied" && c.2 == "Allowed"),
        "{checks:?}"
    );

    // No tenant: reaches nothing (refused credentials, or a role that is no tenant's).
    let out = check("nobody@example.com", password).await.unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        summary(&out).iter().all(|c| c.1 == "Denied" && c.2 == "Denied"),
        "{}",
        stdout(&out)
    );

    // A wrong password is not a check result: the sign-in fails and says so.
    let out = check("nobody@example.com", "Wrong-password-1").await.unwrap();
    // With --json the error is a JSON object on stdout.
    let error = json(&out);
    assert_eq!(error["error"]["exit"].as_i64(), Some(i64::from(code(&out))), "{error}");
    assert_ne!(code(&out), 0);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("signing nobody@example.com in") && message.contains("NotAuthorized"),
        "{error}"
    );
    t.stop().await;
}

/// Three of the errors that hid their cause, through the binary: `offboard` right after
/// `onboard --no-wait` names the running onboarding (not "no record") and changes nothing;
/// the loser of two concurrent `offboard`s is refused (exit 5) and is not told to `retry`
/// (that would re-onboard the tenant being removed); `status` of an ACTIVE tenant whose
/// secret is scheduled for deletion shows it as such and warns (exit 1).
#[tokio::test(flavor = "multi_thread")]
async fn offboard_races_and_a_scheduled_secret_say_what_is_happening() {
    // The IAM wait holds the onboarding while a second process starts; under a loaded
    // machine (CI, other tests in parallel) one second was sometimes not enough.
    let t = spawn("offboard-races", 4).await;
    let error_of = |out: &Output| -> (i32, String) {
        let v = json(out);
        (
            code(out),
            v["error"]["message"].as_str().unwrap_or_default().to_string(),
        )
    };

    // 1. Offboard while the onboarding just started (the IAM wait holds it).
    let out = t.run(&["--json", "onboard", "oscorp", "--no-wait"]).await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let out = t
        .run(&["--json", "offboard", "oscorp", "--keep-prefix", "--no-wait"])
        .await;
    let (exit, message) = error_of(&out);
    assert_eq!(exit, 5, "{}", stdout(&out));
    assert!(!message.contains("no record"), "{message}");
    assert!(message.contains("oscorp-1"), "names the running execution: {message}");
    let out = t.run(&["--json", "watch", "oscorp"]).await;
    assert_eq!(code(&out), 0, "the onboarding went on: {}", stdout(&out));

    // 2. Two offboards at once, followed to the end: one execution, which the second joins;
    // both end OFFBOARDED, neither told to retry.
    let (a, b) = tokio::join!(
        t.run(&["--json", "offboard", "oscorp", "--keep-prefix"]),
        t.run(&["--json", "offboard", "oscorp", "--keep-prefix"]),
    );
    for out in [&a, &b] {
        assert_eq!(code(out), 0, "{} / {}", stdout(&a), stdout(&b));
        assert!(!stdout(out).contains("tenantctl retry"), "{}", stdout(out));
    }
    let (a, b) = (json(&a), json(&b));
    assert_eq!(
        a["execution"]["execution_arn"], b["execution"]["execution_arn"],
        "{a} / {b}"
    );
    assert_eq!(a["tenant"]["record"]["status"], "OFFBOARDED", "{a}");
    // A third, after it ended, is told the tenant is already offboarded, not to retry.
    let out = t.run(&["--json", "offboard", "oscorp", "--keep-prefix"]).await;
    let (exit, message) = error_of(&out);
    assert_eq!(exit, 5, "{}", stdout(&out));
    assert!(
        message.contains("OFFBOARDED") && !message.contains("retry"),
        "{message}"
    );

    // 3. An ACTIVE tenant's secret scheduled for deletion out of band.
    let arn = t.start("gekko").await;
    let done = onboard::wait(&t.ops, &arn, Duration::from_secs(120)).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    t.ops
        .ctx
        .clients
        .secrets
        .delete_secret()
        .secret_id("tenants/gekko/app")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let out = t.run(&["status", "gekko"]).await;
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(text.contains("scheduled for deletion"), "{text}");
    assert!(!text.contains("absent"), "{text}");
    assert!(text.contains("warning: the tenant is ACTIVE but its secret"), "{text}");
    t.stop().await;
}

/// Approve mode (`SignupMode=approve`): the page holds a valid request as PENDING_APPROVAL
/// and starts nothing; `list` shows it and `status` names the two ways on; a repeat is the
/// same hold and another request for the id is 409. As the operator role: `approve` starts
/// onboarding to ACTIVE with the request's company name and admin email; approving again
/// is refused (exit 5, naming ACTIVE) and an unknown id is not found (exit 3); `reject`
/// frees a held id (a new request then takes it) and rejecting it again is exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn approve_mode_holds_signups_until_an_operator_approves_or_rejects() {
    use serde_json::json;
    use tenant_steps::signup::{self, Mode};
    let t = spawn("approve", 0).await;
    let (ctx, arn) = (&t.ops.ctx, &t.ops.onboarding_arn);
    let post = |body: Value| signup::Request {
        method: "POST".into(),
        path: "/signup".into(),
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        source: None,
    };
    let page = |r: &signup::Response| -> Value { serde_json::from_str(&r.body).unwrap() };
    let globex = json!({"company_name": "Globex", "tenant_id": "globex", "admin_email": "hank@globex.example"});
    let held = signup::handle_mode(ctx, arn, Mode::Approve, post(globex.clone())).await;
    assert_eq!(held.status, 202, "{held:?}");
    assert_eq!(page(&held)["status"], "PENDING_APPROVAL", "{held:?}");
    assert!(page(&held)["message"].as_str().unwrap().contains("approval"));
    let again = signup::handle_mode(ctx, arn, Mode::Approve, post(globex.clone())).await;
    assert_eq!((again.status, page(&again)["repeated"].clone()), (202, json!(true)));
    let other = json!({"company_name": "Other", "tenant_id": "globex", "admin_email": "x@other.example"});
    assert_eq!(
        signup::handle_mode(ctx, arn, Mode::Approve, post(other)).await.status,
        409
    );
    let progress = signup::handle_mode(
        ctx,
        arn,
        Mode::Approve,
        signup::Request {
            method: "GET".into(),
            path: "/signup/globex".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page(&progress)["phase"], "awaiting_approval", "{progress:?}");
    let executions = ctx
        .clients
        .sfn
        .list_executions()
        .state_machine_arn(arn)
        .send()
        .await
        .unwrap();
    assert!(executions.executions().is_empty(), "nothing starts before approval");

    let listed = json(&t.run(&["--json", "list", "--status", "pending-approval"]).await);
    assert_eq!(listed["tenants"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["tenants"][0]["tenant_id"], "globex", "{listed}");
    assert_eq!(listed["stuck"], json!([]), "a held signup is not stuck: {listed}");
    let out = t.run(&["--json", "status", "globex"]).await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let st = json(&out);
    assert!(
        st["next"].as_str().unwrap().contains("tenantctl approve globex"),
        "{st}"
    );

    let out = t.run(&["--json", "approve", "nobody"]).await;
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no signup of nobody is waiting"),
        "{}",
        stdout(&out)
    );
    let out = t.run(&["approve", "globex"]).await;
    assert_eq!(
        code(&out),
        0,
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let st = json(&t.run(&["--json", "status", "globex"]).await);
    assert_eq!(st["record"]["status"], "ACTIVE", "{st}");
    assert_eq!(st["record"]["company_name"], "Globex", "{st}");
    assert_eq!(st["record"]["admin_email"], "hank@globex.example", "{st}");
    let out = t.run(&["--json", "approve", "globex"]).await;
    assert_eq!(code(&out), 5, "{}", stdout(&out));
    let message = json(&out)["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("is ACTIVE") && message.contains("not PENDING_APPROVAL"),
        "{message}"
    );
    let out = t.run(&["--json", "reject", "globex"]).await;
    assert_eq!(code(&out), 5, "an onboarded tenant is not rejected: {}", stdout(&out));

    let initech = json!({"company_name": "Initech", "tenant_id": "initech", "admin_email": "bill@initech.example"});
    assert_eq!(
        signup::handle_mode(ctx, arn, Mode::Approve, post(initech)).await.status,
        202
    );
    let out = t.run(&["reject", "initech"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("initech is free again"), "{}", stdout(&out));
    assert!(tenant_steps::record::get(ctx, "initech").await.unwrap().is_none());
    let out = t.run(&["--json", "reject", "initech"]).await;
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    let taker = json!({"company_name": "Initrode", "tenant_id": "initech", "admin_email": "peter@initrode.example"});
    let taken = signup::handle_mode(ctx, arn, Mode::Approve, post(taker)).await;
    assert_eq!(
        (taken.status, page(&taken)["repeated"].clone()),
        (202, json!(false)),
        "{taken:?}"
    );
    t.stop().await;
}

/// Nothing lingers: a held signup expires after the deployment's lifetime (15 s here). The
/// item is still in the table (TTL deletes lazily; the emulator never does), yet it is
/// gone for every reader: `approve` and `reject` say nothing is waiting (exit 3), `list`
/// does not show it, and another request takes the id (its hold replaces the expired
/// one). The table's TTL is on the expiry attribute, and an approved record carries none.
#[tokio::test(flavor = "multi_thread")]
async fn an_unapproved_signup_expires_and_frees_its_id() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use serde_json::json;
    use tenant_steps::record::attr;
    use tenant_steps::signup::{self, Mode};
    let t = spawn_with(
        "expiry",
        tenant_localstack::Options {
            iam_wait_seconds: 0,
            // Long enough that the steps before the expiry run within it on a loaded machine.
            signup_lifetime_seconds: 15,
            ..Default::default()
        },
    )
    .await;
    let (ctx, arn) = (&t.ops.ctx, &t.ops.onboarding_arn);
    let post = |body: Value| signup::Request {
        method: "POST".into(),
        path: "/signup".into(),
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        source: None,
    };
    let raw_item = |id: &'static str| async move {
        ctx.clients
            .ddb
            .get_item()
            .table_name(&ctx.settings.table)
            .key(attr::TENANT_ID, AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    };
    let ttl = ctx
        .clients
        .ddb
        .describe_time_to_live()
        .table_name(&ctx.settings.table)
        .send()
        .await
        .unwrap();
    let spec = ttl.time_to_live_description().unwrap();
    assert_eq!(spec.attribute_name(), Some(attr::SIGNUP_EXPIRES_AT));

    let first = json!({"company_name": "Globex", "tenant_id": "globex", "admin_email": "hank@globex.example"});
    assert_eq!(
        signup::handle_mode(ctx, arn, Mode::Approve, post(first)).await.status,
        202
    );
    let kept = json!({"company_name": "Acme", "tenant_id": "acme", "admin_email": "road@acme.example"});
    assert_eq!(
        signup::handle_mode(ctx, arn, Mode::Approve, post(kept)).await.status,
        202
    );
    let out = t.run(&["approve", "acme", "--no-wait"]).await;
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let approved = raw_item("acme").await.unwrap();
    assert!(
        !approved.contains_key(attr::SIGNUP_EXPIRES_AT),
        "an approved record must never be deleted by TTL: {approved:?}"
    );
    let listed = json(&t.run(&["--json", "list", "--status", "pending-approval"]).await);
    assert_eq!(listed["tenants"].as_array().unwrap().len(), 1, "{listed}");

    let expires_at: u64 = raw_item("globex").await.unwrap()[attr::SIGNUP_EXPIRES_AT]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    let wait = (expires_at + 1).saturating_sub(tenant_steps::record::now());
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let item = raw_item("globex").await.expect("TTL has not deleted the item (lazy)");
    assert_eq!(item[attr::STATUS], AttributeValue::S("PENDING_APPROVAL".into()));
    let listed = json(&t.run(&["--json", "list", "--status", "pending-approval"]).await);
    assert_eq!(listed["tenants"], json!([]), "{listed}");
    for args in [
        &["--json", "approve", "globex", "--no-wait"][..],
        &["--json", "reject", "globex"],
    ] {
        let out = t.run(args).await;
        assert_eq!(code(&out), 3, "{args:?}: {}", stdout(&out));
    }
    let taker = json!({"company_name": "Initrode", "tenant_id": "globex", "admin_email": "peter@initrode.example"});
    let taken = signup::handle_mode(ctx, arn, Mode::Approve, post(taker)).await;
    assert_eq!(taken.status, 202, "{taken:?}");
    let item = raw_item("globex").await.unwrap();
    assert_eq!(
        item[attr::ADMIN_EMAIL],
        AttributeValue::S("peter@initrode.example".into())
    );
    let out = t.run(&["approve", "globex"]).await;
    assert_eq!(
        code(&out),
        0,
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    t.stop().await;
}
