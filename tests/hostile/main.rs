//! The hostile-input corpus (`corpus.json` plus generated cases) driven through every
//! entry point of onboarding: the `tenantctl` binary, the signup API, and the onboarding
//! state machine started directly. Every case must be refused with a message naming the
//! problem, and afterwards nothing may exist in the account.
//!
//! This test belongs to the `tenantctl` package (see its Cargo.toml) so that it can run
//! the real binary (`CARGO_BIN_EXE_tenantctl`). Each entry point is one function from a
//! case to an [`Outcome`]; adding one (the EventBridge `TenantSignupRequested` event, say)
//! is one more such function and one more `run(..)` in the main test's `tokio::join!`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::{Value, json};
use tenant_steps::input::cause_message;
use tenantctl::Ops;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../e2e/helpers.rs"]
#[allow(dead_code)]
mod helpers;

#[derive(Debug, Clone)]
struct Case {
    index: usize,
    category: String,
    /// The request as JSON text, exactly as sent.
    body: String,
    /// The request as a value (duplicate keys collapsed, last wins, as services parse it).
    value: Value,
    expect: Vec<String>,
    not_for: HashMap<String, String>,
}

impl Case {
    fn label(&self) -> String {
        let shown: String = self.body.chars().take(80).collect();
        format!("#{} [{}] {shown:?}", self.index, self.category)
    }

    fn names_the_problem(&self, message: &str) -> bool {
        let m = message.to_lowercase();
        self.expect.iter().any(|e| m.contains(&e.to_lowercase()))
    }
}

/// A listed or generated case before numbering: category, input value or raw text, expect.
type Spec = (String, Option<Value>, Option<String>, Vec<String>);

fn case(category: &str, input: Value, expect: &[&str]) -> Spec {
    (
        category.to_string(),
        Some(input),
        None,
        expect.iter().map(|s| s.to_string()).collect(),
    )
}

/// Cases worth generating rather than listing: they follow the grammar's own tables.
fn generated() -> Vec<Spec> {
    let mut out = vec![];
    // Every printable ASCII character the grammar does not allow, inside an otherwise valid id.
    for b in 0x20u8..0x7f {
        let c = b as char;
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            continue;
        }
        let code = format!("U+{:04X}", b);
        out.push(case("ascii", json!({ "tenant_id": format!("ac{c}me") }), &[&code]));
    }
    for word in tenant_domain::tenant_id::RESERVED {
        out.push(case("reserved", json!({ "tenant_id": word }), &["reserved"]));
    }
    // Oversized: beyond the grammar, beyond signup's body limit, beyond Step Functions' 256 KiB.
    let huge = |n: usize| "a".repeat(n);
    out.push(case(
        "oversized",
        json!({ "tenant_id": huge(100_000) }),
        &["too long", "bytes"],
    ));
    out.push(case(
        "oversized",
        json!({ "tenant_id": huge(300_000) }),
        &["too long", "bytes"],
    ));
    out.push(case(
        "oversized",
        json!({ "tenant_id": "bigname", "company_name": "x".repeat(100_000) }),
        &["name is", "bytes"],
    ));
    out.push(case(
        "oversized",
        json!({ "tenant_id": "bigmail", "admin_email": format!("{}@a.example", "x".repeat(10_000)) }),
        &["email is", "bytes"],
    ));
    out.push(case(
        "oversized",
        json!({ "tenant_id": "bigbody", "company_name": "x".repeat(1_000_000) }),
        &["bytes", "name is"],
    ));
    // Nesting deeper than serde_json's recursion limit (128).
    let deep = format!("{}\"acme\"{}", "[".repeat(200), "]".repeat(200));
    out.push((
        "oversized".into(),
        None,
        Some(format!(r#"{{"tenant_id": {deep}}}"#)),
        vec!["tenant_id".into(), "recursion".into()],
    ));
    out
}

struct Corpus {
    cases: Vec<Case>,
    from_file: usize,
}

fn load() -> Corpus {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile/corpus.json");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("corpus.json")).expect("corpus is JSON");
    let listed: Vec<_> = file["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let not_for = c
                .get("not_for")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let raw = c.get("raw").and_then(Value::as_str).map(str::to_string);
            let expect = c["expect"]
                .as_array()
                .expect("expect")
                .iter()
                .map(|e| e.as_str().expect("expect strings").to_string())
                .collect();
            (
                (
                    c["category"].as_str().expect("category").to_string(),
                    c.get("input").cloned(),
                    raw,
                    expect,
                ),
                not_for,
            )
        })
        .collect();
    let from_file = listed.len();
    let all = listed
        .into_iter()
        .chain(generated().into_iter().map(|c| (c, HashMap::new())));
    let cases = all
        .enumerate()
        .map(|(index, ((category, input, raw, expect), not_for))| {
            let body = raw.unwrap_or_else(|| input.expect("input or raw").to_string());
            // serde_json keeps the last of duplicate keys, as Step Functions does.
            let value = serde_json::from_str(&body).unwrap_or(Value::Null);
            Case {
                index,
                category,
                body,
                value,
                expect,
                not_for,
            }
        })
        .collect();
    Corpus { cases, from_file }
}

