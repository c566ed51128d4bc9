//! `SIGHUP` (`systemctl reload posternd`): a renewed TLS certificate, new templates and a new
//! log level take effect without a restart or a dropped connection; what does not load keeps
//! the current one and the log says why; other changed settings are named as needing a
//! restart.

use crate::fixture::{Daemon, Site};
use std::path::Path;
use std::time::{Duration, Instant};

fn hang_up(daemon: &Daemon) {
    let pid = nix::unistd::Pid::from_raw(daemon.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
}

/// Waits until the daemon's log holds `needle` `times` times; returns the log.
fn wait_for_log(daemon: &Daemon, needle: &str, times: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = daemon.log_text();
        if log.matches(needle).count() >= times {
            return log;
        }
        assert!(Instant::now() < deadline, "no `{needle}` in:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Replaces `from` with `to` in the site's config file.
fn edit_config(site: &Site, from: &str, to: &str) {
    let text = std::fs::read_to_string(&site.config).unwrap();
    assert!(text.contains(from), "no `{from}` in the config");
    std::fs::write(&site.config, text.replacen(from, to, 1)).unwrap();
}

fn certificate(dir: &Path, name: &str) -> String {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), certified.cert.pem()).unwrap();
    std::fs::write(
        dir.join(format!("{name}.key")),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    certified.cert.pem()
}

/// A client that trusts only `cert`.
fn client_trusting(cert: &str, port: u16) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .pool_idle_timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

#[test]
fn a_reload_serves_a_renewed_certificate_and_keeps_open_connections() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let files = tempfile::tempdir().unwrap();
    let first = certificate(files.path(), "first");
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::copy(files.path().join("first.pem"), &cert).unwrap();
    std::fs::copy(files.path().join("first.key"), &key).unwrap();
    let issuer = format!("https://localhost:{port}");
    let site = Site::with_sections(
        &format!("issuer = \"{issuer}\""),
        &format!(
            "listen = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            cert.display(),
            key.display()
        ),
    );
    let daemon = site.start();
    let discovery = format!("{issuer}/.well-known/openid-configuration");
    let open = client_trusting(&first, port);
    assert!(open.get(&discovery).send().unwrap().status().is_success());

    let renewed = certificate(files.path(), "renewed");
    std::fs::copy(files.path().join("renewed.pem"), &cert).unwrap();
    std::fs::copy(files.path().join("renewed.key"), &key).unwrap();
    hang_up(&daemon);
    wait_for_log(
        &daemon,
        "reload: applied the new log level, templates, TLS certificate",
        1,
    );
    // The connection opened before goes on (a new one would meet the renewed certificate,
    // which this client does not trust).
    assert!(open.get(&discovery).send().unwrap().status().is_success());
    assert!(
        client_trusting(&first, port)
            .get(&discovery)
            .send()
            .is_err()
    );
    let fresh = client_trusting(&renewed, port);
    assert!(fresh.get(&discovery).send().unwrap().status().is_success());

    // A broken renewal keeps the certificate being served.
    std::fs::write(&cert, "not a certificate").unwrap();
    hang_up(&daemon);
    let log = wait_for_log(
        &daemon,
        "reload: kept the current TLS certificate and key",
        1,
    );
    assert!(log.contains(&cert.display().to_string()), "{log}");
    assert!(log.contains("holds no PEM certificate"), "{log}");
    let again = client_trusting(&renewed, port);
    assert!(again.get(&discovery).send().unwrap().status().is_success());
}

#[test]
fn a_reload_applies_templates_and_log_level_and_names_what_needs_a_restart() {
    let templates = tempfile::tempdir().unwrap();
    let login = templates.path().join("login.html");
    std::fs::write(&login, "<p>first edition</p>").unwrap();
    let site = Site::with_config(&format!(
        "templates_dir = \"{}\"",
        templates.path().display()
    ));
    let daemon = site.start();
    let page = || {
        reqwest::blocking::get(format!("http://{}/login", daemon.http))
            .unwrap()
            .text()
            .unwrap()
    };
    assert!(page().contains("first edition"));

    std::fs::write(&login, "<p>second edition</p>").unwrap();
    edit_config(
        &site,
        "level = \"info,postern_daemon=debug\"",
        "level = \"warn\"",
    );
    edit_config(
        &site,
        "[metrics]\nlisten = \"127.0.0.1:0\"",
        "[metrics]\nlisten = \"127.0.0.1:1\"",
    );
    hang_up(&daemon);
    let log = wait_for_log(&daemon, "reload: applied the new log level, templates", 1);
    assert!(
        log.contains("reload: changed, and applied only by a restart: metrics.listen"),
        "{log}"
    );
    assert!(page().contains("second edition"));
    // At the new level, an account's creation (an info line) is not written.
    site.add_user("quiet", &[]);
    assert!(!daemon.log_text().contains("subject=\"quiet\""));

    // Templates that do not load, or a level that does not parse, keep the current ones.
    std::fs::write(&login, "{% if %}").unwrap();
    edit_config(&site, "level = \"warn\"", "level = \"info\"");
    hang_up(&daemon);
    let log = wait_for_log(&daemon, "reload: kept the current templates", 1);
    assert!(log.contains("login.html"), "{log}");
    assert!(page().contains("second edition"));
    site.add_user("loud", &[]);
    wait_for_log(&daemon, "subject=\"loud\"", 1);

    std::fs::write(&site.config, "this is not toml").unwrap();
    hang_up(&daemon);
    wait_for_log(
        &daemon,
        "reload: kept the current configuration, which cannot be used",
        1,
    );
    assert!(page().contains("second edition"));
}
