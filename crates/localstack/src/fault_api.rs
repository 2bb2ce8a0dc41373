//! The client side of the local Lambda endpoint's fault API (`tenantctl local fault`): a
//! minimal HTTP/1.1 exchange over loopback, so no HTTP client dependency for one call.

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `method /_local/faults` with an optional JSON body; the response body on a 2xx.
pub async fn request(endpoint: &str, method: &str, body: Option<String>) -> anyhow::Result<String> {
    request_to(endpoint, method, "/_local/faults", body).await
}

/// Sends `method path` (one of the stack's `/_local/` admin routes) with an optional body;
/// the response body on a 2xx.
pub async fn request_to(endpoint: &str, method: &str, path: &str, body: Option<String>) -> anyhow::Result<String> {
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status_ok = response.starts_with("HTTP/1.1 2");
    let payload = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    if !status_ok {
        bail!("the local stack refused {method} {path}: {}", payload.trim());
    }
    Ok(payload)
}
