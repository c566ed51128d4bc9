//! HTTPS with rustls, from `http.tls_cert` and `http.tls_key`.

use crate::fixture::Site;

#[test]
fn the_daemon_serves_https_with_secure_cookies() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let issuer = format!("https://localhost:{port}");
    let site = Site::with_sections(
        &format!("issuer = \"{issuer}\""),
        &format!(
            "listen = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            cert.display(),
            key.display()
        ),
    );
    let _daemon = site.start();
    site.add_user("alice", &[]);

    let client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .cookie_store(true)
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let discovery: serde_json::Value = client
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(discovery["issuer"], issuer);
    let login = client.get(format!("{issuer}/login")).send().unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-postern_csrf=")
            && cookie.contains("; Path=/")
            && cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && !cookie.contains("Domain"),
        "{cookie}"
    );
    assert_eq!(
        login.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    // A whole sign-in over https: the __Host- cookies carry the flow and the session.
    let page = login.text().unwrap();
    let field = |name: &str| crate::browser::hidden(&page, name);
    let signed_in = client
        .post(format!("{issuer}/login"))
        .form(&[
            ("csrf", field("csrf").as_str()),
            ("flow", field("flow").as_str()),
            ("username", "alice"),
            ("password", crate::browser::PASSWORD),
        ])
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let session = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(session.starts_with("__Host-postern_session="), "{session}");
    let account = client
        .get(format!("{issuer}/account"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(account.contains("Signed in as"), "{account}");

    let plain = reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"));
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP is not served"
    );
}

#[test]
fn an_unreadable_certificate_stops_the_daemon_with_the_key_named() {
    let site = Site::with_sections(
        "issuer = \"https://localhost:8443\"",
        "listen = \"127.0.0.1:0\"\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"",
    );
    let out = std::process::Command::new(crate::fixture::bin("posternd"))
        .arg("--config")
        .arg(&site.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http.tls_cert"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
