//! Delivery through SMTP: a minimal SMTP server on loopback receives the code, in plain text
//! to a local relay, over STARTTLS and over TLS from the first byte (with a throwaway CA); a
//! certificate from another CA, a server that does not offer STARTTLS and an unreachable server
//! are each recorded as a failure, and get nothing.

use crate::browser::*;
use crate::fixture::Site;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// How the test server speaks.
#[derive(Clone)]
enum Security {
    /// Plain text, without offering STARTTLS.
    Plain,
    /// Offers STARTTLS, and speaks TLS with this certificate after it.
    Starttls(Arc<rustls::ServerConfig>),
    /// TLS from the first byte.
    Implicit(Arc<rustls::ServerConfig>),
}

/// Accepts SMTP sessions on loopback and sends each message's DATA back over the channel.
fn smtp_sink(security: Security) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (security, sender) = (security.clone(), sender.clone());
            std::thread::spawn(move || match security {
                Security::Plain => {
                    converse(stream, false, &sender);
                }
                Security::Implicit(config) => {
                    let tls = rustls::ServerConnection::new(config).unwrap();
                    converse(rustls::StreamOwned::new(tls, stream), false, &sender);
                }
                Security::Starttls(config) => {
                    if let Some(stream) = converse(stream, true, &sender) {
                        let tls = rustls::ServerConnection::new(config).unwrap();
                        converse(rustls::StreamOwned::new(tls, stream), false, &sender);
                    }
                }
            });
        }
    });
    (port, receiver)
}

/// One SMTP conversation on `stream`. Returns the stream when the client asked for STARTTLS
/// (offered only when `offer_starttls`), to go on over TLS; a broken connection (a refused
/// certificate) ends it.
fn converse<S: Read + Write>(
    stream: S,
    offer_starttls: bool,
    sender: &mpsc::Sender<String>,
) -> Option<S> {
    let mut reader = BufReader::new(stream);
    let say = |reader: &mut BufReader<S>, text: &[u8]| {
        let writer = reader.get_mut();
        writer.write_all(text).is_ok() && writer.flush().is_ok()
    };
    if !say(&mut reader, b"220 sink ESMTP\r\n") {
        return None;
    }
    let mut data = String::new();
    let mut in_data = false;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                say(&mut reader, b"250 queued\r\n");
                let _ = sender.send(std::mem::take(&mut data));
            } else {
                data.push_str(&line);
            }
        } else {
            let verb = line.get(..4).map(str::to_ascii_uppercase);
            let reply: &[u8] = match verb.as_deref() {
                Some("EHLO") if offer_starttls => b"250-sink\r\n250 STARTTLS\r\n",
                Some("EHLO") | Some("HELO") => b"250 sink\r\n",
                Some("STAR") if offer_starttls => {
                    say(&mut reader, b"220 go ahead\r\n");
                    return Some(reader.into_inner());
                }
                Some("DATA") => {
                    in_data = true;
                    b"354 go on\r\n"
                }
                Some("QUIT") => {
                    say(&mut reader, b"221 bye\r\n");
                    return None;
                }
                _ => b"250 ok\r\n",
            };
            say(&mut reader, reply);
        }
        line.clear();
    }
    None
}

/// A throwaway CA (PEM), and a TLS server configuration with a certificate for `localhost`
/// it signed.
fn authority_and_server() -> (String, Arc<rustls::ServerConfig>) {
    let mut authority = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let authority =
        rcgen::CertifiedIssuer::self_signed(authority, rcgen::KeyPair::generate().unwrap())
            .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &authority)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    )
    .unwrap();
    (authority.pem(), Arc::new(config))
}

/// A site delivering through the server on `port`, with `smtp_tls = tls`, trusting the CA in
/// `ca` (PEM) when given.
fn site_with_smtp_tls(port: u16, tls: &str, ca: Option<&str>) -> Site {
    let site = Site::new();
    let ca_line = match ca {
        Some(pem) => {
            let path = site.dir.path().join("smtp-ca.pem");
            std::fs::write(&path, pem).unwrap();
            format!("\nsmtp_ca_file = \"{}\"", path.display())
        }
        None => String::new(),
    };
    let config = std::fs::read_to_string(&site.config).unwrap().replace(
        "[mail]\ntransport = \"outbox\"",
        &format!("[mail]\ntransport = \"smtp\"\nsmtp_host = \"localhost\"\nsmtp_port = {port}\nsmtp_tls = \"{tls}\"\nfrom = \"Postern <postern@example.com>\"{ca_line}"),
    );
    std::fs::write(&site.config, config).unwrap();
    site
}

