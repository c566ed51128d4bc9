//! The benchmark program, run for one second with 100 users so that it cannot rot. Its
//! figures are not judged here (speed is judged by running the benchmark itself); only that
//! every measurement ran, without errors, and the report is complete.

use crate::fixture::bin;

#[test]
fn the_benchmark_runs_every_measurement_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let mut args = vec!["--users", "100", "--seconds", "1", "--connections", "2"];
    // The PostgreSQL run measures two daemons on a server the bench starts itself.
    let on_postgres = crate::postgres::selected();
    if on_postgres {
        args.extend(["--store", "postgres", "--daemons", "2"]);
    }
    let output = std::process::Command::new(bin("postern-bench"))
        .args(&args)
        .arg("--json")
        .arg(&json)
        .env("POSTERND_BINARY", bin("posternd"))
        .output()
        .expect("run postern-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("browser sign-ins") && stdout.contains("Argon2id"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let (store, daemons) = if on_postgres {
        ("postgres", 2)
    } else {
        ("sled", 1)
    };
    assert_eq!(
        (report["store"].as_str(), report["daemons"].as_u64()),
        (Some(store), Some(daemons))
    );
    let figures = report["figures"].as_array().unwrap();
    let names: Vec<&str> = figures
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for expected in [
        "discovery",
        "jwks",
        "browser sign-ins (RS256)",
        "refresh grants (RS256)",
        "refresh grants (EdDSA)",
        "userinfo",
        "introspection",
        "PAM logins (password + TOTP)",
        "PAM login latency, one at a time",
        "Argon2id hash, in turn with it",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    for figure in figures {
        assert!(figure["operations"].as_u64().unwrap() > 0, "{figure}");
        assert_eq!(figure["errors"], 0, "{figure}");
    }
    // Each figure a bound limits is compared with the bound measured around it.
    for name in [
        "browser sign-ins (EdDSA)",
        "browser sign-ins (RS256)",
        "refresh grants (RS256)",
        "PAM logins (password + TOTP)",
    ] {
        let figure = figures.iter().find(|f| f["name"] == name).unwrap();
        let bound = figure["bound_per_second"].as_f64().unwrap();
        let share = figure["of_bound"].as_f64().unwrap();
        let rate = figure["per_second"].as_f64().unwrap();
        assert!((share - rate / bound).abs() < 1e-9, "{figure}");
    }
    // The first measurement, then one before and one after each of three figures.
    assert_eq!(
        report["argon2_measured"].as_array().unwrap().len(),
        7,
        "{report}"
    );
    assert_eq!(
        report["rs256_measured"].as_array().unwrap().len(),
        3,
        "{report}"
    );
    for key in [
        "argon2_per_second",
        "rs256_signatures_per_second",
        "eddsa_signatures_per_second",
        "rss_idle_bytes",
        "rss_after_load_bytes",
        "startup_ms",
        "state_dir_bytes",
    ] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key}: {report}");
    }
}

/// The soak mode, for six seconds sampled every two: every kind of work ran, none failed, and
/// each sample has the daemon's memory and descriptors.
#[test]
fn the_soak_mode_samples_memory_descriptors_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("soak.json");
    let mut args = vec!["--users", "100", "--soak", "6s", "--sample-every", "2"];
    if crate::postgres::selected() {
        args.extend(["--store", "postgres"]);
    }
    let output = std::process::Command::new(bin("postern-bench"))
        .args(&args)
        .arg("--json")
        .arg(&json)
        .env("POSTERND_BINARY", bin("posternd"))
        .output()
        .expect("run postern-bench --soak");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("0 errors") && stdout.contains("open descriptors"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let samples = report["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3, "{report}");
    let mut done = std::collections::BTreeMap::<String, u64>::new();
    for sample in samples {
        assert!(sample["rss_bytes"].as_u64().unwrap() > 0, "{sample}");
        assert!(sample["open_fds"].as_u64().unwrap() > 0, "{sample}");
        for (kind, counts) in sample["operations"].as_object().unwrap() {
            assert_eq!(counts[1], 0, "{kind} failed: {report}");
            *done.entry(kind.clone()).or_default() += counts[0].as_u64().unwrap();
        }
    }
    let expected: &[&str] = if nix::unistd::Uid::effective().is_root() {
        &["sign-ins", "refreshes", "userinfo", "admin", "pam"]
    } else {
        &["sign-ins", "refreshes", "userinfo", "admin"]
    };
    for kind in expected {
        assert!(
            done.get(*kind).is_some_and(|n| *n > 0),
            "no {kind}: {report}"
        );
    }
}
