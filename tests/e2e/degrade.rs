//! Commands degrade per resource, through the real `tenantctl` binary: with the tenants'
//! bucket deleted out of band, an onboarding fails at CreatePrefix and rolls back cleanly
//! (FAILED, not ROLLBACK_FAILED, nothing left), and `status`, `audit` and `offboard` of
//! that tenant still work; a role deleted out of band on an ACTIVE tenant makes `status`
//! warn and exit 1, and `audit` report it Missing.
//!
//! Part of the `tenantctl` package's tests (see its Cargo.toml) to run the real binary.

#[path = "helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::process::Output;

use tenant_domain::Status;
use tenant_steps::record;
use tenant_steps::resources::Resource;
use tenantctl::audit::{self, Kind};

fn tenantctl(env_file: &std::path::Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .arg("--env-file")
        .arg(env_file)
        .args(args)
        .output()
        .expect("tenantctl runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_fails_cleanly_and_status_audit_offboard_still_work() {
    let t = helpers::spawn().await;
    let c = &t.ops.ctx.clients;
    let bucket = t.ops.ctx.settings.bucket.clone();
    let listed = c.s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    for o in listed.contents() {
        c.s3.delete_object()
            .bucket(&bucket)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    c.s3.delete_bucket().bucket(&bucket).send().await.unwrap();

    let done = t.onboard("umbrella").await;
    assert_eq!(done.status, "FAILED", "{done:?}");
    let rec = record::get(&t.ops.ctx, "umbrella").await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Failed, "{rec:?}");
    assert_eq!(rec.failed_step.as_deref(), Some("CreatePrefix"), "{rec:?}");
    let res = tenantctl::status::inspect(&t.ops, &helpers::tid("umbrella"))
        .await
        .unwrap();
    assert!(res.present().is_empty(), "left {:?}", res.present());
    assert!(res.unavailable().is_empty(), "{:?}", res.unavailable());

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let env_file = t.write_env_file(&dir, "degrade-bucket");
    // FAILED: exit 1, with the prefix shown absent for what it is.
    let out = tenantctl(&env_file, &["status", "umbrella"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("no bucket {bucket}")), "{}", text(&out));
    // The missing bucket is a finding (exit 1), not a failed audit (exit 4).
    let out = tenantctl(&env_file, &["audit", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let findings = audit::audit(&t.ops).await.unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.kind == Kind::Missing && f.resource == format!("bucket {bucket}")),
        "{findings:#?}"
    );
    // Offboarding finds nothing to delete at any level: it succeeds.
    let out = tenantctl(&env_file, &["offboard", "umbrella"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rec = record::get(&t.ops.ctx, "umbrella").await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Offboarded, "{rec:?}");
    let _ = std::fs::remove_file(&env_file);
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_deleted_out_of_band_makes_status_warn_and_audit_report_it_missing() {
    let t = helpers::spawn().await;
    let done = t.onboard("wayne").await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let iam = &t.ops.ctx.clients.iam;
    iam.delete_role_policy()
        .role_name("tenant-wayne")
        .policy_name(tenant_domain::names::INLINE_POLICY_NAME)
        .send()
        .await
        .unwrap();
    iam.delete_role().role_name("tenant-wayne").send().await.unwrap();

    let res = tenantctl::status::inspect(&t.ops, &helpers::tid("wayne"))
        .await
        .unwrap();
    assert_eq!(res.missing(), [Resource::Role]);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let env_file = t.write_env_file(&dir, "degrade-role");
    let out = tenantctl(&env_file, &["status", "wayne"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("warning: the tenant is ACTIVE but its role is missing"),
        "{}",
        text(&out)
    );
    let findings = audit::audit(&t.ops).await.unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.tenant == "wayne" && f.kind == Kind::Missing && f.resource == "role tenant-wayne"),
        "{findings:#?}"
    );
    let _ = std::fs::remove_file(&env_file);
    t.stack.stop().await;
}
