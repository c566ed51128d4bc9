//! OIDC clients and signing keys through the CLI.

use crate::fixture::{Site, stderr};

#[test]
fn a_client_is_registered_shown_once_with_its_secret_and_rotated() {
    let site = Site::new();
    let _daemon = site.start();
    let created: serde_json::Value = serde_json::from_str(&site.ok(&[
        "--json",
        "client",
        "add",
        "wiki",
        "--redirect-uri",
        "https://wiki.example.com/callback",
        "--signing-alg",
        "EdDSA",
    ]))
    .unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(created["client"]["signing_alg"], "EdDSA");

    let shown = site.ok(&["client", "show", "wiki"]);
    assert!(
        shown.contains("https://wiki.example.com/callback") && !shown.contains(&secret),
        "{shown}"
    );
    let rotated: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "client", "rotate-secret", "wiki"])).unwrap();
    assert_ne!(rotated["client_secret"].as_str().unwrap(), secret);

    let public: serde_json::Value = serde_json::from_str(&site.ok(&[
        "--json",
        "client",
        "add",
        "spa",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
    ]))
    .unwrap();
    assert!(public["client_secret"].is_null());
    let no_secret = site.cli(&["client", "rotate-secret", "spa"]);
    assert!(
        stderr(&no_secret).contains("public"),
        "{}",
        stderr(&no_secret)
    );

    let list: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "client", "list"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    site.ok(&["client", "delete", "spa"]);
    assert_eq!(site.cli(&["client", "show", "spa"]).status.code(), Some(1));
}

#[test]
fn unsafe_redirect_uris_and_duplicate_names_are_refused() {
    let site = Site::new();
    let _daemon = site.start();
    for (uri, reason) in [
        ("http://app.example.com/cb", "must use https"),
        ("https://app.example.com/cb#frag", "fragment"),
        ("/relative", "not an absolute URL"),
    ] {
        let out = site.cli(&["client", "add", "app", "--redirect-uri", uri]);
        assert_eq!(out.status.code(), Some(1), "{uri}");
        assert!(stderr(&out).contains(reason), "{uri}: {}", stderr(&out));
    }
    site.ok(&[
        "client",
        "add",
        "app",
        "--redirect-uri",
        "https://app.example.com/cb",
    ]);
    let again = site.cli(&[
        "client",
        "add",
        "app",
        "--redirect-uri",
        "https://app.example.com/cb",
    ]);
    assert!(
        stderr(&again).contains("client `app` already exists"),
        "{}",
        stderr(&again)
    );
    let no_uri = site.cli(&["client", "add", "other"]);
    assert_eq!(no_uri.status.code(), Some(2), "a redirect URI is required");
}

#[test]
fn keys_rotate_and_the_old_ones_stay_published_until_their_tokens_expire() {
    let site = Site::new();
    let _daemon = site.start();
    let keys: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "keys", "list"])).unwrap();
    let algs: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 3);
    for alg in ["RS256", "EdDSA", "ES256"] {
        assert!(algs.contains(&alg), "{algs:?}");
    }
    let rotated: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "keys", "rotate"])).unwrap();
    let retired = rotated
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| !k["retired_at"].is_null())
        .count();
    assert_eq!((rotated.as_array().unwrap().len(), retired), (6, 3));

    // Past the ID token lifetime (10 minutes by default), a further rotation prunes them.
    site.ok(&["--json", "keys", "list"]);
    crate::fixture::advance_clock(&site, 11 * 60);
    let again: serde_json::Value =
        serde_json::from_str(&site.ok(&["--json", "keys", "rotate"])).unwrap();
    assert_eq!(
        again.as_array().unwrap().len(),
        6,
        "the first retired set is gone, the second remains"
    );
}
