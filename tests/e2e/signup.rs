use std::time::Duration;

use tenant_domain::Status;
use tenant_steps::{record, signup};
use tenantctl::onboard;

use crate::helpers::spawn;

fn form(body: &str) -> signup::Request {
    signup::Request {
        method: "POST".into(),
        content_type: Some("application/x-www-form-urlencoded".into()),
        body: body.as_bytes().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signup_form_starts_onboarding_and_refuses_bad_ids() {
    let t = spawn().await;
    let ctx = &t.ops.ctx;
    let arn = &t.ops.onboarding_arn;

    let page = signup::handle(
        ctx,
        arn,
        signup::Request {
            method: "GET".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"tenant_id\""));

    let ok = signup::handle(
        ctx,
        arn,
        form("tenant_id=soylent&name=Soylent+Corp&email=ops%40soylent.example"),
    )
    .await;
    assert_eq!(ok.status, 202, "{ok:?}");
    let execution = onboard::execution_arn(arn, "soylent-1");
    let done = onboard::wait(&t.ops, &execution, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let rec = record::get(ctx, "soylent").await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.name.as_deref()),
        (Status::Active, Some("Soylent Corp"))
    );

    let taken = signup::handle(ctx, arn, form("tenant_id=soylent")).await;
    assert_eq!(taken.status, 409);

    for hostile in ["%24%7Baws%3Ausername%7D", "Acme", "ac%2Ame", "", "a%2Fb"] {
        let r = signup::handle(ctx, arn, form(&format!("tenant_id={hostile}"))).await;
        assert_eq!(r.status, 400, "{hostile}: {r:?}");
        assert!(r.body.contains("tenant id"), "{hostile}: {}", r.body);
        assert!(!r.body.contains("<script"), "escaped");
    }
    let json = signup::handle(
        ctx,
        arn,
        signup::Request {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            body: br#"{"tenant_id": "<script>"}"#.to_vec(),
        },
    )
    .await;
    assert_eq!(json.status, 400);
    assert_eq!(json.content_type, "application/json");
    let executions = ctx
        .clients
        .sfn
        .list_executions()
        .state_machine_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        executions.executions().len(),
        1,
        "only the valid signup started a workflow"
    );
    t.stack.stop().await;
}
