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

#[derive(Debug, Deserialize)]
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

fn check_field(label: &str, value: &Option<String>, max: usize) -> Result<(), String> {
    match value {
        Some(v) if v.chars().count() > max => Err(format!("{label} is longer than {max} characters")),
        Some(v) if v.chars().any(char::is_control) => Err(format!("{label} contains control characters")),
        _ => Ok(()),
    }
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
    let form: Result<Form, String> = if json_client {
        serde_json::from_slice(&req.body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&req.body).map_err(|e| e.to_string())
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => return reply(json_client, 400, &format!("could not read the form: {e}"), json!({})),
    };
    let tenant = match TenantId::parse(form.tenant_id.trim()) {
        Ok(t) => t,
        Err(e) => return reply(json_client, 400, &e.to_string(), json!({})),
    };
    let name = form.name.filter(|s| !s.trim().is_empty());
    let email = form.email.filter(|s| !s.trim().is_empty());
    if let Err(m) = check_field("name", &name, 100).and(check_field("email", &email, 254)) {
        return reply(json_client, 400, &m, json!({}));
    }
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return reply(json_client, 400, "email is not an address", json!({}));
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
    fn fields_are_bounded() {
        assert!(check_field("name", &Some("x".repeat(101)), 100).is_err());
        assert!(check_field("name", &Some("a\u{0}b".into()), 100).is_err());
        assert!(check_field("name", &Some("Acme Labs".into()), 100).is_ok());
    }
}
