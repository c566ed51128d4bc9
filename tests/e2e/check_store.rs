//! `posternd check-store`: a clean store passes; indexes and counts broken behind the daemon's
//! back are named, and `--repair` rebuilds them and says what it changed; a sled store still
//! open in a daemon is refused plainly.

use crate::fixture::{Site, bin, stderr};
use crate::postgres::{Postgres, skip_on_postgres, skip_on_sled};
use std::process::{Command, Output};

fn check_store(site: &Site, repair: bool) -> Output {
    let mut command = Command::new(bin("posternd"));
    command.arg("--config").arg(&site.config).arg("check-store");
    if repair {
        command.arg("--repair");
    }
    command.output().expect("run posternd check-store")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Two users (one in a role) and a client, through the admin socket.
fn populate(site: &Site) {
    site.ok(&["role", "add", "staff", "--require-mfa"]);
    site.add_user("alice", &["staff"]);
    site.add_user("bob", &[]);
    site.ok(&[
        "client",
        "add",
        "wiki",
        "--redirect-uri",
        "https://wiki.example.com/cb",
    ]);
}

#[test]
fn a_clean_sled_store_passes_and_an_open_one_is_refused() {
    if skip_on_postgres("sled's own store") {
        return;
    }
    let site = Site::on_sled();
    let daemon = site.start();
    populate(&site);
    let open = check_store(&site, false);
    assert!(
        !open.status.success() && stderr(&open).contains("in use by another posternd"),
        "{}",
        stderr(&open)
    );
    daemon.terminate();
    let clean = check_store(&site, false);
    let said = stdout(&clean);
    assert!(clean.status.success(), "{said}{}", stderr(&clean));
    assert!(
        said.contains("checked 2 users, 1 roles, 1 clients") && said.contains("no problems found"),
        "{said}"
    );
}

#[test]
fn broken_postgres_indexes_are_named_and_repaired() {
    if skip_on_sled("breaks a PostgreSQL store by hand") {
        return;
    }
    let server = Postgres::start();
    let site = Site::on_store(server.url());
    let daemon = site.start();
    populate(&site);
    daemon.terminate();
    server.sql("UPDATE counters SET value = 9 WHERE name = 'users'");
    server.sql("DELETE FROM role_members");
    server.sql("UPDATE users SET name_key = 'someone-else' WHERE name_key = 'bob'");

    let found = check_store(&site, false);
    let said = stdout(&found);
    assert_eq!(found.status.code(), Some(1), "{said}{}", stderr(&found));
    for problem in [
        "the user count says 9, but there are 2 users",
        "user `alice` holds role `staff` but is not among its members",
        "user `bob`",
        "(--repair rebuilds it)",
        "3 problem(s) found",
    ] {
        assert!(said.contains(problem), "{problem}: {said}");
    }

    let repaired = check_store(&site, true);
    let said = stdout(&repaired);
    assert!(repaired.status.success(), "{said}{}", stderr(&repaired));
    for change in [
        "repaired: username index: corrected 1 entries",
        "repaired: role membership: removed 0 stale entries, wrote 1 missing ones",
        "repaired: set the user count from 9 to 2",
        "no problems found",
    ] {
        assert!(said.contains(change), "{change}: {said}");
    }
    let again = check_store(&site, false);
    assert!(again.status.success(), "{}", stdout(&again));
    let daemon = site.start();
    site.ok(&["user", "show", "bob"]);
    drop(daemon);
}
