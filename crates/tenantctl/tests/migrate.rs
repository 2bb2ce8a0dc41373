//! `tenantctl migrate --to abac` on a running Rules deployment, through the real binary:
//! ten tenants moved one at a time (`--max 1`), every tenant's access checked with
//! `check-isolation` after each move; refused (exit 5, nothing changed) before the
//! deployment has the shared role; a failed proof (the shared role denies the fifth
//! tenant's prefix) exits 1 naming the tenant and leaves it on its own role and rule;
//! the stopped migration resumes and finishes; after the deployment's switch to Abac no
//! per-tenant role or rule is left, `audit` is clean and a new onboarding uses Abac.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

// Each test binary uses a part of the shared helpers.
#[allow(dead_code)]
mod local;
use local::{Down, json, ok, tenantctl, text};
use tenant_domain::{MappingType, TenantId};
use tenantctl::Ops;

const N: usize = 10;
/// Not the same name as the shared role's: a test-only statement beside it.
const DENY_POLICY: &str = "migrate-test-deny";

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Every tenant reaches its own prefix and secret and nothing of the others'.
fn isolation_holds(dir: &Path, tenants: &[String]) {
    let mut args = vec!["--local", "check-isolation"];
    args.extend(tenants.iter().map(String::as_str));
    let out = ok(dir, &args);
    assert!(out.contains("isolation holds"), "{out}");
}

async fn admin(dir: &Path) -> Ops {
    let vars = tenantctl::env_file::read(&dir.join("local.env")).unwrap();
    Ops::from_lookup(|k| vars.get(k).cloned()).await.unwrap()
}

async fn role_exists(ops: &Ops, name: &str) -> bool {
    match ops.ctx.clients.iam.get_role().role_name(name).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => false,
        Err(e) => panic!("GetRole {name}: {e:?}"),
    }
}

