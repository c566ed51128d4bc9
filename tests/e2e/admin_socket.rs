//! The admin socket under misuse: strangers, garbage, oversized and cut-off frames.

use crate::fixture::{Site, bin, stderr};
use postern_proto::ErrorCode;
use postern_proto::admin::AdminResponse;
use postern_proto::frame::{self, MAX_REQUEST_FRAME, MAX_RESPONSE_FRAME};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

const NOBODY: &str = "65534";

fn raw_connection(site: &Site) -> UnixStream {
    let stream = UnixStream::connect(&site.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn error_code(stream: &mut UnixStream) -> ErrorCode {
    match frame::read_frame::<_, AdminResponse>(stream, MAX_RESPONSE_FRAME).unwrap() {
        AdminResponse::Err(error) => error.code,
        AdminResponse::Ok(reply) => panic!("expected an error, got {reply:?}"),
    }
}

#[test]
fn a_non_admin_uid_is_refused() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: switching to another uid needs root");
        return;
    }
    let site = Site::new();
    let _daemon = site.start();
    // Let the stranger reach the socket's directory; the socket itself stays 0600.
    for dir in [
        site.dir.path().to_owned(),
        site.socket.parent().unwrap().to_owned(),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let as_nobody = || {
        Command::new("setpriv")
            .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
            .arg(bin("postern"))
            .arg("--socket")
            .arg(&site.socket)
            .arg("status")
            .output()
            .unwrap()
    };
    let out = as_nobody();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );

    // Even if the socket's mode were too open, the daemon checks the peer's credentials.
    std::fs::set_permissions(&site.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody();
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("uid 65534") && message.contains("may not administer Postern"),
        "{message}"
    );

    let audit = site.ok(&["audit"]);
    assert!(audit.contains("admin_access_denied"), "{audit}");
}

#[test]
fn an_oversized_frame_gets_an_error_and_the_daemon_keeps_serving() {
    let site = Site::new();
    let mut daemon = site.start();
    let mut stream = raw_connection(&site);
    stream
        .write_all(&(MAX_REQUEST_FRAME + 1).to_be_bytes())
        .unwrap();
    assert_eq!(error_code(&mut stream), ErrorCode::FrameTooLarge);
    assert!(daemon.is_running());
    site.ok(&["status"]);
}

#[test]
fn garbage_gets_an_error_and_the_daemon_keeps_serving() {
    let site = Site::new();
    let mut daemon = site.start();
    for body in [
        &b"not json at all"[..],
        br#"{"request":"drop_database"}"#,
        b"{}",
    ] {
        let mut stream = raw_connection(&site);
        let mut wire = (body.len() as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(body);
        stream.write_all(&wire).unwrap();
        assert_eq!(error_code(&mut stream), ErrorCode::BadFrame);
    }
    assert!(daemon.is_running());
    site.ok(&["status"]);
}

#[test]
fn a_truncated_frame_closes_only_that_connection() {
    let site = Site::new();
    let mut daemon = site.start();
    let mut stream = raw_connection(&site);
    stream.write_all(&100u32.to_be_bytes()).unwrap();
    stream.write_all(br#"{"request":"#).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(error_code(&mut stream), ErrorCode::BadFrame);
    assert!(daemon.is_running());
    site.ok(&["status"]);
}
