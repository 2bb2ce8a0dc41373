//! Proof of isolation with real identities: a throwaway user per tenant signs in through
//! the user pool, gets credentials from the identity pool, and tries its own and every
//! other tenant's prefix and secret. Allowed or denied is decided by IAM, not by us.
//! Or any user of the pool, signed in with its own password (`--user`): it must reach
//! its one tenant's data and no other's; a user of several tenants or of none reaches none.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use aws_credential_types::Credentials;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_smithy_runtime_api::client::http::HttpConnector as _;
use base64::Engine as _;
use ring::hmac;
use serde::Serialize;
use tenant_domain::{TenantId, TenantNames};
use tenant_steps::probe::{ProbeUser, TenantSession};
use tenant_steps::resources::access::{Answer, Reach, Whose};

use crate::Ops;

/// A signed-in user and clients holding the credentials the identity pool gave it.
pub struct Identity {
    /// Who the checks name as the actor: the probe user's tenant, or the user.
    pub actor: String,
    /// The one tenant whose data this identity may reach: the probe user's tenant, or the
    /// tenant of the one tenant group a user is in (none for a user of several or none).
    pub own: Option<TenantId>,
    pub username: String,
    /// Clients holding the identity pool's credentials for the user.
    pub session: TenantSession,
    /// A throwaway probe user (deleted afterwards, with its identity); `None` for a real
    /// user, which is left as it was.
    probe: Option<ProbeUser>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub actor: String,
    pub target: String,
    pub action: String,
    pub expected: Access,
    pub actual: Access,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Access {
    Allowed,
    Denied,
    /// Neither: the call failed for another reason (counts as a failed check).
    Error,
    /// Refused before authorization because S3 does not take the request's signing method
    /// there (SigV2 in regions opened after 2014 and on buckets created after June 2020):
    /// nothing was served, so it never counts against isolation, whoever asked.
    Unsupported,
}

impl Check {
    pub fn holds(&self) -> bool {
        self.expected == self.actual || self.actual == Access::Unsupported
    }
}

/// Creates a user in the tenant's group, signs it in and exchanges its ID token for
/// identity-pool credentials (the same code the Verify step runs).
pub async fn sign_in(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Identity> {
    let (user, session) = tenant_steps::probe::sign_in(&ops.ctx, tenant)
        .await
        .with_context(|| format!("signing a probe user of {tenant} in"))?;
    Ok(Identity {
        actor: tenant.to_string(),
        own: Some(tenant.clone()),
        username: user.username.clone(),
        session,
        probe: Some(user),
    })
}

/// Deletes a probe user and forgets its identity; a real user is left alone.
pub async fn delete_user(ops: &Ops, identity: &Identity) {
    if let Some(user) = &identity.probe {
        let _ = tenant_steps::probe::delete_user(&ops.ctx, user).await;
        tenant_steps::probe::forget_identity(&ops.ctx, &identity.session.identity_id).await;
    }
}

/// The tenants whose groups `groups` names.
fn tenant_groups(groups: &[String]) -> Vec<String> {
    groups
        .iter()
        .filter_map(|g| g.strip_prefix("tenant:").and_then(|r| r.strip_suffix(":members")))
        .map(str::to_string)
        .collect()
}

/// The one tenant a user of `tenants` may reach: exactly one, and a valid id.
fn own_tenant(tenants: &[String]) -> Option<TenantId> {
    match tenants {
        [one] => TenantId::parse(one).ok(),
        _ => None,
    }
}

/// Signs an existing user of the pool in with its password and asks the identity pool
/// for credentials. `Err` only when the user cannot be found or signed in; a refusal of
/// credentials is a check: expected for a user of several tenants or none, a failure for
/// a user of one.
pub async fn sign_in_user(ops: &Ops, username: &str, password: &str) -> anyhow::Result<Result<Identity, Check>> {
    let groups = tenant_steps::users::groups_of(&ops.ctx, username)
        .await?
        .with_context(|| format!("no user {username} in pool {}", ops.ctx.settings.user_pool_id))?;
    let tenants = tenant_groups(&groups);
    let own = own_tenant(&tenants);
    let token = tenant_steps::probe::password_id_token(&ops.ctx, username, password)
        .await
        .with_context(|| format!("signing {username} in"))?;
    let member_of = if tenants.is_empty() {
        "no tenant".to_string()
    } else {
        tenants.join(", ")
    };
    match tenant_steps::probe::session(&ops.ctx, &token).await {
        Ok(session) => Ok(Ok(Identity {
            actor: username.to_string(),
            own,
            username: username.to_string(),
            session,
            probe: None,
        })),
        Err(e) => Ok(Err(Check {
            actor: username.to_string(),
            target: format!("(identity pool; member of {member_of})"),
            action: "cognito-identity:GetCredentialsForIdentity".into(),
            expected: if own.is_some() { Access::Allowed } else { Access::Denied },
            actual: Access::Denied,
            detail: e.to_string(),
        })),
    }
}

/// Signs `username` in and tries every tenant of `targets`: its own tenant's data allowed,
/// every other's denied. A user whose credentials are refused reaches nothing.
pub async fn check_user(ops: &Ops, username: &str, password: &str, targets: &[TenantId]) -> anyhow::Result<Vec<Check>> {
    Ok(match sign_in_user(ops, username, password).await? {
        Err(refused) => vec![refused],
        Ok(identity) => {
            let mut checks = vec![];
            for target in targets {
                checks.extend(check(ops, &identity, target).await);
            }
            checks
        }
    })
}

/// What S3 answered a plain HTTP request: allowed (2xx), denied by IAM (403
/// AccessDenied), SigV2 not accepted there, or anything else (an error).
fn http_outcome(status: u16, body: &[u8]) -> (Access, String) {
    let body = String::from_utf8_lossy(body);
    let tag = |name: &str| {
        body.split_once(&format!("<{name}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
            .map_or("", |(value, _)| value)
            .to_string()
    };
    let (code, message) = (tag("Code"), tag("Message"));
    let access = match status {
        200..=299 => Access::Allowed,
        403 if code == "AccessDenied" => Access::Denied,
        // "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
        400 if code == "InvalidRequest" && message.contains("AWS4-HMAC-SHA256") => Access::Unsupported,
        _ => Access::Error,
    };
    let detail = if code.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {code}: {message}")
    };
    (access, detail)
}

/// A GET of `url` as a browser or curl would send it: no SDK signing, only what the URL
/// carries. Through the SDK's own connector (hyper, rustls on ring, native roots), which
/// takes http:// (the local stack) and https:// (AWS) alike.
async fn http_get(connector: &aws_smithy_http_client::Connector, url: &str) -> (Access, String) {
    let mut request = aws_smithy_runtime_api::http::Request::new(SdkBody::empty());
    if let Err(e) = request.set_uri(url) {
        return (Access::Error, format!("invalid URL: {e}"));
    }
    let response = match tokio::time::timeout(Duration::from_secs(30), connector.call(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return (Access::Error, format!("HTTP request failed: {e}")),
        Err(_) => return (Access::Error, "HTTP request timed out after 30 s".into()),
    };
    let status = response.status().as_u16();
    match ByteStream::new(response.into_body()).collect().await {
        Ok(body) => http_outcome(status, &body.into_bytes()),
        Err(e) => (Access::Error, format!("HTTP {status}, reading the body failed: {e}")),
    }
}

/// A SigV2 query-string URL (`AWSAccessKeyId`, `Expires`, `Signature`) for a GET of
/// `object_url` (no query). A session token is signed as the `x-amz-security-token`
/// header and sent in the query, as SDKs that signed SigV2 did.
fn sigv2_url(object_url: &str, bucket: &str, creds: &Credentials, expires: u64) -> String {
    let after_scheme = object_url.split_once("://").map_or(object_url, |(_, rest)| rest);
    let (host, path) = after_scheme
        .find('/')
        .map_or((after_scheme, "/"), |i| after_scheme.split_at(i));
    // The signed resource always starts with the bucket, which a virtual-hosted URL
    // carries in its host name instead of its path.
    let resource = if host.starts_with(&format!("{bucket}.")) {
        format!("/{bucket}{path}")
    } else {
        path.to_string()
    };
    let amz_headers = creds
        .session_token()
        .map(|t| format!("x-amz-security-token:{t}\n"))
        .unwrap_or_default();
    let string_to_sign = format!("GET\n\n\n{expires}\n{amz_headers}{resource}");
    let key = hmac::Key::new(
        hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        creds.secret_access_key().as_bytes(),
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, string_to_sign.as_bytes()));
    let mut params = vec![
        ("AWSAccessKeyId", creds.access_key_id().to_string()),
        ("Expires", expires.to_string()),
        ("Signature", signature),
    ];
    if let Some(token) = creds.session_token() {
        params.push(("x-amz-security-token", token.to_string()));
    }
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    format!("{object_url}?{query}")
}

/// The target's marker read by URL, signed two ways with the actor's credentials: a
/// presigned SigV4 URL and a SigV2 query string. IAM must judge both as it judges the
/// SDK's own GetObject.
async fn url_reads(actor: &Identity, bucket: &str, key: &str) -> [(Access, String); 2] {
    let presigned = match PresigningConfig::expires_in(Duration::from_secs(300)) {
        Ok(config) => (actor
            .session
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await)
            .map_err(|e| format!("presigning failed: {}", aws_sdk_s3::error::DisplayErrorContext(e))),
        Err(e) => Err(format!("presigning config: {e}")),
    };
    let presigned = match presigned {
        Ok(p) => p,
        Err(e) => return [(Access::Error, e.clone()), (Access::Error, e)],
    };
    let connector = aws_smithy_http_client::Connector::builder()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build();
    let presigned_get = http_get(&connector, presigned.uri()).await;
    // The same object URL (the SDK's endpoint and addressing), signed the old way.
    let object_url = presigned.uri().split_once('?').map_or(presigned.uri(), |(u, _)| u);
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + 300;
    let sigv2 = sigv2_url(object_url, bucket, &actor.session.credentials, expires);
    let sigv2_get = http_get(&connector, &sigv2).await;
    [presigned_get, sigv2_get]
}

/// Every call the resource modules make with a tenant's credentials
/// (`tenant_steps::resources::reach`), by `actor` on `target`'s resources: allowed on its
/// own, denied on anyone else's. Plus the target's marker read by URL, signed outside
/// the SDK.
pub async fn check(ops: &Ops, actor: &Identity, target: &TenantId) -> Vec<Check> {
    let own = actor.own.as_ref() == Some(target);
    let expected = if own { Access::Allowed } else { Access::Denied };
    let check = |action: &str, (actual, detail): (Access, String)| Check {
        actor: actor.actor.clone(),
        target: target.to_string(),
        action: action.to_string(),
        expected,
        actual,
        detail,
    };
    let reach = Reach {
        session: &actor.session,
        actor: &actor.username,
        own: actor.own.as_ref(),
        target,
        whose: if own { Whose::Own } else { Whose::Other },
    };
    let mut checks: Vec<Check> = tenant_steps::resources::reach(&ops.ctx, &reach)
        .await
        .into_iter()
        .map(|attempt| check(attempt.action, access(&attempt.answer)))
        .collect();
    // The same read by URL, outside the SDK: a presigned URL and a SigV2 query string
    // are other ways of signing that IAM must judge the same way. A SigV2 refusal for
    // not being SigV4 (AWS on newer buckets) is `Unsupported`, which `holds()` accepts
    // for the own tenant too: it says nothing about isolation. Only an allowed
    // cross-tenant read fails.
    let marker = TenantNames::new(target).marker_key;
    let [presigned_get, sigv2_get] = url_reads(actor, &ops.ctx.settings.bucket, &marker).await;
    checks.push(check("s3:GetObject (presigned URL)", presigned_get));
    checks.push(check("s3:GetObject (SigV2)", sigv2_get));
    checks
}

/// A check's verdict from the service's answer: data read back wrong counts as an error.
fn access(answer: &Answer) -> (Access, String) {
    let verdict = match answer {
        Answer::Allowed(_) => Access::Allowed,
        Answer::Denied(_) => Access::Denied,
        Answer::Wrong(_) | Answer::Failed(_) => Access::Error,
    };
    (verdict, answer.detail())
}

/// Signs in one probe user per tenant and checks every ordered pair.
pub async fn check_isolation(ops: &Ops, tenants: &[TenantId]) -> anyhow::Result<Vec<Check>> {
    let mut identities = vec![];
    for t in tenants {
        match sign_in(ops, t).await {
            Ok(i) => identities.push(i),
            Err(e) => {
                for i in &identities {
                    delete_user(ops, i).await;
                }
                return Err(e);
            }
        }
    }
    let mut checks = vec![];
    for actor in &identities {
        for target in tenants {
            checks.extend(check(ops, actor, target).await);
        }
    }
    for i in &identities {
        delete_user(ops, i).await;
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expected: Access, (actual, detail): (Access, String)) -> Check {
        Check {
            actor: "acme".into(),
            target: "acme-labs".into(),
            action: "s3:GetObject (presigned URL)".into(),
            expected,
            actual,
            detail,
        }
    }

    #[test]
    fn a_cross_tenant_url_read_that_s3_serves_is_a_violation() {
        let served = check(Access::Denied, http_outcome(200, b"the marker"));
        assert_eq!(served.actual, Access::Allowed);
        assert!(!served.holds(), "{served:?}");
        let denied = br#"<Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::1:assumed-role/tenant-acme/x is not authorized</Message></Error>"#;
        let refused = check(Access::Denied, http_outcome(403, denied));
        assert!(refused.holds(), "{refused:?}");
        assert!(
            refused.detail.contains("assumed-role/tenant-acme"),
            "{}",
            refused.detail
        );
    }

    #[test]
    fn a_bad_signature_is_an_error_not_a_denial() {
        // A signing bug must not pass as IAM's refusal of another tenant.
        let body = b"<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>";
        let c = check(Access::Denied, http_outcome(403, body));
        assert_eq!(c.actual, Access::Error);
        assert!(!c.holds());
        assert_eq!(http_outcome(500, b"").0, Access::Error);
    }

    #[test]
    fn sigv2_not_accepted_is_no_isolation_failure_for_anyone() {
        let body = b"<Error><Code>InvalidRequest</Code><Message>The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.</Message></Error>";
        for expected in [Access::Allowed, Access::Denied] {
            let c = check(expected, http_outcome(400, body));
            assert_eq!(c.actual, Access::Unsupported);
            assert!(c.holds(), "{c:?}");
        }
        // Another InvalidRequest is not that refusal.
        let other = b"<Error><Code>InvalidRequest</Code><Message>Missing header</Message></Error>";
        assert_eq!(http_outcome(400, other).0, Access::Error);
    }

    // Expected signatures computed independently (Python's hmac, hashlib.sha1, base64).
    #[test]
    fn sigv2_query_string_signs_the_bucket_path_whatever_the_addressing() {
        let creds = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let want = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=1No4mq5ETf02z8aet9voy6gui6E%3D";
        let virtual_hosted = "https://awsexamplebucket1.s3.us-west-1.amazonaws.com/photos/puppy.jpg";
        assert_eq!(
            sigv2_url(virtual_hosted, "awsexamplebucket1", &creds, 1175139620),
            format!("{virtual_hosted}?{want}")
        );
        let path_style = "http://localhost:4566/awsexamplebucket1/photos/puppy.jpg";
        assert_eq!(
            sigv2_url(path_style, "awsexamplebucket1", &creds, 1175139620),
            format!("{path_style}?{want}")
        );
    }

    #[test]
    fn sigv2_signs_the_session_token_and_sends_it_in_the_query() {
        let creds = Credentials::new(
            "ASIAEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            Some("TOKEN+/=".into()),
            None,
            "test",
        );
        let url = sigv2_url(
            "http://localhost:4566/awsexamplebucket1/photos/puppy.jpg",
            "awsexamplebucket1",
            &creds,
            1175139620,
        );
        assert!(
            url.ends_with("&Signature=O4xJg9RE%2BLHJAueAhwORQIMLoTg%3D&x-amz-security-token=TOKEN%2B%2F%3D"),
            "{url}"
        );
    }
}
