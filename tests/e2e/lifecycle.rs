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
