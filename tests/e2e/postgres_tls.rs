//! The daemon's connection to PostgreSQL over TLS (`store.postgres.ca_file`): verified against
//! the configured authority, refused with a clear error otherwise, and never plain text.

use crate::fixture::{Site, bin};
use crate::postgres::Postgres;

/// A throwaway authority, and a certificate it signed for 127.0.0.1 with its key (PEM).
fn authority_and_server_certificate() -> (String, String, String) {
    let mut authority = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let authority =
        rcgen::CertifiedIssuer::self_signed(authority, rcgen::KeyPair::generate().unwrap())
            .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &authority)
        .unwrap();
    (authority.pem(), server.pem(), server_key.serialize_pem())
}

/// A site on `url`, trusting the authorities in `ca` (PEM).
fn site_trusting(url: String, ca: &str) -> Site {
    let site = Site::on_store(url);
    let ca_file = site.dir.path().join("db-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    site.set_in_section(
        "store.postgres",
        &format!("ca_file = \"{}\"", ca_file.display()),
    );
    site
}

/// Starts posternd expecting it to refuse; returns what it said.
fn refused(site: &Site) -> String {
    let output = std::process::Command::new(bin("posternd"))
        .arg("--config")
        .arg(&site.config)
        .output()
        .expect("run posternd");
    assert!(!output.status.success(), "posternd started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_store_connection_is_tls_verified_against_the_configured_authority_and_never_plain() {
    if crate::postgres::skip_on_sled("it starts PostgreSQL servers of its own") {
        return;
    }
    let (ca, cert, key) = authority_and_server_certificate();
    let server = Postgres::start_on_loopback(Some((&cert, &key)));

    let site = site_trusting(server.tcp_url(), &ca);
    let _daemon = site.start();
    site.add_user("tess", &[]);
    assert!(site.ok(&["user", "list"]).contains("tess"));
    let encrypted = server.sql(
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'posternd'",
    );
    assert_eq!(encrypted, "t", "every connection of the daemon is TLS");

    // Another authority: the server cannot prove itself, and the daemon says so.
    let (other_ca, _, _) = authority_and_server_certificate();
    let stranger = site_trusting(server.tcp_url(), &other_ca);
    let said = refused(&stranger);
    assert!(said.contains("certificate"), "{said}");

    // A server without TLS: refused, not spoken to in the clear.
    let plain = Postgres::start_on_loopback(None);
    let said = refused(&site_trusting(plain.tcp_url(), &ca));
    assert!(said.contains("TLS"), "{said}");
}
