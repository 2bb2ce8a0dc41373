//! The public signup form: `GET /signup` serves it, `POST /signup` validates the tenant id
//! and starts the onboarding workflow. Transport-neutral so the Lambda (API Gateway HTTP
//! API) and the local stack's endpoint share it.

use serde::Deserialize;
use serde_json::json;
use tenant_domain::TenantId;

use crate::{Context, record};

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// Unknown fields are refused so a caller learns that a field it thinks it set (a role,
/// an execution) is not something signup takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    tenant_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

const FORM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign up</title></head>
<body>
<h1>Create your workspace</h1>
<form method="post" action="signup">
  <p><label>Workspace id <input name="tenant_id" required pattern="[a-z][a-z0-9]*(-[a-z0-9]+)*" minlength="3" maxlength="32"></label>
     <small>3–32 lowercase letters, digits and single hyphens, starting with a letter</small></p>
  <p><label>Company name <input name="name" maxlength="100"></label></p>
  <p><label>Contact email <input name="email" type="email" maxlength="254"></label></p>
  <p><button type="submit">Sign up</button></p>
</form>
</body></html>
"#;

fn escape_html(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Answers in the client's dialect: JSON for JSON requests, HTML for the form.
fn reply(json_client: bool, status: u16, message: &str, extra: serde_json::Value) -> Response {
    if json_client {
        let mut body = json!({ "message": message });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        Response {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    } else {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign up</title></head><body><p>{}</p><p><a href=\"signup\">Back</a></p></body></html>\n",
            escape_html(message)
        );
        Response {
            status,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }
}

/// The largest request body signup reads: the form's three fields fit many times over.
/// Larger bodies are refused before parsing (API Gateway alone would pass 10 MB).
pub const MAX_BODY: usize = 16 * 1024;

fn parse_form(json_client: bool, body: &[u8]) -> Result<Form, String> {
    if !json_client {
        return serde_urlencoded::from_bytes(body).map_err(|e| e.to_string());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    if !value.is_object() {
        return Err(format!(
            "expected a JSON object, got {}",
            crate::input::json_kind(&value)
        ));
    }
    // Read from the raw body, not the value: a duplicate field is refused (parsers disagree
    // on which of two values wins) and a wrong type is reported with its field.
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
        .map_err(crate::input::describe_path_error)
}

pub async fn handle(ctx: &Context, onboarding_arn: &str, req: Request) -> Response {
    let json_client = req
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"));
    match req.method.as_str() {
        "GET" => {
            return Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: FORM.to_string(),
            };
        }
        "POST" => {}
        _ => return reply(json_client, 405, "use GET for the form or POST to sign up", json!({})),
    }
    if req.body.len() > MAX_BODY {
        let message = format!(
            "request body is {} bytes; signup takes at most {MAX_BODY}",
            req.body.len()
        );
        return reply(json_client, 413, &message, json!({}));
    }
    let form = match parse_form(json_client, &req.body) {
        Ok(f) => f,
        Err(e) => return reply(json_client, 400, &format!("could not read the form: {e}"), json!({})),
    };
    let tenant = match TenantId::parse(&form.tenant_id) {
        Ok(t) => t,
        Err(e) => return reply(json_client, 400, &e.to_string(), json!({})),
    };
    let name = form.name.filter(|s| !s.trim().is_empty());
    let email = form.email.filter(|s| !s.trim().is_empty());
    let checked = name
        .as_deref()
        .map_or(Ok(()), tenant_domain::contact::check_name)
        .and(email.as_deref().map_or(Ok(()), tenant_domain::contact::check_email));
    if let Err(e) = checked {
        return reply(json_client, 400, &e.to_string(), json!({}));
    }
    match record::get(ctx, tenant.as_str()).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return reply(
                json_client,
                409,
                &format!("workspace id {tenant} is taken; choose another"),
                json!({}),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, tenant = %tenant, "signup could not read the tenants table");
            return reply(
                json_client,
                503,
                "signup is unavailable right now; try again in a minute",
                json!({}),
            );
        }
    }
    // No record: a first attempt refused earlier (e.g. a full mapping) must not block the id.
    let launched =
        crate::launch::start_onboarding(ctx, onboarding_arn, &tenant, name.as_deref(), email.as_deref(), 1, true).await;
    let execution = match launched {
        Ok(l) => l.execution_name,
        Err(e) => {
            tracing::error!(error = %e, tenant = %tenant, "signup could not start onboarding");
            return reply(
                json_client,
                503,
                "signup is unavailable right now; try again in a minute",
                json!({}),
            );
        }
    };
    tracing::info!(tenant = %tenant, execution, "signup started onboarding");
    reply(
        json_client,
        202,
        &format!("Thanks! Workspace {tenant} is being set up."),
        json!({ "tenant_id": tenant, "execution": execution }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        let r = reply(false, 400, "tenant id \"<script>\" is bad", json!({}));
        assert!(r.body.contains("&lt;script&gt;"));
        assert!(!r.body.contains("<script>"));
    }

    #[test]
    fn json_replies_carry_extra_fields() {
        let r = reply(true, 202, "ok", json!({"tenant_id": "acme"}));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["tenant_id"], "acme");
        assert_eq!(v["message"], "ok");
    }

    #[test]
    fn json_forms_name_the_problem() {
        let err = |body: &str| parse_form(true, body.as_bytes()).unwrap_err();
        assert!(err(r#"{"tenant_id": 3}"#).contains("tenant_id: invalid type: integer"));
        assert!(err(r#"{"tenant_id": "acme", "role_arn": "x"}"#).contains("unknown field `role_arn`"));
        assert!(err(r#"{"tenant_id": "acme", "tenant_id": "Acme"}"#).contains("duplicate field `tenant_id`"));
        assert!(err(r#"["acme"]"#).contains("an array"));
        assert!(err(r#"{"tenant_id": "acme"} x"#).contains("trailing characters"));
        assert!(parse_form(true, br#"{"tenant_id": "acme", "name": null}"#).is_ok());
    }
}
