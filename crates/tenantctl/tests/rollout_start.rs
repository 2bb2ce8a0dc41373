//! `tenantctl rollout start|status|resume` on a running local stack, through the real
//! binary and the rollout state machine: 30 Token-mode tenants on one template, a template
//! adding a connector secret path rolled out to 5 (`--max-tenants`), then to the other 25
//! canary 1 then waves of 4 and 20 (all converged, isolation holds, audit clean); a template that loses the tenant's own
//! prefix halts after the canary, which is reverted while the other 29 are untouched;
//! faults in the middle of a wave are retried or reverted, never left half applied, and
//! `resume` finishes the rollout.

use std::path::Path;

use serde_json::Value;

// Each test binary uses a part of the shared helpers.
#[allow(dead_code)]
mod local;
use local::{Down, expect, expect_json, json, ok, tenantctl};

const CONNECTOR: &str = include_str!("../../domain/templates/examples/connector.json");
const DEFAULT: &str = include_str!("../../domain/templates/tenant-policy.json");
/// Ids that are prefixes, extensions or near-misses of each other.
const CONFUSABLE: [&str; 5] = ["acme", "acme-labs", "acme-lab", "acm", "acme1"];

fn ids(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// tenant → result, from a rollout report.
fn results(report: &Value) -> std::collections::BTreeMap<String, String> {
    report["rollout"]["results"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["result"].as_str().unwrap().to_string()))
        .collect()
}

