//! Signup: the public form's API and the `TenantSignupRequested` event, one validation
//! (`tenant_domain::signup::validate`) and one start path ([`submit`]) for both.
//!
//! - `GET /` the page; `POST /signup` records the tenant PENDING (only where no record
//!   exists) and starts its onboarding: 202, the same request again is the same tenant,
//!   a taken id is 409, invalid fields are 400 naming each one;
//! - `GET /signup/{id}` the coarse status the page polls.
//!
//! Transport-neutral so the Lambda (API Gateway HTTP API) and the local stack share it.

use aws_sdk_sfn::types::ExecutionStatus;
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::signup::{FieldErrors, RawSignup, Signup, validate};
use tenant_domain::{Status, TenantId};

use crate::events::TENANT_SIGNUP_REQUESTED;
use crate::launch::{execution_arn, execution_name, start_onboarding};
use crate::{Context, StepError, record};

/// Bodies above this are refused before parsing: the form is three short fields.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The request path (`/`, `/signup`, `/signup/{id}`), without the query.
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

const PAGE: &str = include_str!("signup_page.html");

/// Where a signup came from; kept on the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Form,
    Event,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Form => "signup-form",
            Source::Event => "signup-event",
        }
    }
}

/// What became of a valid signup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Onboarding was started, or this same request had already started it.
    Accepted {
        tenant_id: String,
        execution: String,
        attempt: u32,
        status: Status,
        repeated: bool,
    },
    /// Another signup (or an operator) holds the id.
    Taken { tenant_id: String },
}

