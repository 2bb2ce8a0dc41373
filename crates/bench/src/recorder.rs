//! moto's request recorder (`/moto-api/recorder/*`): every request the emulator receives,
//! in arrival order, with its method, URL, headers and body. The bench turns each entry
//! into the AWS service and operation it called.

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where moto writes its recording; moto reads it once at start, from its environment
/// (which it inherits from the bench).
pub const FILE_ENV: &str = "MOTO_RECORDER_FILEPATH";

/// One AWS API call as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Call {
    /// The SDK's service id (`iam`, `cognito-identity-provider`, `s3`, …).
    pub service: String,
    pub operation: String,
}

impl Call {
    pub fn new(service: &str, operation: &str) -> Call {
        Call {
            service: service.into(),
            operation: operation.into(),
        }
    }

    /// IAM's control plane (`iam.amazonaws.com`): global, rate-limited, and eventually
    /// consistent, so a write is followed by propagation time before it takes effect.
    pub fn is_iam_write(&self) -> bool {
        self.service == "iam"
            && !["Get", "List", "Simulate", "Generate"]
                .iter()
                .any(|p| self.operation.starts_with(p))
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.service, self.operation)
    }
}

/// Start, stop, clear and read the recording over moto's HTTP API.
pub struct Recorder {
    /// `host:port` of moto.
    addr: String,
}

impl Recorder {
    /// `endpoint` is moto's `http://127.0.0.1:<port>`.
    pub fn new(endpoint: &str) -> Recorder {
        Recorder {
            addr: endpoint.trim_start_matches("http://").trim_end_matches('/').to_string(),
        }
    }

