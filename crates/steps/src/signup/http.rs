//! The page's HTTP API: routes, body parsing and the answers for JSON and plain-form clients.

use serde_json::{Value, json};
use tenant_domain::TenantId;
use tenant_domain::signup::{FieldErrors, RawSignup, validate};

use super::json::duplicate_key;
use super::progress::progress;
use super::submit::{SignupOutcome, Source, hold, submit};
use super::verify::{self, Mode};
use crate::Context;

const PAGE: &str = include_str!("page.html");

/// Bodies above this are refused before parsing: the form is three short fields.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The request path (`/`, `/signup`, `/signup/{id}`), without the query.
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The client's address (API Gateway's `sourceIp`; locally the peer), for the
    /// per-source limit. None in process (tests).
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// Headers besides the content type (`Allow` on a 405, `Accept-Post` on a 415).
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The request body types `POST /signup` reads, as a 415 names them.
pub const ACCEPTED_TYPES: [&str; 2] = ["application/json", "application/x-www-form-urlencoded"];

/// How a body is read, from its media type (parameters and case ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
}

fn body_kind(content_type: Option<&str>) -> Option<BodyKind> {
    let media = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Some(BodyKind::Json),
        "application/x-www-form-urlencoded" => Some(BodyKind::Form),
        _ => None,
    }
}

fn json_response(status: u16, body: Value) -> Response {
    Response {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// A 405 naming the methods the path has, in the body and the `Allow` header.
fn method_not_allowed(method: &str, path: &str, allow: &'static str) -> Response {
    let shown = if path.is_empty() { "/" } else { path };
    let mut r = json_response(
        405,
        json!({ "message": format!("{method} is not allowed on {shown}; use {allow}"), "allow": allow }),
    );
    r.headers.push(("allow", allow.to_string()));
    r
}

fn unsupported_type(content_type: Option<&str>) -> Response {
    let accepted = ACCEPTED_TYPES.join(", ");
    let sent = content_type.unwrap_or("no content type");
    let mut r = json_response(
        415,
        json!({
            "message": format!("a signup body of type {sent:?} cannot be read; send {}", ACCEPTED_TYPES.join(" or ")),
            "accepted": ACCEPTED_TYPES,
        }),
    );
    r.headers.push(("accept-post", accepted));
    r
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
        headers: Vec::new(),
        body: format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign up</title></head>\
             <body>{items}<p><a href=\"./\">Back</a></p></body></html>\n"
        ),
    }
}

