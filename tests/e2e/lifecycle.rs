//! Start-up, health and shutdown of the daemon.

use crate::fixture::Site;
use std::io::{Read, Write};
use std::net::TcpStream;

#[test]
fn healthz_answers_on_the_http_port() {
    let site = Site::new();
    let daemon = site.start();
    let mut stream = TcpStream::connect(daemon.http).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#"{"status":"ok"}"#), "{response}");
}

#[test]
fn sigterm_removes_the_socket_and_loses_no_committed_write() {
    let site = Site::new();
    let daemon = site.start();
    site.add_user("erin", &[]);
    let status = daemon.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(!site.socket.exists(), "the admin socket was removed");

    let _daemon = site.start();
    assert!(
        site.ok(&["user", "show", "erin"])
            .contains("erin@example.com")
    );
    let audit = site.ok(&["audit"]);
    assert!(
        audit.contains("daemon_stopped") && audit.contains("user_created"),
        "{audit}"
    );
}

#[test]
fn a_stale_socket_from_a_crash_is_replaced() {
    let site = Site::new();
    let mut daemon = site.start();
    let pid = nix::unistd::Pid::from_raw(daemon.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    while daemon.is_running() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        site.socket.exists(),
        "a killed daemon leaves its socket behind"
    );
    let _daemon = site.start();
    site.ok(&["status"]);
}

#[test]
fn json_logs_are_one_object_a_line_and_hold_no_password() {
    let site = Site::new();
    let config = std::fs::read_to_string(&site.config)
        .unwrap()
        .replace("[log]\n", "[log]\nformat = \"json\"\n");
    std::fs::write(&site.config, config).unwrap();
    let daemon = site.start();
    site.add_user("alice", &[]);
    let browser = crate::browser::Browser::new(&daemon);
    let login = format!("{}/login", browser.issuer);
    browser.sign_in(browser.visit(&login), "alice", "a wrong guess at it");
    browser.sign_in(browser.visit(&login), "alice", crate::browser::PASSWORD);
    let log = daemon.log_text();
    let mut actions = Vec::new();
    for line in log.lines().filter(|line| !line.trim().is_empty()) {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if let Some(action) = entry["fields"]["action"].as_str() {
            actions.push(action.to_owned());
        }
    }
    for expected in ["user_created", "sign_in_failed", "signed_in"] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
    assert!(
        !log.contains("a wrong guess at it"),
        "a password reached the log"
    );
    assert!(
        !log.contains(crate::browser::PASSWORD),
        "a password reached the log"
    );
}