fn wave_sizes(report: &Value) -> Vec<usize> {
    report["rollout"]["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_array().unwrap().len())
        .collect()
}

/// Deploys `text` as the stack's tenant template; returns its version.
fn deploy(dir: &Path, root: &Path, name: &str, text: &str) -> String {
    let path = root.join(format!("{name}.json"));
    std::fs::write(&path, text).unwrap();
    ok(dir, &["local", "deploy", "--tenant-template", path.to_str().unwrap()]);
    json(dir, &["--local", "--json", "rollout", "plan"])["current_version"]
        .as_str()
        .unwrap()
        .to_string()
}

fn versions(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let page = json(dir, &["--local", "--json", "list", "--limit", "100"]);
    page["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tenant_id"].as_str().unwrap().to_string(),
                t["template_version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_template_rolls_out_canary_first_and_a_bad_one_halts_after_the_canary() {
    let root = std::env::temp_dir().join(format!("tenantctl-rollout-{}", std::process::id()));
    let dir = root.as_path();
    // Token mode: 30 tenants exceed a Rules mapping's 25. A short propagation budget, so a
    // refused proof is judged a failure in seconds, not two minutes.
    ok(
        dir,
        &[
            "local",
            "up",
            "--iam-wait-seconds",
            "0",
            "--mapping-type",
            "token",
            "--propagation-budget-seconds",
            "3",
        ],
    );
    let _down = Down(root.clone());
    let tenants: Vec<String> = CONFUSABLE
        .iter()
        .map(|s| s.to_string())
        .chain((1..=25).map(|i| format!("t{i:02}")))
        .collect();
    std::thread::scope(|s| {
        for t in &tenants {
            s.spawn(move || ok(dir, &["--local", "onboard", t]));
        }
    });
    let v1 = json(dir, &["--local", "--json", "rollout", "plan"])["current_version"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(versions(dir).values().all(|v| *v == v1));

    // A second secret path for every tenant: plan, then canary 1 and waves of 4 and 25.
    let v2 = deploy(dir, &root, "connector", CONNECTOR);
    assert_ne!(v1, v2);
    assert_eq!(ids(&json(dir, &["--local", "--json", "rollout", "plan"])).len(), 30);
    // One execution takes at most --max-tenants (the first by id); the rest stay behind.
    let first = expect(
        dir,
        0,
        &[
            "--local",
            "rollout",
            "start",
            "--canary",
            "1",
            "--waves",
            "4,25",
            "--max-tenants",
            "5",
        ],
    );
    assert!(
        first.contains("25 more tenant(s) are behind beyond --max-tenants"),
        "{first}"
    );
    assert!(first.contains(": completed (2 of 2 wave(s) done"), "{first}");
    assert_eq!(ids(&json(dir, &["--local", "--json", "list", "--behind"])).len(), 25);
    let start = [
        "--local",
        "--json",
        "rollout",
        "start",
        "--canary",
        "1",
        "--waves",
        "4,25",
        "--concurrency",
        "8",
    ];
    let done = json(dir, &start);
    assert_eq!(done["rollout"]["state"], "completed", "{done:#}");
    assert_eq!(done["execution_status"], "SUCCEEDED");
    assert_eq!(wave_sizes(&done), [1, 4, 20]);
    let r = results(&done);
    assert_eq!(r.len(), 25);
    assert!(r.values().all(|v| v == "converged"), "{r:?}");
    assert!(versions(dir).values().all(|v| *v == v2));
    assert_eq!(
        ids(&json(dir, &["--local", "--json", "list", "--behind"])),
        Vec::<String>::new()
    );
    let audit = ok(dir, &["--local", "audit"]);
    assert!(audit.starts_with("clean"), "{audit}");
    let mut check = vec!["--local", "check-isolation"];
    check.extend(CONFUSABLE);
    ok(dir, &check);
    // Nothing left to do.
    let again = json(dir, &start);
    assert_eq!(again["outcome"], "nothing_behind", "{again:#}");

    // A template that loses the tenant's own prefix: the canary's proof fails, it is
    // reverted, and the rollout halts before any other tenant is touched.
    let broken = CONNECTOR.replace("tenants/{tenant}/*\"]", "tenants/{tenant}/data/*\"]");
    assert_ne!(broken, CONNECTOR);
    let v3 = deploy(dir, &root, "broken", &broken);
    let out = tenantctl(
        dir,
        &["--local", "rollout", "start", "--canary", "1", "--waves", "4,25"],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let canary = "acm"; // the first id in order
    assert!(
        text.contains(": halted (1 of 3 wave(s) done, 1 failed proof(s)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{canary}: Reverted IsolationNotProven")),
        "{text}"
    );
    assert!(text.contains("why: 1 tenant(s) failed their proof"), "{text}");
    assert!(
        text.contains("next: 30 tenant(s) are still on their previous template"),
        "{text}"
    );
    assert!(
        text.contains("the tenant template does not grant the tenant its own data"),
        "{text}"
    );
    assert!(!text.contains("half applied"), "{text}");
    // watch of a rollout that ended prints its summary with its exit code.
    let watched = expect(dir, 1, &["--local", "rollout", "watch"]);
    assert!(watched.contains(": halted (1 of 3 wave(s) done"), "{watched}");
    let status = json(dir, &["--local", "--json", "rollout", "status"]);
    assert_eq!(status["rollout"]["state"], "halted");
    assert_eq!(status["rollout"]["version"], v3.as_str());
    assert_eq!(status["execution_status"], "FAILED");
    assert_eq!(status["half_applied"], serde_json::json!([]));
    let r = results(&status);
    assert_eq!(r.len(), 1, "only the canary was reached: {r:?}");
    assert_eq!(r[canary], "reverted");
    // Every tenant, the canary included, is still on v2 and isolated.
    assert!(versions(dir).values().all(|v| *v == v2), "{:?}", versions(dir));
    ok(dir, &check);

    // Faults in the middle of a wave, rolling back to the default template: a transient
    // converge failure is retried; a crash before the converge changes nothing; a crash
    // after the proof (before the record) is reverted. Two failures tolerated.
    let back = deploy(dir, &root, "default", DEFAULT);
    assert_eq!(back, v1);
    ok(dir, &["local", "fault", "t03", "converge-role", "fail-once"]);
    ok(dir, &["local", "fault", "t07", "record-converged", "crash"]);
    ok(dir, &["local", "fault", "t12", "converge-role", "crash"]);
    let faulted = expect_json(
        dir,
        1,
        &[
            "--local",
            "--json",
            "rollout",
            "start",
            "--canary",
            "1",
            "--waves",
            "4,25",
            "--max-failures",
            "2",
            "--concurrency",
            "8",
        ],
    );
    assert_eq!(faulted["rollout"]["state"], "completed", "{faulted:#}");
    let r = results(&faulted);
    assert_eq!(r["t03"], "converged");
    assert_eq!(r["t07"], "reverted");
    assert_eq!(r["t12"], "reverted");
    assert_eq!(r.values().filter(|v| *v == "converged").count(), 28);
    assert_eq!(faulted["half_applied"], serde_json::json!([]));
    let line = &faulted["rollout"]["results"]["t12"];
    assert!(
        line["message"].as_str().unwrap().contains("nothing to put back"),
        "{line}"
    );
    assert_eq!(faulted["rollout"]["results"]["t07"]["error"], "Runtime.ExitError");
    // The two reverted tenants are whole on v2: their documents back, their record at v2.
    let v = versions(dir);
    assert_eq!((v["t07"].as_str(), v["t12"].as_str()), (v2.as_str(), v2.as_str()));
    assert_eq!(
        ids(&json(dir, &["--local", "--json", "list", "--behind"])),
        ["t07", "t12"]
    );
    ok(dir, &["--local", "check-isolation", "t07", "t12", "acme"]);

    // Resume: the same template, only the two left behind.
    ok(dir, &["local", "fault", "--clear"]);
    let resumed = json(dir, &["--local", "--json", "rollout", "resume"]);
    assert_eq!(resumed["rollout"]["state"], "completed", "{resumed:#}");
    assert_eq!(wave_sizes(&resumed), [2]);
    assert!(versions(dir).values().all(|v| *v == v1));
    let audit = ok(dir, &["--local", "audit"]);
    assert!(audit.starts_with("clean"), "{audit}");

    // Abort part-way: the execution stops, nothing is left half applied, every tenant is
    // whole on one version or the other; resume finishes it.
    assert_eq!(deploy(dir, &root, "connector-again", CONNECTOR), v2);
    let started = json(
        dir,
        &[
            "--local",
            "--json",
            "rollout",
            "start",
            "--waves",
            "2",
            "--concurrency",
            "1",
            "--no-wait",
        ],
    );
    assert_eq!(started["outcome"], "started", "{started:#}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let aborted = json(dir, &["--local", "--json", "rollout", "abort"]);
    assert_eq!(aborted["stopped"], true, "{aborted:#}");
    let status = json(dir, &["--local", "--json", "rollout", "status"]);
    assert_eq!(status["rollout"]["state"], "aborted", "{status:#}");
    assert_eq!(status["execution_status"], "ABORTED");
    assert_eq!(status["half_applied"], serde_json::json!([]));
    let v = versions(dir);
    let moved = v.values().filter(|x| **x == v2).count();
    assert!(v.values().all(|x| *x == v1 || *x == v2), "{v:?}");
    assert!(moved < 30, "the abort came after the whole rollout: {v:?}");
    ok(dir, &check);
    // Nothing to abort now.
    let out = tenantctl(dir, &["--local", "rollout", "abort"]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let resumed = json(dir, &["--local", "--json", "rollout", "resume"]);
    assert_eq!(resumed["rollout"]["state"], "completed", "{resumed:#}");
    assert_eq!(wave_sizes(&resumed).iter().sum::<usize>(), 30 - moved);
    assert!(versions(dir).values().all(|x| *x == v2));
    let audit = ok(dir, &["--local", "audit"]);
    assert!(audit.starts_with("clean"), "{audit}");

    // The deployment changes during a rollout: the rollout halts instead of recording
    // tenants at a version it was not started for; every tenant is whole on one version.
    assert_eq!(deploy(dir, &root, "default-again", DEFAULT), v1);
    json(
        dir,
        &[
            "--local",
            "--json",
            "rollout",
            "start",
            "--waves",
            "2",
            "--concurrency",
            "1",
            "--no-wait",
        ],
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    let v3 = deploy(dir, &root, "broken-again", &broken);
    let halted = expect_json(dir, 1, &["--local", "--json", "rollout", "watch"]);
    assert_eq!(halted["rollout"]["state"], "halted", "{halted:#}");
    let changed: Vec<&Value> = halted["rollout"]["results"]
        .as_object()
        .unwrap()
        .values()
        .filter(|l| l["error"] == "Misconfigured")
        .collect();
    assert!(!changed.is_empty(), "{halted:#}");
    assert!(
        changed[0]["message"].as_str().unwrap().contains(&format!("now {v3}")),
        "{changed:?}"
    );
    assert_eq!(halted["half_applied"], serde_json::json!([]));
    let v = versions(dir);
    assert!(v.values().all(|x| *x == v1 || *x == v2), "{v:?}");
    ok(dir, &check);
}