/// The shared start path: record PENDING where no record exists, then start the
/// execution. A repeat of an accepted request converges on the same tenant and execution.
pub async fn submit(
    ctx: &Context,
    onboarding_arn: &str,
    signup: &Signup,
    source: Source,
) -> Result<Outcome, StepError> {
    let tenant = &signup.tenant_id;
    let execution = execution_name(tenant, 1);
    if record::put_pending(ctx, signup, &execution, 1, source.as_str()).await? {
        let launched = start_onboarding(
            ctx,
            onboarding_arn,
            tenant,
            Some(&signup.company_name),
            Some(&signup.admin_email),
            1,
            // A name whose execution ended long ago (a refused earlier life of the id)
            // must not block it.
            true,
        )
        .await?;
        if launched.attempt != 1 {
            record::set_pending_execution(ctx, tenant, &launched.execution_name, launched.attempt).await?;
        }
        tracing::info!(tenant = %tenant, execution = %launched.execution_name, source = source.as_str(), "signup started onboarding");
        return Ok(Outcome::Accepted {
            tenant_id: tenant.to_string(),
            execution: launched.execution_name,
            attempt: launched.attempt,
            status: Status::Pending,
            repeated: false,
        });
    }
    let Some(existing) = record::get(ctx, tenant.as_str()).await? else {
        // Removed between the write and the read: too rare to be worth a loop.
        return Err(StepError::ServiceUnavailable {
            service: "dynamodb",
            operation: "GetItem",
            message: format!("the record of {tenant} changed while signing up; try again"),
        });
    };
    let same = existing.name.as_deref() == Some(signup.company_name.as_str())
        && existing.email.as_deref() == Some(signup.admin_email.as_str());
    if !same {
        tracing::info!(tenant = %tenant, status = %existing.status, "signup refused: id taken");
        return Ok(Outcome::Taken {
            tenant_id: tenant.to_string(),
        });
    }
    if existing.status == Status::Pending {
        // The first request may have failed between the record and the start: start the
        // same execution again (idempotent for the same name and input). An execution
        // that already ran is left alone.
        match start_onboarding(
            ctx,
            onboarding_arn,
            tenant,
            Some(&signup.company_name),
            Some(&signup.admin_email),
            existing.attempt,
            false,
        )
        .await
        {
            Ok(_) | Err(StepError::StaleExecution { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Outcome::Accepted {
        tenant_id: tenant.to_string(),
        execution: existing.execution,
        attempt: existing.attempt,
        status: existing.status,
        repeated: true,
    })
}

fn json_response(status: u16, body: Value) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: body.to_string(),
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The answer for a browser without JavaScript (a plain form post).
fn html_response(status: u16, lines: &[String]) -> Response {
    let items: String = lines.iter().map(|l| format!("<p>{}</p>", escape_html(l))).collect();
    Response {
        status,
        content_type: "text/html; charset=utf-8",
        body: format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign up</title></head>\
             <body>{items}<p><a href=\"./\">Back</a></p></body></html>\n"
        ),
    }
}

fn unavailable(json_client: bool) -> Response {
    let message = "Signup is unavailable right now; please try again in a minute.";
    if json_client {
        json_response(503, json!({ "message": message }))
    } else {
        html_response(503, &[message.to_string()])
    }
}

fn invalid(json_client: bool, errors: &FieldErrors) -> Response {
    let message = "Some fields need fixing.";
    if json_client {
        json_response(400, json!({ "message": message, "errors": errors.0 }))
    } else {
        let mut lines = vec![message.to_string()];
        lines.extend(errors.0.values().cloned());
        html_response(400, &lines)
    }
}

/// The first key that appears twice in one JSON object of `body` (already known to parse).
fn duplicate_key(body: &[u8]) -> Option<String> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Dups(Option<String>);
    impl<'de> Visitor<'de> for &mut Dups {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(k) = map.next_key::<String>()? {
                if !seen.insert(k.clone()) && self.0.is_none() {
                    self.0 = Some(k);
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    // Only the top-level object's keys matter: nested values are not signup fields.
    let mut dups = Dups(None);
    serde_json::Deserializer::from_slice(body)
        .deserialize_any(&mut dups)
        .ok()?;
    dups.0
}

fn parse_body(json_client: bool, body: &[u8]) -> Result<RawSignup, String> {
    if json_client {
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("the request is not JSON: {e}"))?;
        // JSON parsers disagree on which of two equal keys wins; refuse the ambiguity.
        if let Some(key) = duplicate_key(body) {
            return Err(format!("duplicate field {key:?}: give each field once"));
        }
        RawSignup::from_json(&v)
    } else {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| format!("could not read the form: {e}"))?;
        Ok(RawSignup::from_pairs(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }
}

async fn post_signup(ctx: &Context, onboarding_arn: &str, req: &Request) -> Response {
    let json_client = req
        .content_type
        .as_deref()
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
    if req.body.len() > MAX_BODY {
        let message = format!("the request is larger than {MAX_BODY} bytes");
        return if json_client {
            json_response(413, json!({ "message": message }))
        } else {
            html_response(413, &[message])
        };
    }
    let raw = match parse_body(json_client, &req.body) {
        Ok(r) => r,
        Err(message) => {
            return if json_client {
                json_response(400, json!({ "message": message, "errors": {} }))
            } else {
                html_response(400, &[message])
            };
        }
    };
    let signup = match validate(&raw) {
        Ok(s) => s,
        Err(errors) => return invalid(json_client, &errors),
    };
    match submit(ctx, onboarding_arn, &signup, Source::Form).await {
        Ok(Outcome::Accepted {
            tenant_id,
            execution,
            attempt,
            status,
            repeated,
        }) => {
            let message = format!("Thanks! Workspace {tenant_id} is being set up.");
            let status_url = format!("signup/{tenant_id}");
            if json_client {
                json_response(
                    202,
                    json!({
                        "message": message,
                        "tenant_id": tenant_id,
                        "status": status,
                        "status_url": status_url,
                        "execution": execution,
                        "attempt": attempt,
                        "repeated": repeated,
                    }),
                )
            } else {
                html_response(202, &[message, format!("Progress: {status_url}")])
            }
        }
        Ok(Outcome::Taken { tenant_id }) => {
            let message = format!("Workspace id {tenant_id} is taken; choose another.");
            if json_client {
                json_response(
                    409,
                    json!({
                        "message": message,
                        "errors": { tenant_domain::signup::TENANT_ID: message },
                    }),
                )
            } else {
                html_response(409, &[message])
            }
        }
        Err(e) => {
            tracing::error!(error = e.name(), message = %e, tenant = %signup.tenant_id, "signup could not start onboarding");
            unavailable(json_client)
        }
    }
}

/// The coarse status the page shows; never the admin email or the company name (anyone
/// may ask about any id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub tenant_id: String,
    pub status: Status,
    /// `in_progress`, `active`, `failed` or `closed`: the page polls until not `in_progress`.
    pub phase: &'static str,
    pub attempt: u32,
    pub message: String,
}

pub async fn progress(ctx: &Context, onboarding_arn: &str, tenant: &TenantId) -> Result<Option<Progress>, StepError> {
    let Some(rec) = record::get(ctx, tenant.as_str()).await? else {
        return Ok(None);
    };
    let (phase, message) = match rec.status {
        Status::Pending | Status::Provisioning => {
            // A refusal at the first step (e.g. no room for another tenant) ends the
            // execution without touching the record: ask Step Functions.
            match execution_ended(ctx, onboarding_arn, &rec.execution).await? {
                Some(status) => (
                    "failed",
                    format!(
                        "Setting up {tenant} stopped ({}); please contact support.",
                        status.as_str()
                    ),
                ),
                None => ("in_progress", format!("Setting up {tenant}…")),
            }
        }
        Status::RollingBack => ("in_progress", format!("Setting up {tenant} failed; cleaning up…")),
        Status::Active => (
            "active",
            format!("Workspace {tenant} is ready. The admin has been sent an invitation by email."),
        ),
        Status::Failed | Status::RollbackFailed => (
            "failed",
            format!("Setting up {tenant} failed; our operators have the details. Please contact support."),
        ),
        Status::Offboarding | Status::Offboarded => ("closed", format!("Workspace {tenant} has been closed.")),
    };
    Ok(Some(Progress {
        tenant_id: tenant.to_string(),
        status: rec.status,
        phase,
        attempt: rec.attempt,
        message,
    }))
}

/// The end status of an execution that is no longer running; `None` while it runs (or
/// has not started yet).
async fn execution_ended(
    ctx: &Context,
    onboarding_arn: &str,
    execution: &str,
) -> Result<Option<ExecutionStatus>, StepError> {
    let out = ctx
        .clients
        .sfn
        .describe_execution()
        .execution_arn(execution_arn(onboarding_arn, execution))
        .send()
        .await;
    match out {
        Ok(d) if *d.status() == ExecutionStatus::Running => Ok(None),
        Ok(d) => Ok(Some(d.status().clone())),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_does_not_exist()) => Ok(None),
        Err(e) => Err(crate::error::classify("stepfunctions", "DescribeExecution", &e)),
    }
}

async fn get_status(ctx: &Context, onboarding_arn: &str, raw_id: &str) -> Response {
    let decoded = percent_decode(raw_id);
    let tenant = match TenantId::parse(&decoded) {
        Ok(t) => t,
        Err(e) => return json_response(400, json!({ "message": e.to_string() })),
    };
    match progress(ctx, onboarding_arn, &tenant).await {
        Ok(Some(p)) => json_response(200, json!(p)),
        Ok(None) => json_response(404, json!({ "message": format!("no signup for workspace {tenant}") })),
        Err(e) => {
            tracing::error!(error = e.name(), message = %e, tenant = %tenant, "signup status could not be read");
            unavailable(true)
        }
    }
}

/// `%XX` escapes of a path segment; anything malformed is kept literally (and then fails
/// the id grammar).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Routes one HTTP request.
pub async fn handle(ctx: &Context, onboarding_arn: &str, req: Request) -> Response {
    let path = req.path.split('?').next().unwrap_or_default();
    let path = path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET" | "HEAD", "" | "/signup") => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.to_string(),
        },
        ("POST", "/signup") => post_signup(ctx, onboarding_arn, &req).await,
        ("GET", p) if p.starts_with("/signup/") && !p["/signup/".len()..].contains('/') => {
            get_status(ctx, onboarding_arn, &p["/signup/".len()..]).await
        }
        (_, "" | "/signup") => json_response(
            405,
            json!({ "message": "use GET for the page or POST /signup to sign up" }),
        ),
        _ => json_response(404, json!({ "message": "not found" })),
    }
}

