//! A small W3C WebDriver client over HTTP, enough to drive headless Chromium through
//! `chromedriver`: open pages, fill and submit forms, read text, take screenshots, and play a
//! passkey with a virtual authenticator.

use base64::Engine;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A chromedriver process and one browser session, both ended on drop.
pub struct Chromium {
    driver: Child,
    base: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts chromedriver on a free loopback port and a headless Chromium session with a fresh
    /// profile. Returns `None` (with a reason) when the packages are not installed.
    pub fn start() -> Result<Self, String> {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .ok_or("chromedriver is not installed (Debian package chromium-driver)")?;
        crate::fixture::install_crypto_provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Everything that could fail before the driver runs does so first, so no failure here
        // leaves a chromedriver behind (once spawned, Drop stops it).
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start chromedriver: {e}"))?;
        let mut chromium = Self {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while chromium
            .http
            .get(format!("{}/status", chromium.base))
            .send()
            .is_err()
        {
            if Instant::now() > deadline {
                return Err("chromedriver did not start".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=480,900",
            &format!("--user-data-dir={}", chromium._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let session = chromium.call("POST", "/session", capabilities)?;
        let id = session["sessionId"]
            .as_str()
            .ok_or("no session id")?
            .to_owned();
        chromium.base = format!("{}/session/{id}", chromium.base);
        // Elements that are not there yet (a page still loading) are waited for.
        chromium.call(
            "POST",
            "/timeouts",
            json!({ "implicit": 10_000, "pageLoad": 30_000 }),
        )?;
        Ok(chromium)
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response: Value = request
            .send()
            .map_err(|e| e.to_string())?
            .json()
            .map_err(|e| e.to_string())?;
        if let Some(error) = response["value"]["error"].as_str() {
            return Err(format!("{error}: {}", response["value"]["message"]));
        }
        Ok(response.get("value").cloned().unwrap_or(response))
    }

    pub fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }))
            .expect("navigate");
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .expect("url")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn find(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .unwrap_or_else(|e| panic!("no element {css}: {e}\nat {}", self.url()));
        // The W3C element reference is an object with one entry (its key is a fixed UUID).
        found
            .as_object()
            .and_then(|reference| reference.values().next())
            .and_then(Value::as_str)
            .expect("element id")
            .to_owned()
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.call("GET", &format!("/element/{id}/text"), Value::Null)
            .expect("text")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (up to 15 s) until the page's text contains `needle`, and returns the text: a click
    /// that submits a form returns before the next page has loaded.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut text = String::new();
        while Instant::now() < deadline {
            let body = self.call(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": "body" }),
            );
            let id = body.ok().and_then(|found| {
                found
                    .as_object()
                    .and_then(|r| r.values().next())
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            if let Some(id) = id {
                if let Ok(value) = self.call("GET", &format!("/element/{id}/text"), Value::Null) {
                    text = value.as_str().unwrap_or_default().to_owned();
                    if text.contains(needle) {
                        return text;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the page never said {needle:?}; it says:\n{text}\nat {}",
            self.url()
        );
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/clear"), json!({}))
            .expect("clear");
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .expect("type");
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/click"), json!({}))
            .expect("click");
    }

    /// Runs `script` in the page (WebDriver's synchronous execute) and returns its value: for
    /// what a user could do by hand but a click cannot, such as sending a form the page hides.
    pub fn execute(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .expect("execute a script")
    }

    /// Adds a virtual authenticator to the browser (the WebDriver WebAuthn extension): a
    /// platform passkey provider that keeps discoverable credentials and verifies the user
    /// (as a fingerprint would) without asking. Returns its id.
    pub fn add_virtual_authenticator(&self) -> String {
        let added = self
            .call(
                "POST",
                "/webauthn/authenticator",
                json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true,
                }),
            )
            .expect("add a virtual authenticator");
        added.as_str().expect("authenticator id").to_owned()
    }

    /// The credentials a virtual authenticator holds.
    pub fn authenticator_credentials(&self, authenticator: &str) -> Vec<Value> {
        self.call(
            "GET",
            &format!("/webauthn/authenticator/{authenticator}/credentials"),
            Value::Null,
        )
        .expect("the authenticator's credentials")
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    /// Saves a PNG screenshot of the page; returns its path.
    pub fn screenshot(&self, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        let data = self
            .call("GET", "/screenshot", Value::Null)
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", Value::Null);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
