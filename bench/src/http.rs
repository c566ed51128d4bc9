//! One keep-alive HTTP/1.1 connection, as thin as hyper allows, so that the load generator
//! spends as little of the machine as possible.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Connection {
    /// `base` is `http://127.0.0.1:PORT`.
    pub async fn open(base: &str) -> anyhow::Result<Self> {
        let host = base
            .strip_prefix("http://")
            .context("a plain http:// base URL")?
            .to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { sender, host })
    }

    pub async fn get(&mut self, path: &str, bearer: Option<&str>) -> anyhow::Result<Bytes> {
        let mut request = hyper::Request::get(path).header(HOST, &self.host);
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Full::new(Bytes::new()))?).await
    }

    /// A form POST, authenticated with HTTP Basic when `basic` is given.
    pub async fn post_form(
        &mut self,
        path: &str,
        form: &str,
        basic: Option<&str>,
    ) -> anyhow::Result<Bytes> {
        let mut request = hyper::Request::post(path)
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(credentials) = basic {
            request = request.header(AUTHORIZATION, credentials);
        }
        self.send(request.body(Full::new(Bytes::from(form.to_owned())))?)
            .await
    }

    async fn send(&mut self, request: hyper::Request<Full<Bytes>>) -> anyhow::Result<Bytes> {
        let (status, _, body) = self.exchange(request).await?;
        if !status.is_success() {
            bail!("{status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// A request built by the caller (`host()` for its Host header); any status is returned.
    pub async fn exchange(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
    ) -> anyhow::Result<(hyper::StatusCode, hyper::HeaderMap, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    pub fn host(&self) -> &str {
        &self.host
    }
}

/// `Basic base64(id:secret)`, with both parts form-urlencoded as RFC 6749 §2.3.1 says.
pub fn basic_auth(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}