#[derive(Debug)]
enum Outcome {
    Refused(String),
    Accepted(String),
    /// The case cannot be expressed through this entry point (with why).
    NotApplicable(String),
}

// ---------------------------------------------------------------------------------------
// Entry points: each turns one case into a request and reports what came back.

/// `tenantctl onboard` as an operator types it: the real binary, pointed at the test stack.
async fn via_cli(env_file: PathBuf, case: Case) -> Outcome {
    if let Some(why) = case.not_for.get("cli") {
        return Outcome::NotApplicable(why.clone());
    }
    let Some(obj) = case.value.as_object() else {
        return Outcome::NotApplicable("argv cannot carry a JSON document".into());
    };
    let mut args: Vec<String> = vec!["--env-file".into(), env_file.display().to_string(), "onboard".into()];
    args.extend(["--timeout".into(), "10".into()]);
    for (flag, field) in [("--company-name", "company_name"), ("--admin-email", "admin_email")] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => args.extend([flag.to_string(), s.clone()]),
            Some(_) => return Outcome::NotApplicable(format!("{field} is not a string")),
        }
    }
    match obj.get("tenant_id") {
        // `--` so that an id starting with `-` reaches the grammar rather than clap's flags.
        Some(Value::String(s)) => args.extend(["--".to_string(), s.clone()]),
        None => {}
        Some(_) => return Outcome::NotApplicable("tenant_id is not a string".into()),
    }
    // What execve cannot carry: NUL bytes, and one argument over 128 KiB (MAX_ARG_STRLEN).
    if args.iter().any(|a| a.contains('\0') || a.len() >= 128 * 1024) {
        return Outcome::NotApplicable("argv cannot carry NUL or an argument over 128 KiB".into());
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .args(&args)
        .env("RUST_LOG", "off")
        .output()
        .await
        .expect("tenantctl runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        Outcome::Accepted(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Outcome::Refused(stderr)
    }
}

/// What signup answered.
struct Reply {
    status: u16,
    message: String,
}