fn site_with_smtp(port: u16) -> Site {
    site_with_smtp_tls(port, "none", None)
}

/// The sent-mail log's newest entry for alice, after it is there.
fn newest_logged(site: &Site) -> serde_json::Value {
    let log: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "mail", "log", "--to", "alice"])).unwrap();
    log[0].clone()
}

#[test]
fn starttls_and_implicit_tls_deliver_to_a_server_of_a_private_ca() {
    for tls in ["starttls", "implicit"] {
        let (ca, server) = authority_and_server();
        let security = match tls {
            "starttls" => Security::Starttls(server),
            _ => Security::Implicit(server),
        };
        let (port, received) = smtp_sink(security);
        let site = site_with_smtp_tls(port, tls, Some(&ca));
        let daemon = site.start();
        site.add_user("alice", &[]);
        email_code_page(&site, &daemon);
        let message = received
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{tls}: a message over TLS; log: {}", daemon.log_text()));
        assert!(
            message.contains("Subject: Your Postern sign-in code")
                && message.contains("multipart/alternative")
                && message.contains("text/html"),
            "{tls}: {message}"
        );
        six_digit_code(&message);
        assert_eq!(newest_logged(&site)["status"], "sent", "{tls}");
    }
}

#[test]
fn a_certificate_of_another_ca_or_a_server_without_starttls_gets_nothing() {
    let (_, server) = authority_and_server();
    let (trusted_ca, _) = authority_and_server();
    let cases = [
        (
            "starttls",
            Security::Starttls(server.clone()),
            "certificate",
        ),
        ("implicit", Security::Implicit(server), "certificate"),
        ("starttls", Security::Plain, "STARTTLS"),
    ];
    for (tls, security, reason) in cases {
        let (port, received) = smtp_sink(security);
        let site = site_with_smtp_tls(port, tls, Some(&trusted_ca));
        let daemon = site.start();
        site.add_user("alice", &[]);
        email_code_page(&site, &daemon);
        let logged = newest_logged(&site);
        assert_eq!(logged["status"], "failed", "{tls}: {logged}");
        let error = logged["error"].as_str().unwrap_or_default();
        assert!(
            error.to_lowercase().contains(&reason.to_lowercase()),
            "{tls}: the error should name the {reason}: {error}"
        );
        assert!(
            daemon.log_text().contains("mail delivery failed"),
            "{tls}: {}",
            daemon.log_text()
        );
        assert!(
            received.recv_timeout(Duration::from_secs(1)).is_err(),
            "{tls}: nothing may be sent in plain text or to an unverified server"
        );
    }
}

#[test]
fn a_missing_or_empty_ca_file_stops_the_daemon_with_the_setting_named() {
    for pem in [None, Some("not a certificate\n")] {
        let site = site_with_smtp_tls(587, "starttls", Some(pem.unwrap_or("")));
        let path = site.dir.path().join("smtp-ca.pem");
        if pem.is_none() {
            std::fs::remove_file(&path).unwrap();
        }
        let output = std::process::Command::new(crate::fixture::bin("posternd"))
            .arg("--config")
            .arg(&site.config)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && said.contains("mail.smtp_ca_file"),
            "{pem:?}: {said}"
        );
    }
}

#[test]
fn codes_go_out_through_smtp() {
    let (port, received) = smtp_sink(Security::Plain);
    let site = site_with_smtp(port);
    let daemon = site.start();
    site.add_user("alice", &[]);
    site.ok(&["site", "set", "site.name", "Acme"]);
    let (browser, page) = email_code_page(&site, &daemon);
    let message = received
        .recv_timeout(Duration::from_secs(20))
        .expect("a message over SMTP");
    assert!(
        message.contains("Subject: Your Acme sign-in code")
            && message.contains("To: alice@example.com"),
        "{message}"
    );
    let code = six_digit_code(&message);
    let body = page_body(&page);
    let back = browser.submit(
        "/login",
        &[
            ("csrf", &hidden(&body, "csrf")),
            ("flow", &hidden(&body, "flow")),
            ("code", &code),
        ],
    );
    away(back);
}

#[test]
fn an_unreachable_smtp_server_is_logged_as_a_failure() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = site_with_smtp(port);
    let daemon = site.start();
    site.add_user("alice", &[]);
    email_code_page(&site, &daemon);
    let log: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "mail", "log", "--to", "alice"])).unwrap();
    assert_eq!(log[0]["status"], "failed", "{log}");
    assert!(
        log[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{log}"
    );
    assert!(site.ok(&["mail", "log"]).contains("failed"));
}
