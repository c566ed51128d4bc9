//! Delivery through SMTP: a minimal SMTP server on loopback receives the code; an unreachable
//! server is recorded as a failure in the sent-mail log.

use crate::browser::*;
use crate::fixture::Site;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// Accepts one SMTP session and sends the message's DATA back over the channel.
fn smtp_sink() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        writer.write_all(b"220 sink ESMTP\r\n").unwrap();
        let mut data = String::new();
        let mut in_data = false;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    writer.write_all(b"250 queued\r\n").unwrap();
                    let _ = sender.send(std::mem::take(&mut data));
                } else {
                    data.push_str(&line);
                }
            } else {
                let reply: &[u8] = match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                    Some("EHLO") | Some("HELO") => b"250 sink\r\n",
                    Some("DATA") => {
                        in_data = true;
                        b"354 go on\r\n"
                    }
                    Some("QUIT") => {
                        writer.write_all(b"221 bye\r\n").unwrap();
                        return;
                    }
                    _ => b"250 ok\r\n",
                };
                writer.write_all(reply).unwrap();
            }
            line.clear();
        }
    });
    (port, receiver)
}

fn site_with_smtp(port: u16) -> Site {
    let site = Site::new();
    let config = std::fs::read_to_string(&site.config).unwrap().replace(
        "[mail]\ntransport = \"outbox\"",
        &format!("[mail]\ntransport = \"smtp\"\nsmtp_host = \"localhost\"\nsmtp_port = {port}\nsmtp_tls = \"none\"\nfrom = \"Postern <postern@example.com>\""),
    );
    std::fs::write(&site.config, config).unwrap();
    site
}

#[test]
fn codes_go_out_through_smtp() {
    let (port, received) = smtp_sink();
    let site = site_with_smtp(port);
    let daemon = site.start();
    site.add_user("alice", &[]);
    let (browser, page) = email_code_page(&site, &daemon);
    let message = received
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a message over SMTP");
    assert!(
        message.contains("Subject: Your Postern sign-in code")
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
