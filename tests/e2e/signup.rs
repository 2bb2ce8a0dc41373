//! Signup through the form's API and through `TenantSignupRequested`, the events the
//! workflow publishes, and the tenant's first user.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenant_domain::{Status, TenantNames};
use tenant_localstack::bootstrap::EVENT_BUS;
use tenant_localstack::lambda_endpoint::FaultMode;
use tenant_steps::{Context, Step, events, record, signup};
use tenantctl::onboard;

use crate::helpers::{TestStack, spawn, tid};

fn post_json(body: Value) -> signup::Request {
    signup::Request {
        method: "POST".into(),
        path: "/signup".into(),
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        source: None,
    }
}

fn get(path: &str) -> signup::Request {
    signup::Request {
        method: "GET".into(),
        path: path.into(),
        ..Default::default()
    }
}

fn body(r: &signup::Response) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// A queue subscribed by a rule to everything the workflow publishes on the bus.
pub struct Subscriber {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Subscriber {
    pub async fn new(t: &TestStack) -> Subscriber {
        let config = tenant_steps::aws::local_sdk_config(t.stack.endpoint(), tenant_localstack::REGION).await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let url = sqs
            .create_queue()
            .queue_name("test-onboarding-events")
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        let events = &t.ops.ctx.clients.events;
        events
            .put_rule()
            .name("test-onboarding-events")
            .event_bus_name(EVENT_BUS)
            .event_pattern(json!({ "source": [events::SOURCE] }).to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("test-onboarding-events")
            .event_bus_name(EVENT_BUS)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(format!(
                        "arn:aws:sqs:{}:{}:test-onboarding-events",
                        tenant_localstack::REGION,
                        tenant_localstack::ACCOUNT_ID
                    ))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Subscriber { sqs, url }
    }

    /// Every event received within `wait`.
    pub async fn drain(&self, wait: Duration) -> Vec<Value> {
        let mut out = vec![];
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in got.messages() {
                out.push(serde_json::from_str(m.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out
    }
}

pub async fn wait_for_status(ctx: &Context, tenant: &str, want: &[Status], timeout: Duration) -> record::TenantRecord {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = record::get(ctx, tenant).await.unwrap()
            && want.contains(&r.status)
        {
            return r;
        }
        assert!(Instant::now() < deadline, "{tenant} did not reach {want:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn executions(t: &TestStack) -> Vec<String> {
    t.ops
        .ctx
        .clients
        .sfn
        .list_executions()
        .state_machine_arn(&t.ops.onboarding_arn)
        .send()
        .await
        .unwrap()
        .executions()
        .iter()
        .map(|e| e.name().to_string())
        .collect()
}

/// The groups of a user, or `None` when the user does not exist.
async fn user_groups(ctx: &Context, email: &str) -> Option<Vec<String>> {
    match ctx
        .clients
        .idp
        .admin_list_groups_for_user()
        .user_pool_id(&ctx.settings.user_pool_id)
        .username(email)
        .send()
        .await
    {
        Ok(out) => Some(
            out.groups()
                .iter()
                .filter_map(|g| g.group_name().map(str::to_string))
                .collect(),
        ),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_user_not_found_exception()) => None,
        Err(e) => panic!("{e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signup_api_answers_202_400_409_and_a_repeat_is_one_tenant() {
    let t = spawn().await;
    let ctx = &t.ops.ctx;
    let arn = &t.ops.onboarding_arn;
    let events = Subscriber::new(&t).await;

    let page = signup::handle(ctx, arn, get("/")).await;
    assert_eq!((page.status, page.content_type), (200, "text/html; charset=utf-8"));
    for field in ["company_name", "tenant_id", "admin_email"] {
        assert!(page.body.contains(&format!("name=\"{field}\"")), "{field}");
    }

    let request = json!({"company_name": "Soylent Corp", "tenant_id": "soylent", "admin_email": "Ops@Soylent.example"});
    let first = signup::handle(ctx, arn, post_json(request.clone())).await;
    assert_eq!(first.status, 202, "{first:?}");
    let first = body(&first);
    assert_eq!(first["tenant_id"], "soylent");
    assert_eq!(first["status_url"], "signup/soylent");
    assert_eq!(first["status"], "PENDING");
    let again = body(&signup::handle(ctx, arn, post_json(request.clone())).await);
    assert_eq!(again["repeated"], true, "{again}");
    assert_eq!(again["execution"], first["execution"]);

    let execution = onboard::execution_arn(arn, first["execution"].as_str().unwrap());
    let done = onboard::wait(&t.ops, &execution, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let progress = signup::handle(ctx, arn, get("/signup/soylent")).await;
    assert_eq!(progress.status, 200);
    let progress = body(&progress);
    assert_eq!(
        (progress["status"].as_str(), progress["phase"].as_str()),
        (Some("ACTIVE"), Some("active"))
    );
    assert!(
        !progress.to_string().contains("soylent.example"),
        "status never shows the email: {progress}"
    );
    let rec = record::get(ctx, "soylent").await.unwrap().unwrap();
    assert_eq!(rec.company_name.as_deref(), Some("Soylent Corp"));
    assert_eq!(rec.admin_email.as_deref(), Some("ops@soylent.example"));

    // The first user: in the pool, in the tenant's group.
    let group = TenantNames::new(&tid("soylent")).group;
    assert_eq!(user_groups(ctx, "ops@soylent.example").await, Some(vec![group]));

    // A repeat after the tenant is ACTIVE is still the same tenant; another request for
    // the id is a conflict that names the field.
    let late = body(&signup::handle(ctx, arn, post_json(request)).await);
    assert_eq!(
        (late["repeated"].as_bool(), late["status"].as_str()),
        (Some(true), Some("ACTIVE"))
    );
    let taken = signup::handle(
        ctx,
        arn,
        post_json(json!({"company_name": "Soylent Two", "tenant_id": "soylent", "admin_email": "a@two.example"})),
    )
    .await;
    assert_eq!(taken.status, 409, "{taken:?}");
    assert!(body(&taken)["errors"]["tenant_id"].as_str().unwrap().contains("taken"));

    // Invalid fields: 400 naming each; form posts get an escaped HTML answer.
    let bad = signup::handle(
        ctx,
        arn,
        post_json(json!({"company_name": "", "tenant_id": "${aws:username}", "admin_email": "<script>"})),
    )
    .await;
    assert_eq!(bad.status, 400);
    let errors = body(&bad)["errors"].clone();
    for field in ["company_name", "tenant_id", "admin_email"] {
        assert!(errors[field].is_string(), "{field}: {errors}");
    }
    for hostile in [
        "tenant_id=Acme",
        "tenant_id=ac%2Ame&company_name=x&admin_email=a%40b.io",
        "",
        "a%2Fb",
    ] {
        let r = signup::handle(
            ctx,
            arn,
            signup::Request {
                method: "POST".into(),
                path: "/signup".into(),
                content_type: Some("application/x-www-form-urlencoded".into()),
                body: hostile.as_bytes().to_vec(),
                source: None,
            },
        )
        .await;
        assert_eq!(r.status, 400, "{hostile}: {r:?}");
        assert!(!r.body.contains("<script"), "escaped");
    }
    assert_eq!(signup::handle(ctx, arn, get("/signup/nobody")).await.status, 404);
    assert_eq!(signup::handle(ctx, arn, get("/signup/No*Body")).await.status, 400);

    assert_eq!(
        executions(&t).await,
        vec!["soylent-1".to_string()],
        "one tenant, one execution"
    );
    let published = events.drain(Duration::from_secs(2)).await;
    let onboarded: Vec<&Value> = published
        .iter()
        .filter(|e| e["detail-type"] == events::TENANT_ONBOARDED)
        .collect();
    assert_eq!(onboarded.len(), 1, "{published:?}");
    assert_eq!(onboarded[0]["source"], events::SOURCE);
    assert_eq!(onboarded[0]["detail"]["tenant_id"], "soylent");
    assert_eq!(onboarded[0]["detail"]["attempt"], 1);
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_signup_requested_events_start_onboarding_and_invalid_ones_create_nothing() {
    let t = spawn().await;
    let ctx = &t.ops.ctx;
    let put = |detail: Value| {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(EVENT_BUS)
            .source("marketplace.example")
            .detail_type(events::TENANT_SIGNUP_REQUESTED)
            .detail(detail.to_string())
            .build();
        ctx.clients.events.put_events().entries(entry).send()
    };
    // Invalid first: the valid one behind it reaching ACTIVE shows both were handled.
    put(json!({"tenant_id": "Bad*Id", "company_name": "Bad", "admin_email": "bad@bad.example"}))
        .await
        .unwrap();
    put(json!({"tenant_id": "no-email", "company_name": "No Email"}))
        .await
        .unwrap();
    put(json!({"tenant_id": "initrode", "company_name": "Initrode", "admin_email": "it@initrode.example"}))
        .await
        .unwrap();
    let rec = wait_for_status(
        ctx,
        "initrode",
        &[Status::Active, Status::Failed],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(rec.status, Status::Active, "{rec:?}");
    assert_eq!(rec.company_name.as_deref(), Some("Initrode"));
    assert!(
        user_groups(ctx, "it@initrode.example")
            .await
            .is_some_and(|g| g.len() == 1)
    );
    // The same event delivered twice is one tenant.
    put(json!({"tenant_id": "initrode", "company_name": "Initrode", "admin_email": "it@initrode.example"}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        executions(&t).await,
        vec!["initrode-1".to_string()],
        "invalid events started nothing"
    );
    let tenants: Vec<String> = record::list(ctx)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.tenant_id)
        .collect();
    assert_eq!(tenants, vec!["initrode".to_string()], "invalid events recorded nothing");
    assert_eq!(user_groups(ctx, "bad@bad.example").await, None);
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_onboarding_publishes_its_failure_and_leaves_no_user() {
    let t = spawn().await;
    let ctx = &t.ops.ctx;
    let arn = &t.ops.onboarding_arn;
    let events = Subscriber::new(&t).await;

    // Fails before the user exists: the failure event names the step and the error.
    t.stack.faults.set("vandelay", Step::CreateRole, FaultMode::FailAlways);
    let r = signup::handle(
        ctx,
        arn,
        post_json(json!({"company_name": "Vandelay", "tenant_id": "vandelay", "admin_email": "art@vandelay.example"})),
    )
    .await;
    assert_eq!(r.status, 202);
    let rec = wait_for_status(
        ctx,
        "vandelay",
        &[Status::Failed, Status::RollbackFailed, Status::Active],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(rec.status, Status::Failed, "{rec:?}");
    let progress = body(&signup::handle(ctx, arn, get("/signup/vandelay")).await);
    assert_eq!(progress["phase"], "failed");
    let published = events.drain(Duration::from_secs(2)).await;
    let failed: Vec<&Value> = published
        .iter()
        .filter(|e| e["detail-type"] == events::TENANT_ONBOARDING_FAILED)
        .collect();
    assert_eq!(failed.len(), 1, "{published:?}");
    let detail = &failed[0]["detail"];
    assert_eq!(
        (
            detail["tenant_id"].as_str(),
            detail["attempt"].as_u64(),
            detail["failed_step"].as_str(),
            detail["error"].as_str()
        ),
        (Some("vandelay"), Some(1), Some("CreateRole"), Some("FaultInjected"))
    );
    assert!(!published.iter().any(|e| e["detail-type"] == events::TENANT_ONBOARDED));
    assert_eq!(user_groups(ctx, "art@vandelay.example").await, None);

    // Fails inside RecordActive after the user was created and added to the group (the
    // bus is gone, so TenantOnboarded cannot be published): compensation deletes the user.
    ctx.clients
        .events
        .remove_targets()
        .rule(tenant_localstack::bootstrap::SIGNUP_REQUESTED_RULE)
        .event_bus_name(EVENT_BUS)
        .ids("signup-events")
        .send()
        .await
        .unwrap();
    for rule in [
        tenant_localstack::bootstrap::SIGNUP_REQUESTED_RULE,
        "test-onboarding-events",
    ] {
        let _ = ctx
            .clients
            .events
            .remove_targets()
            .rule(rule)
            .event_bus_name(EVENT_BUS)
            .ids("queue")
            .send()
            .await;
        ctx.clients
            .events
            .delete_rule()
            .name(rule)
            .event_bus_name(EVENT_BUS)
            .send()
            .await
            .unwrap();
    }
    ctx.clients
        .events
        .delete_event_bus()
        .name(EVENT_BUS)
        .send()
        .await
        .unwrap();
    let started = onboard::start(
        &t.ops,
        &tid("kramerica"),
        Some("Kramerica"),
        Some("cosmo@kramerica.example"),
    )
    .await
    .unwrap();
    let done = onboard::wait(&t.ops, &started.execution_arn, Duration::from_secs(60))
        .await
        .unwrap();
    assert_ne!(done.status, "SUCCEEDED");
    let rec = record::get(ctx, "kramerica").await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.failed_step.as_deref()),
        (Status::Failed, Some("RecordActive")),
        "{rec:?}"
    );
    assert!(
        rec.error_message.as_deref().unwrap_or_default().contains("PutEvents"),
        "{rec:?}"
    );
    assert_eq!(
        user_groups(ctx, "cosmo@kramerica.example").await,
        None,
        "the admin user was removed"
    );
    t.stack.stop().await;
}

/// Verify mode's heart without the page: the admin signs up with Cognito (SignUp with the
/// password they chose), nothing is provisioned until the code from the local mailbox is
/// entered; then the pool's post-confirmation trigger starts onboarding, the same user ends
/// up in the tenant's group, and signs in with that password.
#[tokio::test(flavor = "multi_thread")]
async fn a_confirmed_sign_up_starts_onboarding_and_the_admin_signs_in_with_their_password() {
    use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType};
    let t = spawn().await;
    let ctx = &t.ops.ctx;
    let idp = &ctx.clients.idp;
    let client_id = &ctx.settings.user_pool_client_id;
    let email = "founder@initech.example";
    let password = "Corr3ct-Horse-Battery!";
    let attr = |n: &str, v: &str| AttributeType::builder().name(n).value(v).build().unwrap();
    idp.sign_up()
        .client_id(client_id)
        .username(email)
        .password(password)
        .user_attributes(attr("email", email))
        .user_attributes(attr(signup::TENANT_ID_ATTRIBUTE, "initech"))
        .user_attributes(attr(signup::COMPANY_NAME_ATTRIBUTE, "Initech"))
        .send()
        .await
        .unwrap();
    // Nothing exists before the email is proven.
    assert!(record::get(ctx, "initech").await.unwrap().is_none());
    let code = tenant_localstack::mailbox::latest_code(&t.stack.mailbox, email)
        .unwrap()
        .expect("a code in the local mailbox");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = idp
        .confirm_sign_up()
        .client_id(client_id)
        .username(email)
        .confirmation_code(wrong)
        .send()
        .await
        .unwrap_err();
    assert!(
        refused
            .as_service_error()
            .is_some_and(|e| e.is_code_mismatch_exception()),
        "{refused:?}"
    );
    assert!(record::get(ctx, "initech").await.unwrap().is_none());

    idp.confirm_sign_up()
        .client_id(client_id)
        .username(email)
        .confirmation_code(&code)
        .send()
        .await
        .unwrap();
    let rec = record::get(ctx, "initech")
        .await
        .unwrap()
        .expect("the trigger recorded the tenant");
    assert_eq!(rec.admin_email.as_deref(), Some(email));
    let execution = onboard::execution_arn(&t.ops.onboarding_arn, &rec.execution);
    let done = onboard::wait(&t.ops, &execution, Duration::from_secs(90))
        .await
        .unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    assert_eq!(
        record::get(ctx, "initech").await.unwrap().unwrap().status,
        Status::Active
    );
    let group = TenantNames::new(&tid("initech")).group;
    assert_eq!(user_groups(ctx, email).await, Some(vec![group]));
    let signed_in = idp
        .admin_initiate_auth()
        .user_pool_id(&ctx.settings.user_pool_id)
        .client_id(client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .unwrap();
    assert!(signed_in.authentication_result().and_then(|a| a.id_token()).is_some());
}

/// The page in verify mode: sign up with a password, nothing provisioned, the code from
/// the local mailbox, a wrong code and repeats answered clearly, then ACTIVE.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_in_verify_mode_takes_the_code_before_anything_is_provisioned() {
    let t = spawn().await;
    let ctx = &t.ops.ctx;
    let arn = &t.ops.onboarding_arn;
    let verify = signup::Mode::Verify;
    let email = "admin@globex.example";
    let request = json!({"company_name": "Globex", "tenant_id": "globex", "admin_email": email, "password": "Hank-Scorpio-2024!"});
    let first = signup::handle_mode(ctx, arn, verify, post_json(request.clone())).await;
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(body(&first)["next"], "confirm");
    assert!(
        record::get(ctx, "globex").await.unwrap().is_none(),
        "nothing before the code"
    );
    let again = signup::handle_mode(ctx, arn, verify, post_json(request.clone())).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert!(
        body(&again)["errors"]["admin_email"]
            .as_str()
            .unwrap()
            .contains("already signed up")
    );
    let weak = signup::handle_mode(
        ctx,
        arn,
        verify,
        post_json(
            json!({"company_name": "Weak", "tenant_id": "weak", "admin_email": "a@weak.example", "password": "short"}),
        ),
    )
    .await;
    assert_eq!(weak.status, 400, "{weak:?}");
    assert!(body(&weak)["errors"]["password"].is_string());

    let confirm = |code: &str| {
        let mut r = post_json(json!({"admin_email": email, "tenant_id": "globex", "code": code}));
        r.path = "/signup/confirm".into();
        r
    };
    let code = tenant_localstack::mailbox::latest_code(&t.stack.mailbox, email)
        .unwrap()
        .unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = signup::handle_mode(ctx, arn, verify, confirm(wrong)).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        body(&refused)["errors"]["code"]
            .as_str()
            .unwrap()
            .contains("not the one we sent")
    );
    assert!(record::get(ctx, "globex").await.unwrap().is_none());

    let ok = signup::handle_mode(ctx, arn, verify, confirm(&code)).await;
    assert_eq!(ok.status, 202, "{ok:?}");
    assert_eq!(body(&ok)["status_url"], "signup/globex");
    let rec = record::get(ctx, "globex").await.unwrap().unwrap();
    let execution = onboard::execution_arn(arn, &rec.execution);
    let done = onboard::wait(&t.ops, &execution, Duration::from_secs(90))
        .await
        .unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let progress = body(&signup::handle_mode(ctx, arn, verify, get("/signup/globex")).await);
    assert_eq!(progress["status"], "ACTIVE", "{progress}");

    let twice = signup::handle_mode(ctx, arn, verify, confirm(&code)).await;
    assert_eq!(twice.status, 409, "{twice:?}");
    let taken = signup::handle_mode(
        ctx,
        arn,
        verify,
        post_json(json!({"company_name": "Globex 2", "tenant_id": "globex", "admin_email": "b@globex2.example", "password": "Hank-Scorpio-2024!"})),
    )
    .await;
    assert_eq!(taken.status, 409, "{taken:?}");
    assert!(body(&taken)["errors"]["tenant_id"].as_str().unwrap().contains("taken"));
}

/// The abuse the verify mode answers: 200 valid sign-ups whose emails are never confirmed
/// create no record, IAM role, Cognito group or secret, and start no execution.
#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_unverified_sign_ups_create_nothing_but_pool_users() {
    let t = spawn().await;
    let ctx = &t.ops.ctx;
    let arn = &t.ops.onboarding_arn;
    for i in 0..200 {
        let r = signup::handle_mode(
            ctx,
            arn,
            signup::Mode::Verify,
            post_json(json!({
                "company_name": format!("Spam {i}"),
                "tenant_id": format!("spam-{i:03}"),
                "admin_email": format!("victim{i}@example.com"),
                "password": "Spam-Spam-2024!",
            })),
        )
        .await;
        assert_eq!(r.status, 202, "{i}: {r:?}");
    }
    let c = &ctx.clients;
    let items = c.ddb.scan().table_name(&ctx.settings.table).send().await.unwrap();
    let spam = items
        .items()
        .iter()
        .filter(|item| {
            item.get("tenant_id")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|id| id.starts_with("spam-"))
        })
        .count();
    assert_eq!(spam, 0, "{:?}", items.items());
    let roles = c.iam.list_roles().path_prefix("/tenants/").send().await.unwrap();
    assert!(roles.roles().is_empty(), "{:?}", roles.roles());
    let groups = c
        .idp
        .list_groups()
        .user_pool_id(&ctx.settings.user_pool_id)
        .send()
        .await
        .unwrap();
    assert!(groups.groups().is_empty(), "{:?}", groups.groups());
    let secrets = c.secrets.list_secrets().send().await.unwrap();
    assert!(secrets.secret_list().is_empty());
    let executions = c.sfn.list_executions().state_machine_arn(arn).send().await.unwrap();
    assert!(executions.executions().is_empty());
    // Each code went to its own address only.
    let mail = tenant_localstack::mailbox::read(&t.stack.mailbox, None).unwrap();
    assert_eq!(mail.len(), 200);
}

/// Nothing lingers in verify mode either: a sign-up whose code was never entered holds its
/// address only for the deployment's lifetime (10 s here). Within it the address is 409;
/// after it the same address signs up again (the stale UNCONFIRMED user is removed), the
/// old code no longer confirms, and the new one reaches ACTIVE.
#[tokio::test(flavor = "multi_thread")]
async fn an_unconfirmed_sign_up_expires_and_its_address_signs_up_again() {
    let t = crate::helpers::spawn_stack(tenant_localstack::Options {
        iam_wait_seconds: 0,
        // Long enough that the check within it runs within it on a loaded machine.
        signup_lifetime_seconds: 10,
        ..Default::default()
    })
    .await;
    let (ctx, arn, verify) = (&t.ops.ctx, &t.ops.onboarding_arn, signup::Mode::Verify);
    let email = "admin@globex.example";
    let request = json!({"company_name": "Globex", "tenant_id": "globex", "admin_email": email, "password": "Hank-Scorpio-2024!"});
    let first = signup::handle_mode(ctx, arn, verify, post_json(request.clone())).await;
    assert_eq!(first.status, 202, "{first:?}");
    let old_code = tenant_localstack::mailbox::latest_code(&t.stack.mailbox, email)
        .unwrap()
        .unwrap();
    let within = signup::handle_mode(ctx, arn, verify, post_json(request.clone())).await;
    assert_eq!(within.status, 409, "{within:?}");

    tokio::time::sleep(Duration::from_secs(11)).await;
    let after = signup::handle_mode(ctx, arn, verify, post_json(request)).await;
    assert_eq!(after.status, 202, "{after:?}");
    assert_eq!(body(&after)["next"], "confirm");
    let new_code = tenant_localstack::mailbox::latest_code(&t.stack.mailbox, email)
        .unwrap()
        .unwrap();
    let confirm = |code: &str| {
        let mut r = post_json(json!({"admin_email": email, "tenant_id": "globex", "code": code}));
        r.path = "/signup/confirm".into();
        r
    };
    if new_code != old_code {
        let stale = signup::handle_mode(ctx, arn, verify, confirm(&old_code)).await;
        assert_eq!(stale.status, 400, "the expired sign-up's code: {stale:?}");
    }
    let ok = signup::handle_mode(ctx, arn, verify, confirm(&new_code)).await;
    assert_eq!(ok.status, 202, "{ok:?}");
    let rec = wait_for_status(
        ctx,
        "globex",
        &[Status::Active, Status::Failed],
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(rec.status, Status::Active, "{rec:?}");
}

/// One HTTP/1.1 request to the local page over a real socket (so the page sees the peer
/// address, as API Gateway's sourceIp): status, headers (lower-cased names) and body.
async fn http_post(port: u16, body: &Value) -> (u16, Vec<(String, String)>, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "POST /signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, serde_json::from_str(payload).unwrap_or(Value::Null))
}

/// The abuse limits through the page's socket (approve mode, so nothing is provisioned):
/// with 2 per email and 3 per source address an hour, the third sign-up of one email is
/// 429 naming the email limit, and the fourth from this address (a new email) is 429
/// naming the address limit; each tells the limit and the wait, in the body and in
/// `Retry-After`; neither holds its id.
#[tokio::test(flavor = "multi_thread")]
async fn sign_ups_over_the_per_email_and_per_source_limits_are_told_when_to_retry() {
    use tenant_domain::limit::Limit;
    let t = crate::helpers::spawn_stack(tenant_localstack::Options {
        iam_wait_seconds: 0,
        signup_mode: signup::Mode::Approve,
        signup_limit_per_email: Limit {
            max: 2,
            window_seconds: 3600,
        },
        signup_limit_per_source: Limit {
            max: 3,
            window_seconds: 3600,
        },
        ..Default::default()
    })
    .await;
    let port = t.stack.signup_port;
    let form = |id: &str, email: &str| json!({"company_name": "Spam", "tenant_id": id, "admin_email": email});
    for id in ["spam-one", "spam-two"] {
        let (status, _, b) = http_post(port, &form(id, "spam@example.com")).await;
        assert_eq!(status, 202, "{id}: {b}");
    }
    // Invalid requests do not count.
    let (status, _, _) = http_post(port, &json!({"tenant_id": "Bad!"})).await;
    assert_eq!(status, 400);
    let (status, headers, b) = http_post(port, &form("spam-three", "SPAM@example.com")).await;
    assert_eq!(status, 429, "{b}");
    assert_eq!(
        b["limit"],
        json!({"scope": "email", "max": 2, "window_seconds": 3600}),
        "{b}"
    );
    let wait = b["retry_after_seconds"].as_u64().unwrap();
    assert!((1..=3600).contains(&wait), "{b}");
    assert!(
        headers.contains(&("retry-after".to_string(), wait.to_string())),
        "{headers:?}"
    );
    let message = b["message"].as_str().unwrap();
    assert!(
        message.contains("this email address")
            && message.contains("at most 2 every 1 hour")
            && message.contains("try again in"),
        "{message}"
    );
    let (status, headers, b) = http_post(port, &form("spam-four", "other@example.com")).await;
    assert_eq!(status, 429, "{b}");
    assert_eq!(b["limit"]["scope"], "source", "{b}");
    assert!(b["message"].as_str().unwrap().contains("your network address"), "{b}");
    assert!(headers.iter().any(|(k, _)| k == "retry-after"), "{headers:?}");
    for id in ["spam-three", "spam-four"] {
        assert!(
            record::get(&t.ops.ctx, id).await.unwrap().is_none(),
            "{id} holds nothing"
        );
    }
    assert!(record::get(&t.ops.ctx, "spam-two").await.unwrap().is_some());
}