/// The `TenantSignupRequested` handler: the event's `detail` goes through the same
/// validation and start path as the form. Invalid and conflicting requests are refused
/// with an error log and nothing created, and answered `Ok` (redelivering them would not
/// help); only a failure to record or start is an error, so EventBridge retries.
pub async fn handle_event(ctx: &Context, onboarding_arn: &str, event: Value) -> Result<Value, StepError> {
    let detail_type = event.get("detail-type").and_then(Value::as_str).unwrap_or_default();
    let event_id = event.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    if detail_type != TENANT_SIGNUP_REQUESTED {
        tracing::error!(
            event_id,
            detail_type,
            "event refused: not a {TENANT_SIGNUP_REQUESTED} event; check the rule's pattern"
        );
        return Ok(
            json!({ "outcome": "refused", "reason": format!("detail-type {detail_type:?} is not {TENANT_SIGNUP_REQUESTED}") }),
        );
    }
    let raw = match RawSignup::from_json(event.get("detail").unwrap_or(&Value::Null)) {
        Ok(raw) => raw,
        Err(reason) => {
            tracing::error!(
                event_id,
                reason,
                "{TENANT_SIGNUP_REQUESTED} refused: the detail must be a JSON object with tenant_id, company_name and admin_email; nothing was created"
            );
            return Ok(json!({ "outcome": "refused", "reason": reason }));
        }
    };
    let signup = match validate(&raw) {
        Ok(s) => s,
        Err(errors) => {
            let tenant = match &raw.tenant_id {
                tenant_domain::signup::RawField::Text(t) => t.chars().take(64).collect::<String>(),
                _ => String::new(),
            };
            tracing::error!(event_id, tenant, errors = %errors, "{TENANT_SIGNUP_REQUESTED} refused: invalid fields; nothing was created; the sender must correct and resend");
            return Ok(json!({ "outcome": "refused", "errors": errors.0 }));
        }
    };
    let outcome = submit(ctx, onboarding_arn, &signup, Source::Event).await?;
    if let Outcome::Taken { tenant_id } = &outcome {
        tracing::error!(event_id, tenant = %tenant_id, "{TENANT_SIGNUP_REQUESTED} refused: workspace id {tenant_id} is taken by another signup; the sender must choose another id");
    }
    Ok(json!(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        let r = html_response(400, &["tenant id \"<script>\" is bad".to_string()]);
        assert!(r.body.contains("&lt;script&gt;"));
        assert!(!r.body.contains("<script>"));
    }

    #[test]
    fn invalid_json_names_each_field() {
        let raw = RawSignup::from_json(&json!({"tenant_id": "Acme", "company_name": "", "admin_email": "x"})).unwrap();
        assert!(
            parse_body(true, br#"{"tenant_id": "acme", "tenant_id": "Acme"}"#)
                .unwrap_err()
                .contains("duplicate field \"tenant_id\"")
        );
        assert!(
            parse_body(true, br#"{"tenant_id": "acme", "role": "admin"}"#)
                .unwrap_err()
                .contains("unknown field \"role\"")
        );
        let r = invalid(true, &validate(&raw).unwrap_err());
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(r.status, 400);
        for field in ["tenant_id", "company_name", "admin_email"] {
            assert!(v["errors"][field].is_string(), "{field}: {v}");
        }
    }

    #[test]
    fn bodies_of_any_shape_are_answered() {
        assert!(parse_body(true, b"[1,2]").is_err());
        assert!(parse_body(true, b"\xff\xfe").is_err());
        assert!(parse_body(false, b"tenant_id=%ZZ&&=").is_ok());
        let raw = parse_body(false, b"tenant_id=acme&company_name=Acme+Inc&admin_email=a%40acme.io").unwrap();
        assert!(validate(&raw).is_ok());
    }

    /// A context whose clients point nowhere: every case below must be answered before
    /// any AWS call.
    fn offline() -> Context {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let settings = crate::Settings::from_lookup(|k| match k {
            "TENANT_MAPPING_TYPE" | "TENANT_VERIFY" | "TENANT_PROPAGATION_BUDGET_SECONDS" => None,
            _ => Some("x".into()),
        })
        .unwrap();
        Context {
            settings,
            clients: crate::Clients::new(&config),
        }
    }

    #[test]
    fn routes_and_refusals_need_no_aws() {
        let ctx = offline();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let call = |method: &str, path: &str, ct: Option<&str>, body: &[u8]| {
            rt.block_on(handle(
                &ctx,
                "arn:aws:states:us-east-1:1:stateMachine:x",
                Request {
                    method: method.into(),
                    path: path.into(),
                    content_type: ct.map(str::to_string),
                    body: body.to_vec(),
                },
            ))
        };
        let json = Some("application/json");
        assert_eq!(call("GET", "/", None, b"").status, 200);
        assert_eq!(call("GET", "/signup", None, b"").status, 200);
        assert_eq!(call("DELETE", "/signup", None, b"").status, 405);
        assert_eq!(call("GET", "/other", None, b"").status, 404);
        assert_eq!(call("GET", "/signup/a/b", None, b"").status, 404);
        assert_eq!(call("GET", "/signup/%2A", None, b"").status, 400);
        assert_eq!(call("POST", "/signup", json, &vec![b' '; MAX_BODY + 1]).status, 413);
        for body in [
            &b"{"[..],
            b"null",
            b"[]",
            b"\"\"",
            b"{\"tenant_id\": {}}",
            &[b'['; 10_000][..],
        ] {
            let r = call("POST", "/signup", json, body);
            assert_eq!(r.status, 400, "{:?}: {r:?}", String::from_utf8_lossy(body));
            assert!(serde_json::from_str::<Value>(&r.body).is_ok());
        }
        let r = call(
            "POST",
            "/signup",
            Some("Application/JSON; charset=utf-8"),
            br#"{"tenant_id":"Acme"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(body_errors(&r).len(), 3);
        let r = call(
            "POST",
            "/signup",
            Some("application/x-www-form-urlencoded"),
            b"tenant_id=%FF%FE&company_name=%3Cb%3E",
        );
        assert_eq!(r.status, 400);
        assert!(!r.body.contains("<b>"));
        // The event path refuses the same way, before any AWS call.
        for event in [
            json!({}),
            json!({"detail-type": "Other", "detail": {}}),
            json!({"detail-type": "TenantSignupRequested", "detail": "tenant_id=acme"}),
            json!({"detail-type": "TenantSignupRequested", "detail": {"tenant_id": "acme", "company_name": "Acme", "admin_email": "x@y"}}),
        ] {
            let out = rt.block_on(handle_event(&ctx, "arn", event.clone())).unwrap();
            assert_eq!(out["outcome"], "refused", "{event}");
        }
    }

    fn body_errors(r: &Response) -> serde_json::Map<String, Value> {
        serde_json::from_str::<Value>(&r.body).unwrap()["errors"]
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn path_segments_are_decoded() {
        assert_eq!(percent_decode("acme%2Dlabs"), "acme-labs");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%E2%82%AC"), "€");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%é%"), "%é%");
    }
}