    async fn request(&self, method: &str, action: &str) -> anyhow::Result<String> {
        let mut stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to moto at {}", self.addr))?;
        let req = format!(
            "{method} /moto-api/recorder/{action} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(req.as_bytes()).await?;
        let mut raw = vec![];
        stream.read_to_end(&mut raw).await?;
        let raw = String::from_utf8_lossy(&raw);
        let (head, body) = raw.split_once("\r\n\r\n").context("moto's answer has no header end")?;
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            bail!(
                "moto answered {action} with {}",
                head.lines().next().unwrap_or_default()
            );
        }
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            return Ok(dechunk(body));
        }
        Ok(body.to_string())
    }

    /// Clears the recording and records from now on.
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.request("POST", "reset-recording").await?;
        self.request("POST", "start-recording").await?;
        Ok(())
    }

    /// Stops recording and returns what was recorded since `restart`.
    pub async fn take(&self) -> anyhow::Result<Vec<Call>> {
        self.request("POST", "stop-recording").await?;
        let raw = self.request("GET", "download-recording").await?;
        parse_recording(&raw)
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The recording's entries (JSON objects, one a line; read as a stream of values because
/// the threaded server may interleave two lines' newlines) as calls, in order.
pub fn parse_recording(raw: &str) -> anyhow::Result<Vec<Call>> {
    let mut calls = vec![];
    for entry in serde_json::Deserializer::from_str(raw).into_iter::<Value>() {
        let entry = entry.context("reading moto's recording")?;
        calls.push(call_of(&entry).with_context(|| format!("unrecognised request in moto's recording: {entry}"))?);
    }
    Ok(calls)
}

fn header<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry
        .get("headers")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

fn body(entry: &Value) -> String {
    let raw = entry.get("body").and_then(Value::as_str).unwrap_or_default();
    if entry.get("body_encoded").and_then(Value::as_bool) == Some(true) {
        base64_decode(raw)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    } else {
        raw.to_string()
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = vec![];
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The service: the Rust SDK names it in its user agent (`api/<service>/<version>`);
/// otherwise the SigV4 credential scope (`…/<region>/<service>/aws4_request`).
fn service_of(entry: &Value) -> Option<String> {
    for ua in [header(entry, "x-amz-user-agent"), header(entry, "user-agent")]
        .into_iter()
        .flatten()
    {
        if let Some(api) = ua.split_whitespace().find_map(|t| t.strip_prefix("api/")) {
            let name = api.split(['/', '#']).next().unwrap_or(api);
            return Some(name.to_ascii_lowercase());
        }
    }
    let auth = header(entry, "authorization")?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(3).map(str::to_string)
}

fn call_of(entry: &Value) -> Option<Call> {
    let service = service_of(entry)?;
    // JSON protocols: `X-Amz-Target: <Prefix>.<Operation>`.
    if let Some(target) = header(entry, "x-amz-target") {
        return Some(Call::new(&service, target.rsplit('.').next()?));
    }
    let url = entry.get("url")?.as_str()?;
    let method = entry.get("method")?.as_str()?;
    if service == "s3" {
        return Some(Call::new(
            "s3",
            s3_operation(method, url, header(entry, "x-amz-copy-source").is_some()),
        ));
    }
    // Query protocols (IAM, STS): `Action=<Operation>` in the form body or the query.
    let query = url.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default();
    let form = format!("{}&{query}", body(entry));
    let action = form.split('&').find_map(|kv| kv.strip_prefix("Action="))?;
    Some(Call::new(&service, action))
}

/// S3's REST operations from the method, the path-style URL and its query.
pub fn s3_operation(method: &str, url: &str, copy: bool) -> &'static str {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let path_and_query = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let has = |k: &str| query.split('&').any(|kv| kv == k || kv.starts_with(&format!("{k}=")));
    let has_key = path.trim_matches('/').contains('/');
    match (method, has_key) {
        ("GET", false) if path.trim_matches('/').is_empty() => "ListBuckets",
        ("GET", false) if has("list-type") => "ListObjectsV2",
        ("GET", false) if has("policy") => "GetBucketPolicy",
        ("GET", false) => "ListObjects",
        ("GET", true) => "GetObject",
        ("HEAD", false) => "HeadBucket",
        ("HEAD", true) => "HeadObject",
        ("PUT", true) if copy => "CopyObject",
        ("PUT", true) => "PutObject",
        ("PUT", false) if has("policy") => "PutBucketPolicy",
        ("PUT", false) => "CreateBucket",
        ("POST", false) if has("delete") => "DeleteObjects",
        ("DELETE", true) => "DeleteObject",
        ("DELETE", false) => "DeleteBucket",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_protocol_by_target_and_user_agent() {
        let e = json!({"method": "POST", "url": "http://127.0.0.1:5000/", "body": "{}", "body_encoded": false,
            "headers": {"X-Amz-Target": "AWSCognitoIdentityProviderService.AdminCreateUser",
                        "X-Amz-User-Agent": "aws-sdk-rust/1.3.9 ua/2.1 api/cognitoidentityprovider/1.90.0 os/linux lang/rust/1.94.1"}});
        assert_eq!(
            call_of(&e),
            Some(Call::new("cognitoidentityprovider", "AdminCreateUser"))
        );
    }

    #[test]
    fn query_protocol_from_base64_body_and_scope() {
        // "Action=CreateRole&Version=2010-05-08"
        let e = json!({"method": "POST", "url": "http://127.0.0.1:5000/", "body_encoded": true,
            "body": "QWN0aW9uPUNyZWF0ZVJvbGUmVmVyc2lvbj0yMDEwLTA1LTA4",
            "headers": {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x"}});
        let call = call_of(&e).unwrap();
        assert_eq!(call, Call::new("iam", "CreateRole"));
        assert!(call.is_iam_write());
        assert!(!Call::new("iam", "GetRole").is_iam_write());
        assert!(!Call::new("sts", "AssumeRole").is_iam_write());
    }

    #[test]
    fn s3_rest_operations() {
        assert_eq!(
            s3_operation("PUT", "http://h:1/bucket/t/acme/.keep", false),
            "PutObject"
        );
        assert_eq!(s3_operation("PUT", "/bucket/t/acme/x", true), "CopyObject");
        assert_eq!(
            s3_operation("GET", "/bucket?list-type=2&prefix=t%2Facme%2F", false),
            "ListObjectsV2"
        );
        assert_eq!(s3_operation("POST", "/bucket?delete", false), "DeleteObjects");
        assert_eq!(s3_operation("DELETE", "/bucket/t/acme/x", false), "DeleteObject");
        assert_eq!(s3_operation("HEAD", "/bucket/k/x", false), "HeadObject");
    }

    #[test]
    fn a_stream_of_entries_even_without_newlines() {
        let one = json!({"method": "POST", "url": "/", "headers": {"X-Amz-Target": "DynamoDB_20120810.PutItem",
            "User-Agent": "aws-sdk-rust/1 api/dynamodb/1.0"}});
        let raw = format!("{one}{one}\n{one}\n");
        assert_eq!(parse_recording(&raw).unwrap().len(), 3);
        assert!(parse_recording("{\"method\": \"GET\", \"url\": \"/\", \"headers\": {}}").is_err());
        assert_eq!(dechunk("5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"), "helloabc");
    }
}