/// Counts a valid sign-up against the limits; the 429 answer (with `Retry-After`) when it
/// is over one, or a 503 when the counters cannot be reached.
async fn over_limit(ctx: &Context, req: &Request, email: &str, json_client: bool) -> Option<Response> {
    let refusal = match super::limits::admit(ctx, req.source.as_deref(), email).await {
        Ok(r) => r?,
        Err(e) => {
            tracing::error!(error = e.name(), message = %e, "signup limits could not be counted");
            return Some(unavailable(json_client));
        }
    };
    let message = refusal.message();
    let mut r = if json_client {
        json_response(
            429,
            json!({
                "message": message,
                "limit": {
                    "scope": refusal.scope.as_str(),
                    "max": refusal.limit.max,
                    "window_seconds": refusal.limit.window_seconds,
                },
                "retry_after_seconds": refusal.retry_after_seconds,
            }),
        )
    } else {
        html_response(429, &[message])
    };
    r.headers.push(("retry-after", refusal.retry_after_seconds.to_string()));
    Some(r)
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

async fn post_signup(ctx: &Context, onboarding_arn: &str, mode: Mode, req: &Request) -> Response {
    // Any other type used to be read as an empty form ("tenant id is required" for
    // fields that were sent): name the types that are read instead.
    let Some(kind) = body_kind(req.content_type.as_deref()) else {
        return unsupported_type(req.content_type.as_deref());
    };
    let json_client = kind == BodyKind::Json;
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
    if let Some(r) = over_limit(ctx, req, &signup.admin_email, json_client).await {
        return r;
    }
    let outcome = match mode {
        Mode::Approve => hold(ctx, &signup, Source::Form).await,
        Mode::Open | Mode::Verify => submit(ctx, onboarding_arn, &signup, Source::Form).await,
    };
    match outcome {
        Ok(SignupOutcome::Accepted {
            tenant_id,
            execution,
            attempt,
            status,
            repeated,
        }) => {
            let message = if status == tenant_domain::Status::PendingApproval {
                format!(
                    "Thanks! Workspace {tenant_id} is waiting for an operator's approval; it is set up once approved."
                )
            } else {
                format!("Thanks! Workspace {tenant_id} is being set up.")
            };
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
        Ok(SignupOutcome::Taken { tenant_id, .. }) => {
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

async fn get_status(ctx: &Context, onboarding_arn: &str, raw_id: &str) -> Response {
    // Malformed escapes stay literal and then fail the id grammar.
    let decoded = tenant_domain::percent::decode(raw_id);
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

fn is_status_path(p: &str) -> bool {
    p.strip_prefix("/signup/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Routes one HTTP request in open mode (a valid form starts onboarding).
pub async fn handle(ctx: &Context, onboarding_arn: &str, req: Request) -> Response {
    handle_mode(ctx, onboarding_arn, Mode::Open, req).await
}

/// A verify-mode answer for a JSON client, or as HTML for a plain form post.
fn render(json_client: bool, a: verify::Answer) -> Response {
    if json_client {
        return json_response(a.status, a.body);
    }
    let mut lines = vec![a.body["message"].as_str().unwrap_or_default().to_string()];
    if let Some(errors) = a.body["errors"].as_object() {
        lines.extend(errors.values().filter_map(Value::as_str).map(str::to_string));
    }
    html_response(a.status, &lines)
}

/// The body of a verify-mode POST as a JSON object, whichever type it came as; or the
/// response refusing it.
fn verify_fields(req: &Request) -> Result<(bool, Value), Response> {
    let Some(kind) = body_kind(req.content_type.as_deref()) else {
        return Err(unsupported_type(req.content_type.as_deref()));
    };
    let json_client = kind == BodyKind::Json;
    let refuse = |status: u16, message: String| {
        if json_client {
            json_response(status, json!({ "message": message, "errors": {} }))
        } else {
            html_response(status, &[message])
        }
    };
    if req.body.len() > MAX_BODY {
        return Err(refuse(413, format!("the request is larger than {MAX_BODY} bytes")));
    }
    if json_client {
        let v: Value =
            serde_json::from_slice(&req.body).map_err(|e| refuse(400, format!("the request is not JSON: {e}")))?;
        if let Some(key) = duplicate_key(&req.body) {
            return Err(refuse(400, format!("duplicate field {key:?}: give each field once")));
        }
        return Ok((true, v));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&req.body).map_err(|e| refuse(400, format!("could not read the form: {e}")))?;
    let mut obj = serde_json::Map::new();
    for (k, v) in pairs {
        if obj.insert(k.clone(), Value::String(v)).is_some() {
            return Err(refuse(400, format!("duplicate field {k:?}: give each field once")));
        }
    }
    Ok((false, Value::Object(obj)))
}

/// Routes one HTTP request; in verify mode `POST /signup` signs the admin up with Cognito
/// and `POST /signup/confirm` takes the code.
pub async fn handle_mode(ctx: &Context, onboarding_arn: &str, mode: Mode, req: Request) -> Response {
    let path = req.path.split('?').next().unwrap_or_default();
    let path = path.trim_end_matches('/');
    if mode == Mode::Verify && req.method == "POST" && (path == "/signup" || path == "/signup/confirm") {
        let (json_client, fields) = match verify_fields(&req) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if path == "/signup/confirm" {
            return render(json_client, verify::confirm(ctx, &fields).await);
        }
        return match verify::split_password(fields) {
            Ok((raw, password)) => {
                // Only a valid sign-up counts (and only it can reach Cognito).
                if let Ok(signup) = validate(&raw)
                    && let Some(r) = over_limit(ctx, &req, &signup.admin_email, json_client).await
                {
                    return r;
                }
                render(json_client, verify::sign_up(ctx, &raw, &password).await)
            }
            Err(message) => render(
                json_client,
                verify::Answer {
                    status: 400,
                    body: json!({ "message": message, "errors": {} }),
                },
            ),
        };
    }
    match (req.method.as_str(), path) {
        ("GET" | "HEAD", "" | "/signup") => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            // The page's script reads the mode: in verify a password field, then the code.
            body: PAGE.replacen(
                "data-signup-mode=\"open\"",
                &format!("data-signup-mode=\"{}\"", mode.as_str()),
                1,
            ),
        },
        ("POST", "/signup") => post_signup(ctx, onboarding_arn, mode, &req).await,
        ("GET", p) if is_status_path(p) => get_status(ctx, onboarding_arn, &p["/signup/".len()..]).await,
        (m, "") => method_not_allowed(m, path, "GET, HEAD"),
        (m, "/signup") => method_not_allowed(m, path, "GET, HEAD, POST"),
        (m, p) if is_status_path(p) => method_not_allowed(m, p, "GET"),
        _ => json_response(
            404,
            json!({ "message": "not found: the signup page is at / and its API at /signup" }),
        ),
    }
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

    /// One request to the page's handler, with no AWS behind it.
    fn call(method: &str, path: &str, ct: Option<&str>, body: &[u8]) -> Response {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(handle(
            &Context::offline(),
            "arn:aws:states:us-east-1:1:stateMachine:x",
            Request {
                method: method.into(),
                path: path.into(),
                content_type: ct.map(str::to_string),
                body: body.to_vec(),
                source: None,
            },
        ))
    }

    #[test]
    fn routes_and_refusals_need_no_aws() {
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
    }

    #[test]
    fn content_types_routes_and_methods_are_answered_as_clients_expect() {
        let fields = b"tenant_id=acme&company_name=Acme&admin_email=a%40acme.io";
        for ct in [
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonp"),
            None,
        ] {
            let r = call("POST", "/signup", ct, fields);
            assert_eq!(r.status, 415, "{ct:?}: {r:?}");
            assert_eq!(r.content_type, "application/json");
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["accepted"], json!(ACCEPTED_TYPES), "{v}");
            assert!(
                v["message"]
                    .as_str()
                    .unwrap()
                    .contains("application/x-www-form-urlencoded")
            );
            assert_eq!(
                r.headers,
                vec![(
                    "accept-post",
                    "application/json, application/x-www-form-urlencoded".to_string()
                )]
            );
        }
        // Parameters and case do not change the type: read, then judged on its fields.
        let r = call(
            "POST",
            "/signup",
            Some("Application/X-WWW-Form-URLEncoded; charset=UTF-8"),
            b"tenant_id=A",
        );
        assert_eq!((r.status, r.content_type), (400, "text/html; charset=utf-8"));
        for (method, path, allow) in [
            ("POST", "/", "GET, HEAD"),
            ("DELETE", "/signup", "GET, HEAD, POST"),
            ("PUT", "/signup/", "GET, HEAD, POST"),
            ("POST", "/signup/acme", "GET"),
            ("DELETE", "/signup/acme", "GET"),
        ] {
            let r = call(method, path, None, b"");
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.content_type, "application/json");
            assert_eq!(r.headers, vec![("allow", allow.to_string())], "{method} {path}");
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["allow"], allow);
        }
        for (method, path) in [("GET", "/other"), ("POST", "/signup/a/b"), ("GET", "/_local/faults")] {
            let r = call(method, path, None, b"");
            assert_eq!((r.status, r.content_type), (404, "application/json"), "{method} {path}");
            assert!(r.headers.is_empty());
            assert!(serde_json::from_str::<Value>(&r.body).unwrap()["message"].is_string());
        }
    }

    fn body_errors(r: &Response) -> serde_json::Map<String, Value> {
        serde_json::from_str::<Value>(&r.body).unwrap()["errors"]
            .as_object()
            .unwrap()
            .clone()
    }
}
