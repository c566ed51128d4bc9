//! The admin socket under misuse: strangers, garbage, oversized and cut-off frames.

use crate::fixture::{Site, bin, stderr};
use postern_proto::ErrorCode;
use postern_proto::admin::{AdminReply, AdminRequest, AdminResponse, PageRequest};
use postern_proto::client::Connection;
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

/// Whether the daemon closed the connection: a read ends (end of stream or reset) before the
/// test's own 10 s read timeout.
fn closed_by_the_daemon(stream: &mut UnixStream) -> bool {
    use std::io::Read;
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn half_sent_and_trickled_frames_are_cut_off_and_idle_connections_closed() {
    let site = Site::new();
    site.set_in_section("admin", "frame_timeout = \"1s\"\nidle_timeout = \"2s\"");
    let mut daemon = site.start();
    let started = std::time::Instant::now();
    // Half a frame, then nothing.
    let mut half = raw_connection(&site);
    half.write_all(&100u32.to_be_bytes()).unwrap();
    half.write_all(br#"{"request":"#).unwrap();
    // A byte a second: each byte is on time, the frame is not.
    let mut trickle = raw_connection(&site);
    trickle.write_all(&50u32.to_be_bytes()[..1]).unwrap();
    let mut cut_off = false;
    for byte in 50u32.to_be_bytes()[1..]
        .iter()
        .chain(b"{\"request\":\"status\"")
    {
        std::thread::sleep(Duration::from_millis(400));
        if trickle.write_all(&[*byte]).is_err() {
            cut_off = true;
            break;
        }
    }
    assert!(
        cut_off || closed_by_the_daemon(&mut trickle),
        "the trickle was cut off"
    );
    assert!(closed_by_the_daemon(&mut half), "half a frame was cut off");
    // A connection that sends nothing is closed once idle.
    let mut idle = raw_connection(&site);
    assert!(closed_by_the_daemon(&mut idle));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(daemon.is_running());
    assert!(daemon.log_text().contains("did not arrive in time"));
    site.ok(&["status"]);
}

#[test]
fn user_lists_come_in_pages_and_a_bad_page_size_is_refused() {
    let site = Site::new();
    let _daemon = site.start();
    for name in ["carol", "alice", "bob"] {
        site.add_user(name, &[]);
    }
    let mut connection = Connection::connect(&site.socket, Duration::from_secs(10)).unwrap();
    let mut page = |after: Option<&str>, limit| {
        let request = AdminRequest::UserList(PageRequest {
            after: after.map(str::to_owned),
            limit,
        });
        match connection.admin(&request) {
            Ok(AdminReply::Users { users, next }) => Ok((
                users.into_iter().map(|u| u.username).collect::<Vec<_>>(),
                next,
            )),
            Ok(other) => panic!("not a user page: {other:?}"),
            Err(e) => Err(e.to_string()),
        }
    };
    let (first, next) = page(None, Some(2)).unwrap();
    assert_eq!(
        (first, next.as_deref()),
        (vec!["alice".into(), "bob".into()], Some("bob"))
    );
    let (rest, next) = page(next.as_deref(), Some(2)).unwrap();
    assert_eq!((rest, next), (vec!["carol".into()], None));
    for limit in [0, 10_001] {
        let refused = page(None, Some(limit)).unwrap_err();
        assert!(refused.contains("1 to 10000"), "{refused}");
    }

    let listed = site.ok(&["user", "list"]);
    for name in ["alice", "bob", "carol"] {
        assert!(listed.contains(name), "{listed}");
    }
    let report = site.ok(&["mfa", "report", "--csv"]);
    assert_eq!(
        report.lines().count(),
        4,
        "a header and three users: {report}"
    );
}