/// The signup API as a browser or script calls it: `POST` of a JSON body to the URL the
/// stack publishes. The only function that knows signup's route and reply shape.
async fn signup_call(url: &str, body: &[u8]) -> Reply {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (addr, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("signup endpoint");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(body).await.expect("send body");
    let mut response = vec![];
    stream.read_to_end(&mut response).await.expect("read reply");
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("HTTP status line");
    let payload = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // A 400 says "fix these" in `message` and names each field's problem in `errors`.
    let message = serde_json::from_str::<Value>(payload).ok().map_or_else(
        || payload.to_string(),
        |v| {
            let mut parts: Vec<String> = v
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .into_iter()
                .collect();
            if let Some(errors) = v.get("errors").and_then(Value::as_object) {
                parts.extend(
                    errors
                        .iter()
                        .map(|(k, e)| format!("{k}: {}", e.as_str().unwrap_or_default())),
                );
            }
            parts.join("; ")
        },
    );
    Reply { status, message }
}

async fn via_signup(url: Arc<str>, case: Case) -> Outcome {
    if let Some(why) = case.not_for.get("signup") {
        return Outcome::NotApplicable(why.clone());
    }
    let reply = signup_call(&url, case.body.as_bytes()).await;
    let shown = format!("{}: {}", reply.status, reply.message);
    if (400..500).contains(&reply.status) {
        Outcome::Refused(shown)
    } else {
        Outcome::Accepted(shown)
    }
}

/// The `TenantSignupRequested` handler the EventBridge rule invokes, given the case as the
/// event's `detail`. EventBridge only carries valid JSON, so raw text with a duplicate key
/// arrives as its parsed value.
async fn via_event(ops: Arc<Ops>, case: Case) -> Outcome {
    if let Some(why) = case.not_for.get("event") {
        return Outcome::NotApplicable(why.clone());
    }
    if case.category == "duplicate-field" {
        return Outcome::NotApplicable(
            "an event's detail is parsed JSON: a duplicate key cannot reach the handler".into(),
        );
    }
    if serde_json::from_str::<Value>(&case.body).is_err() {
        return Outcome::NotApplicable(
            "the Lambda runtime cannot parse it (nesting); EventBridge retries, then dead-letters it".into(),
        );
    }
    let event = json!({
        "id": format!("hostile-{}", case.index),
        "detail-type": tenant_steps::events::TENANT_SIGNUP_REQUESTED,
        "source": "hostile.corpus",
        "detail": case.value,
    });
    match tenant_steps::signup::handle_event(&ops.ctx, &ops.onboarding_arn, event).await {
        Ok(v) if v["outcome"] == "refused" => {
            let mut shown = v["reason"].as_str().unwrap_or_default().to_string();
            if let Some(errors) = v["errors"].as_object() {
                for (k, e) in errors {
                    shown += &format!("; {k}: {}", e.as_str().unwrap_or_default());
                }
            }
            Outcome::Refused(shown)
        }
        Ok(v) => Outcome::Accepted(v.to_string()),
        // An error is retried and dead-lettered, not refused.
        Err(e) => Outcome::Accepted(format!("{}: {e}", e.name())),
    }
}

/// The errors with which the workflow refuses a request before anything is created: our
/// own validation in RecordProvisioning, and the service's at the Init state.
const REFUSALS: &[&str] = &[
    "InvalidTenantId",
    "InvalidInput",
    "States.Runtime",
    "States.DataLimitExceeded",
];

/// The case's body with the fields every caller sends (company name, admin email, attempt)
/// added where the case leaves them out; added as text so duplicates and huge values stay
/// as built.
fn with_defaults(case: &Case) -> String {
    let Some(obj) = case.value.as_object() else {
        return case.body.clone();
    };
    let mut prefix = String::new();
    for (k, v) in [("company_name", "null"), ("admin_email", "null"), ("attempt", "1")] {
        if !obj.contains_key(k) {
            prefix += &format!("\"{k}\": {v}, ");
        }
    }
    let rest = case.body.trim_start().strip_prefix('{').expect("an object body");
    if rest.trim() == "}" {
        prefix = prefix.trim_end_matches(", ").to_string();
    }
    format!("{{{prefix}{rest}")
}

/// StartExecution with the raw input, as any caller holding states:StartExecution can.
async fn via_state_machine(ops: Arc<Ops>, case: Case) -> Outcome {
    if let Some(why) = case.not_for.get("state_machine") {
        return Outcome::NotApplicable(why.clone());
    }
    let input = with_defaults(&case);
    let started = ops
        .ctx
        .clients
        .sfn
        .start_execution()
        .state_machine_arn(&ops.onboarding_arn)
        .name(format!("hostile-{}", case.index))
        .input(input)
        .send()
        .await;
    let arn = match started {
        Ok(out) => out.execution_arn().to_string(),
        // The service refusing the input is a refusal; not reaching it is a broken test.
        Err(e) => match e.as_service_error() {
            Some(se) => return Outcome::Refused(format!("StartExecution: {se}")),
            None => panic!("StartExecution for {} did not reach the emulator: {e:?}", case.label()),
        },
    };
    // Polled once a second (not onboard::wait's 200 ms): hundreds of executions run at
    // once and the emulator should spend its time running them, not describing them.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let done = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let out = ops
            .ctx
            .clients
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .expect("describe execution");
        if *out.status() != ExecutionStatus::Running {
            break out;
        }
        assert!(std::time::Instant::now() < deadline, "{arn} still running");
    };
    let error = done.error().unwrap_or_default();
    let message = format!("{error}: {}", cause_message(done.cause().unwrap_or_default()));
    if *done.status() == ExecutionStatus::Failed && REFUSALS.contains(&error) {
        Outcome::Refused(message)
    } else {
        Outcome::Accepted(format!("{} {message}", done.status()))
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Default, Debug)]
struct Tally {
    tried: usize,
    refused: usize,
    not_applicable: usize,
    /// Why cases could not be expressed, with counts.
    reasons: std::collections::BTreeMap<String, usize>,
    failures: Vec<String>,
    elapsed: Duration,
}