async fn rule_role(ops: &Ops, tenant: &str) -> Option<String> {
    let tenant = TenantId::parse(tenant).unwrap();
    tenant_steps::migrate::pointed_at(&ops.ctx, &tenant, MappingType::Rules)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_to_abac_one_tenant_at_a_time_resumes_and_stops_on_a_failed_proof() {
    let started = Instant::now();
    let root = std::env::temp_dir().join(format!("tenantctl-migrate-{}", std::process::id()));
    let dir = root.as_path();
    ok(dir, &["local", "up", "--iam-wait-seconds", "0"]);
    let _down = Down(root.clone());
    let ids: Vec<String> = (1..=N).map(|i| format!("mv{i:02}")).collect();
    for id in &ids {
        ok(dir, &["--local", "onboard", id]);
    }
    isolation_holds(dir, &ids);
    let ops = admin(dir).await;
    let s = ops.ctx.settings.clone();
    let own_arn = |id: &str| format!("arn:aws:iam::{}:role/tenants/tenant-{id}", s.account_id);

    // Refused before the deployment has the shared role and tag map: nothing changed.
    let out = tenantctl(dir, &["--local", "migrate", "--to", "abac"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("no shared tenant role") && said.contains("tenantctl local deploy --shared-role"),
        "{said}"
    );
    assert!(role_exists(&ops, "tenant-mv01").await);
    assert_eq!(rule_role(&ops, "mv01").await, Some(own_arn("mv01")));

    ok(dir, &["local", "deploy", "--shared-role"]);
    let shared = format!("arn:aws:iam::{}:role/tenants/TenantAbacRole", s.account_id);

    // One tenant at a time: pointed at the shared role, proven, its own role deleted;
    // every tenant (moved or not) keeps its access after each move.
    for (k, id) in ids.iter().enumerate().take(4) {
        let run = json(dir, &["--local", "--json", "migrate", "--to", "abac", "--max", "1"]);
        assert_eq!(strings(&run["moved"]), std::slice::from_ref(id), "{run:#}");
        assert_eq!(strings(&run["remaining"]).len(), N - k - 1, "{run:#}");
        assert_eq!(run["complete"], false);
        assert!(
            !role_exists(&ops, &format!("tenant-{id}")).await,
            "{id}'s role is still there"
        );
        assert_eq!(rule_role(&ops, id).await.as_deref(), Some(shared.as_str()));
        isolation_holds(dir, &ids);
    }
    // Mid-migration, audit names a moved tenant's missing role as moved, with the way on.
    let out = tenantctl(dir, &["--local", "audit"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("moved to the shared tenant role by `tenantctl migrate --to abac`"),
        "{}",
        text(&out)
    );
    // `status` of a moved tenant says so, and does not count its role as lost (exit 0).
    let said = ok(dir, &["--local", "status", "mv01"]);
    assert!(
        said.contains("moved to the shared tenant role by `tenantctl migrate --to abac`")
            && !said.contains("its role is missing"),
        "{said}"
    );
    let status = json(dir, &["--local", "--json", "migrate", "--status"]);
    assert_eq!(status["state"], "stopped", "{status:#}");
    assert_eq!(status["moved"], 4);
    assert_eq!(status["last_tenant"], "mv04");

    // A failed proof: the shared role refuses the fifth tenant its own prefix. Exit 1
    // naming it; it is back on its own role and rule, and nothing after it moved.
    let deny = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": format!("arn:aws:s3:::{}/tenants/mv05/*", s.bucket),
        }]
    });
    let iam = &ops.ctx.clients.iam;
    iam.put_role_policy()
        .role_name("TenantAbacRole")
        .policy_name(DENY_POLICY)
        .policy_document(deny.to_string())
        .send()
        .await
        .unwrap();
    let out = tenantctl(dir, &["--local", "--json", "migrate", "--to", "abac"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["tenant"], "mv05", "{err:#}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("tenant mv05: its proof in Abac mode failed (IsolationNotProven")
            && message.contains("back on its Rules mapping to tenant-mv05, its own role and rule intact"),
        "{message}"
    );
    assert!(role_exists(&ops, "tenant-mv05").await);
    assert_eq!(rule_role(&ops, "mv05").await, Some(own_arn("mv05")));
    assert!(role_exists(&ops, "tenant-mv06").await);
    let status = json(dir, &["--local", "--json", "migrate", "--status"]);
    assert_eq!(status["state"], "failed", "{status:#}");
    assert_eq!(status["stopped_tenant"], "mv05");
    isolation_holds(dir, &ids);

    // Resumed once the fault is gone: the rest move, one at a time, checked after each;
    // the four moved before are not moved again.
    iam.delete_role_policy()
        .role_name("TenantAbacRole")
        .policy_name(DENY_POLICY)
        .send()
        .await
        .unwrap();
    for (k, id) in ids.iter().enumerate().skip(4) {
        let run = json(dir, &["--local", "--json", "migrate", "--to", "abac", "--max", "1"]);
        assert_eq!(strings(&run["moved"]), std::slice::from_ref(id), "{run:#}");
        assert_eq!(strings(&run["already"]), ids[..k].to_vec(), "{run:#}");
        isolation_holds(dir, &ids);
    }
    let run = json(dir, &["--local", "--json", "migrate", "--to", "abac"]);
    assert_eq!(run["complete"], true, "{run:#}");
    assert_eq!(strings(&run["moved"]), Vec::<String>::new());
    assert_eq!(run["deployment"], "Rules");
    assert!(run["next"].as_str().unwrap().contains("--mapping-type abac"), "{run:#}");

    // The deployment switches; the clean-up run finds nothing to move; no per-tenant role
    // or rule is left and audit (now judging Abac mode) is clean.
    ok(dir, &["local", "deploy", "--mapping-type", "abac"]);
    let ops = admin(dir).await;
    assert_eq!(ops.ctx.settings.mapping_type, MappingType::Abac);
    let run = json(dir, &["--local", "--json", "migrate", "--to", "abac"]);
    assert_eq!(run["complete"], true, "{run:#}");
    assert_eq!(run["deployment"], "Abac");
    assert_eq!(strings(&run["already"]), ids);
    let roles = ops
        .ctx
        .clients
        .iam
        .list_roles()
        .path_prefix("/tenants/")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = roles.roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(names, ["TenantAbacRole"]);
    assert!(
        tenant_steps::mapping::provider_mapping(&ops.ctx)
            .await
            .unwrap()
            .is_none()
    );
    let audit = ok(dir, &["--local", "audit"]);
    assert!(audit.starts_with("clean"), "{audit}");
    let behind = json(dir, &["--local", "--json", "list", "--behind"]);
    assert_eq!(behind["tenants"].as_array().unwrap().len(), 0, "{behind:#}");

    // New onboardings use Abac: no role of their own, isolated from the moved tenants.
    ok(dir, &["--local", "onboard", "mv11"]);
    assert!(!role_exists(&ops, "tenant-mv11").await);
    isolation_holds(dir, &["mv01".into(), "mv05".into(), "mv11".into()]);
    // Leaving Abac mode is not something the local stack does.
    let out = tenantctl(dir, &["--local", "migrate", "--to", "token"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("Abac -> Token is not one of those moves"),
        "{}",
        text(&out)
    );
    eprintln!("migration test took {:.1}s", started.elapsed().as_secs_f64());
}

/// Rules to Token: the groups get their roles one at a time (harmless under Rules), the
/// provider's mapping switches to Token in one write, each tenant is proven in it; a
/// failed proof switches the mapping back to Rules (every rule rebuilt) and names the
/// tenant; the run after the fix finishes, and after the deployment's switch a new
/// onboarding is Token's and audit is clean.
#[tokio::test(flavor = "multi_thread")]
async fn rules_to_token_switches_the_mapping_once_and_back_on_a_failed_proof() {
    let started = Instant::now();
    let root = std::env::temp_dir().join(format!("tenantctl-migrate-token-{}", std::process::id()));
    let dir = root.as_path();
    ok(dir, &["local", "up", "--iam-wait-seconds", "0"]);
    let _down = Down(root.clone());
    let ids: Vec<String> = (1..=3).map(|i| format!("tk{i:02}")).collect();
    for id in &ids {
        ok(dir, &["--local", "onboard", id]);
    }
    let ops = admin(dir).await;
    let s = ops.ctx.settings.clone();
    let own_arn = |id: &str| format!("arn:aws:iam::{}:role/tenants/tenant-{id}", s.account_id);
    let mapping_type = || async {
        tenant_steps::mapping::provider_mapping(&ops.ctx)
            .await
            .unwrap()
            .map(|m| m.r#type().as_str().to_string())
    };

    // Two groups get their roles; the provider still resolves by Rules.
    let run = json(dir, &["--local", "--json", "migrate", "--to", "token", "--max", "2"]);
    assert_eq!(strings(&run["moved"]), ids[..2].to_vec(), "{run:#}");
    assert_eq!(strings(&run["proven"]), Vec::<String>::new());
    assert_eq!(mapping_type().await.as_deref(), Some("Rules"));
    isolation_holds(dir, &ids);

    // tk02's role reaches its canary: its proof in Token mode fails, the mapping goes
    // back to Rules with every tenant's rule, and the run exits 1 naming it.
    let widen = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{}/tenants/*", s.bucket),
        }]
    });
    let iam = &ops.ctx.clients.iam;
    iam.put_role_policy()
        .role_name("tenant-tk02")
        .policy_name("migrate-test-widen")
        .policy_document(widen.to_string())
        .send()
        .await
        .unwrap();
    let out = tenantctl(dir, &["--local", "--json", "migrate", "--to", "token"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["tenant"], "tk02", "{err:#}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("its proof in Token mode failed (IsolationNotProven")
            && message.contains("the provider's mapping is back on Rules"),
        "{message}"
    );
    assert_eq!(mapping_type().await.as_deref(), Some("Rules"));
    for id in &ids {
        assert_eq!(rule_role(&ops, id).await, Some(own_arn(id)), "{id}");
    }
    iam.delete_role_policy()
        .role_name("tenant-tk02")
        .policy_name("migrate-test-widen")
        .send()
        .await
        .unwrap();
    isolation_holds(dir, &ids);

    // Resumed: the mapping switches again, the tenants not yet proven are.
    let run = json(dir, &["--local", "--json", "migrate", "--to", "token"]);
    assert_eq!(run["complete"], true, "{run:#}");
    assert_eq!(strings(&run["proven"]), ids[1..].to_vec(), "{run:#}");
    assert_eq!(strings(&run["already"]), ids[..1].to_vec(), "{run:#}");
    assert_eq!(mapping_type().await.as_deref(), Some("Token"));
    isolation_holds(dir, &ids);

    ok(dir, &["local", "deploy", "--mapping-type", "token"]);
    let run = json(dir, &["--local", "--json", "migrate", "--to", "token"]);
    assert_eq!(run["complete"], true, "{run:#}");
    assert_eq!(run["deployment"], "Token");
    ok(dir, &["--local", "onboard", "tk04"]);
    let mut all = ids.clone();
    all.push("tk04".into());
    isolation_holds(dir, &all);
    let audit = ok(dir, &["--local", "audit"]);
    assert!(audit.starts_with("clean"), "{audit}");
    let behind = json(dir, &["--local", "--json", "list", "--behind"]);
    assert_eq!(behind["tenants"].as_array().unwrap().len(), 0, "{behind:#}");
    eprintln!("token migration test took {:.1}s", started.elapsed().as_secs_f64());
}

/// Token to Abac: a moved tenant's group names the shared role (the ID token's
/// preferred role); after the switch the groups carry no role and audit is clean.
#[tokio::test(flavor = "multi_thread")]
async fn token_to_abac_points_the_groups_at_the_shared_role() {
    let started = Instant::now();
    let root = std::env::temp_dir().join(format!("tenantctl-migrate-tokabac-{}", std::process::id()));
    let dir = root.as_path();
    ok(
        dir,
        &["local", "up", "--iam-wait-seconds", "0", "--mapping-type", "token"],
    );
    let _down = Down(root.clone());
    let ids: Vec<String> = (1..=3).map(|i| format!("ta{i:02}")).collect();
    for id in &ids {
        ok(dir, &["--local", "onboard", id]);
    }
    ok(dir, &["local", "deploy", "--shared-role"]);
    let ops = admin(dir).await;
    let shared = format!(
        "arn:aws:iam::{}:role/tenants/TenantAbacRole",
        ops.ctx.settings.account_id
    );
    let group_role = |id: String| {
        let ops = &ops;
        async move {
            let t = TenantId::parse(&id).unwrap();
            tenant_steps::migrate::pointed_at(&ops.ctx, &t, MappingType::Token)
                .await
                .unwrap()
        }
    };

    // As the operator, under OperatorPolicy: migrate needs nothing more.
    let operator = root.join("operator.env");
    let operator = operator.to_str().unwrap();
    let run = json(
        dir,
        &[
            "--env-file",
            operator,
            "--json",
            "migrate",
            "--to",
            "abac",
            "--max",
            "1",
        ],
    );
    assert_eq!(strings(&run["moved"]), ids[..1].to_vec(), "{run:#}");
    assert_eq!(run["from"], "Token");
    assert_eq!(group_role(ids[0].clone()).await.as_deref(), Some(shared.as_str()));
    assert!(!role_exists(&ops, "tenant-ta01").await);
    isolation_holds(dir, &ids);
    let run = json(dir, &["--env-file", operator, "--json", "migrate", "--to", "abac"]);
    assert_eq!(run["complete"], true, "{run:#}");
    isolation_holds(dir, &ids);

    ok(dir, &["local", "deploy", "--mapping-type", "abac"]);
    let run = json(dir, &["--local", "--json", "migrate", "--to", "abac"]);
    assert_eq!(strings(&run["already"]), ids, "{run:#}");
    for id in &ids {
        assert_eq!(group_role(id.clone()).await, None, "{id}");
    }
    isolation_holds(dir, &ids);
    let audit = ok(dir, &["--local", "audit"]);
    assert!(audit.starts_with("clean"), "{audit}");
    let behind = json(dir, &["--local", "--json", "list", "--behind"]);
    assert_eq!(behind["tenants"].as_array().unwrap().len(), 0, "{behind:#}");
    eprintln!("token to abac test took {:.1}s", started.elapsed().as_secs_f64());
}

/// Ctrl-C (SIGINT) in the middle of a run: the tenant in hand is finished (none is left
/// pointed and unproven), the run stops with exit 0 saying so and releases its lease, and
/// the next run carries on at once.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_migration_stops_after_the_tenant_in_hand_and_resumes() {
    use std::io::{BufRead, BufReader, Read};
    let started = Instant::now();
    let root = std::env::temp_dir().join(format!("tenantctl-migrate-int-{}", std::process::id()));
    let dir = root.as_path();
    ok(dir, &["local", "up", "--iam-wait-seconds", "0"]);
    let _down = Down(root.clone());
    let ids: Vec<String> = (1..=6).map(|i| format!("mi{i:02}")).collect();
    for id in &ids {
        ok(dir, &["--local", "onboard", id]);
    }
    ok(dir, &["local", "deploy", "--shared-role"]);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .arg("--state-dir")
        .arg(dir)
        .args(["--local", "--json", "migrate", "--to", "abac"])
        .env_remove("TENANTCTL_ENV_FILE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut progress = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    progress.read_line(&mut first).unwrap();
    assert!(first.starts_with("mi01: moved to Abac"), "{first}");
    let signal = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signal.success());
    let mut rest = String::new();
    progress.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(0), "{first}{rest}{stdout}");
    assert!(
        rest.contains("interrupted: stopping after the tenant in hand"),
        "{rest}"
    );
    let run: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(run["interrupted"], true, "{run:#}");
    assert_eq!(run["complete"], false, "{run:#}");
    let moved = strings(&run["moved"]);
    let remaining = strings(&run["remaining"]);
    assert!(!moved.is_empty() && !remaining.is_empty(), "{run:#}");
    assert_eq!(moved.len() + remaining.len(), ids.len(), "{run:#}");
    // Every tenant moved is whole: pointed, proven, its role gone; the others untouched.
    let ops = admin(dir).await;
    for id in &moved {
        assert!(!role_exists(&ops, &format!("tenant-{id}")).await, "{id}");
    }
    for id in &remaining {
        assert!(role_exists(&ops, &format!("tenant-{id}")).await, "{id}");
    }
    let status = json(dir, &["--local", "--json", "migrate", "--status"]);
    assert_eq!(status["state"], "stopped", "{status:#}");
    assert!(status["owner"].is_null(), "the lease is released: {status:#}");
    isolation_holds(dir, &ids);

    let run = json(dir, &["--local", "--json", "migrate", "--to", "abac"]);
    assert_eq!(run["complete"], true, "{run:#}");
    assert_eq!(strings(&run["moved"]), remaining, "{run:#}");
    isolation_holds(dir, &ids);
    eprintln!("interrupt test took {:.1}s", started.elapsed().as_secs_f64());
}