/// Runs `entry` over the corpus with at most `parallel` cases in flight.
async fn run<F, Fut>(name: &'static str, corpus: &Corpus, parallel: usize, entry: F) -> Tally
where
    F: Fn(Case) -> Fut,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let started = std::time::Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for c in &corpus.cases {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let fut = entry(c.clone());
        let c = c.clone();
        tasks.spawn(async move {
            let outcome = fut.await;
            drop(permit);
            (c, outcome)
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let (c, outcome) = joined.expect("case task");
        match outcome {
            Outcome::NotApplicable(why) => {
                tally.not_applicable += 1;
                *tally.reasons.entry(why).or_default() += 1;
            }
            Outcome::Accepted(what) => {
                tally.tried += 1;
                tally
                    .failures
                    .push(format!("{name}: {} was ACCEPTED: {what}", c.label()));
            }
            Outcome::Refused(message) => {
                tally.tried += 1;
                tally.refused += 1;
                if !c.names_the_problem(&message) {
                    tally.failures.push(format!(
                        "{name}: {} refused, but the message names none of {:?}: {message}",
                        c.label(),
                        c.expect
                    ));
                }
            }
        }
    }
    tally.elapsed = started.elapsed();
    tally
}

/// Every kind of resource onboarding creates, account-wide: all must be absent.
async fn resources_created(ops: &Ops) -> Vec<String> {
    let c = &ops.ctx.clients;
    let s = &ops.ctx.settings;
    let mut found = vec![];
    let items = c.ddb.scan().table_name(&s.table).send().await.unwrap();
    for item in items.items() {
        found.push(format!("table item {:?}", item.get("tenant_id")));
    }
    let groups = c.idp.list_groups().user_pool_id(&s.user_pool_id).send().await.unwrap();
    found.extend(groups.groups().iter().map(|g| format!("group {:?}", g.group_name())));
    let users = c.idp.list_users().user_pool_id(&s.user_pool_id).send().await.unwrap();
    found.extend(users.users().iter().map(|u| format!("user {:?}", u.username())));
    let roles = c.iam.list_roles().send().await.unwrap();
    found.extend(
        roles
            .roles()
            .iter()
            .filter(|r| r.path().starts_with("/tenants/"))
            .map(|r| format!("role {}", r.arn())),
    );
    let secrets = c.secrets.list_secrets().send().await.unwrap();
    found.extend(secrets.secret_list().iter().map(|x| format!("secret {:?}", x.name())));
    let objects = c.s3.list_objects_v2().bucket(&s.bucket).send().await.unwrap();
    found.extend(objects.contents().iter().map(|o| format!("object {:?}", o.key())));
    let pool = tenant_steps::mapping::pool_roles(&ops.ctx).await.unwrap();
    for (provider, m) in pool.role_mappings().cloned().unwrap_or_default() {
        if let Some(rc) = m.rules_configuration() {
            found.extend(
                rc.rules()
                    .iter()
                    .map(|r| format!("mapping rule {provider} {}", r.value())),
            );
        }
    }
    let audit = tenantctl::audit::audit(ops).await.unwrap();
    found.extend(
        audit
            .iter()
            .map(|f| format!("audit: {} {} {}", f.tenant, f.resource, f.detail)),
    );
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_corpus_is_refused_at_every_entry_point_and_creates_nothing() {
    hostile_corpus_in(tenant_domain::MappingType::Rules).await;
}

/// The same corpus on an Abac deployment: nothing reaches a step there either.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_corpus_is_refused_in_abac_mode_and_creates_nothing() {
    hostile_corpus_in(tenant_domain::MappingType::Abac).await;
}

async fn hostile_corpus_in(mode: tenant_domain::MappingType) {
    let corpus = load();
    assert!(corpus.cases.len() >= 200, "corpus has {} cases", corpus.cases.len());
    let t = helpers::spawn_mode(mode).await;
    let env_file = t.write_env_file(Path::new(env!("CARGO_TARGET_TMPDIR")), "hostile");
    let env: HashMap<String, String> = t.stack.env_lines().into_iter().collect();
    let helpers::TestStack { stack, ops } = t;
    let ops = Arc::new(ops);
    let signup_url: Arc<str> = Arc::from(env["TENANT_SIGNUP_URL"].as_str());

    // What the deployment itself has (Abac mode's shared role): not created by a case.
    let baseline = resources_created(&ops).await;
    let started = std::time::Instant::now();
    let (cli, signup, event, sfn) = tokio::join!(
        run("cli", &corpus, 8, |c| via_cli(env_file.clone(), c)),
        run("signup", &corpus, 16, |c| via_signup(signup_url.clone(), c)),
        run("event", &corpus, 16, |c| via_event(ops.clone(), c)),
        run("state machine", &corpus, 96, |c| via_state_machine(ops.clone(), c)),
    );
    let elapsed = started.elapsed();
    let mut residue = resources_created(&ops).await;
    residue.retain(|r| !baseline.contains(r));
    let _ = std::fs::remove_file(&env_file);

    let rows = [
        ("cli (tenantctl binary)", &cli),
        ("signup API", &signup),
        ("EventBridge event", &event),
        ("state machine", &sfn),
    ];
    let tried: usize = rows.iter().map(|r| r.1.tried).sum();
    let refused: usize = rows.iter().map(|r| r.1.refused).sum();
    let mut figure = format!(
        "hostile corpus ({mode:?} mode): {} cases ({} from tests/hostile/corpus.json, {} generated), {:.1}s\n",
        corpus.cases.len(),
        corpus.from_file,
        corpus.cases.len() - corpus.from_file,
        elapsed.as_secs_f64()
    );
    for (name, t) in rows {
        figure += &format!(
            "  {name:<24} {:>4} tried, {:>4} refused ({} not expressible there) in {:.1}s\n",
            t.tried,
            t.refused,
            t.not_applicable,
            t.elapsed.as_secs_f64()
        );
        for (why, n) in &t.reasons {
            figure += &format!("  {:<24}      {n:>3} not expressible: {why}\n", "");
        }
    }
    figure += &format!(
        "  {:<24} {tried:>4} tried, {refused:>4} refused, {} resources created\n",
        "total",
        residue.len()
    );
    for r in &residue {
        figure += &format!("    created: {r}\n");
    }
    println!("{figure}");
    std::fs::write(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(match mode {
            tenant_domain::MappingType::Rules => "hostile-figure.txt".to_string(),
            other => format!("hostile-figure-{other:?}.txt").to_lowercase(),
        }),
        &figure,
    )
    .ok();

    let failures: Vec<_> = rows.iter().flat_map(|r| r.1.failures.clone()).collect();
    stack.stop().await;
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(tried, refused);
    assert!(residue.is_empty(), "created: {residue:#?}");
}

/// The same corpus against the parsers alone, without a stack: the workflow's input
/// (`StepInput` plus the id grammar and the contact checks) and the signup handler refuse
/// every case before any AWS call. A case that got through would reach the (absent) AWS
/// endpoint and answer 503, failing the test.
#[tokio::test]
async fn every_case_is_refused_before_any_aws_call() {
    let ctx = tenant_steps::Context::offline();
    let mut checked = 0;
    for c in load().cases {
        if !c.not_for.contains_key("state_machine") {
            // What the Lambda runtime cannot parse never reaches a step (see REFUSALS).
            let refused = serde_json::from_str::<Value>(&with_defaults(&c))
                .map_err(|e| e.to_string())
                .and_then(|mut v| {
                    if let Some(o) = v.as_object_mut() {
                        o.insert("execution".into(), json!("hostile-1"));
                    }
                    let input = tenant_steps::StepInput::from_value(v);
                    input
                        .and_then(|i| i.tenant().and(i.check_contact()))
                        .map_err(|e| e.to_string())
                });
            let err = refused.expect_err(&c.label());
            assert!(c.names_the_problem(&err.to_string()), "{}: {err}", c.label());
            checked += 1;
        }
        let request = tenant_steps::signup::Request {
            method: "POST".into(),
            path: "/signup".into(),
            content_type: Some("application/json".into()),
            body: c.body.clone().into_bytes(),
            source: None,
        };
        let reply = tenant_steps::signup::handle(&ctx, "unused", request).await;
        assert!((400..500).contains(&reply.status), "{}: {reply:?}", c.label());
        checked += 1;
    }
    assert!(checked > 400, "{checked}");
}
