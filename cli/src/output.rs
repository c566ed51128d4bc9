//! How answers are shown: aligned tables for people, JSON for scripts.

use std::time::{Duration, UNIX_EPOCH};

/// Prints rows under headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints `label: value` pairs with the values aligned.
pub fn fields(pairs: &[(&str, String)]) {
    let width = pairs
        .iter()
        .map(|(label, _)| label.len() + 1)
        .max()
        .unwrap_or(0);
    for (label, value) in pairs {
        println!("{:<width$} {value}", format!("{label}:"));
    }
}

pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A Unix time as RFC 3339 UTC, to the second.
pub fn time(unix_seconds: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_seconds)).to_string()
}

pub fn optional_time(unix_seconds: Option<u64>) -> String {
    unix_seconds.map(time).unwrap_or_else(|| "never".into())
}

pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

/// "totp (required by a role)", "off", "totp, to enrol at next sign-in".
pub fn mfa_state(mfa: &postern_proto::admin::MfaView) -> String {
    let method = match (&mfa.method, mfa.enabled) {
        (Some(method), true) => method.clone(),
        (Some(method), false) => format!("{method}, to enrol at next sign-in"),
        (None, _) => "off".into(),
    };
    if mfa.required {
        format!("{method} (required by a role)")
    } else {
        method
    }
}

/// A user's passkeys, one a line: name, id, when added and last used.
pub fn passkeys(passkeys: &[postern_proto::admin::PasskeyView]) -> String {
    if passkeys.is_empty() {
        return "none".into();
    }
    passkeys
        .iter()
        .map(|p| {
            format!(
                "{} (id {}; added {}, last used {})",
                p.name,
                p.id,
                time(p.created_at),
                p.last_used_at.map_or_else(|| "never".into(), time)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The MFA report: one row a user, as a table or as CSV.
pub fn mfa_report(users: &[postern_proto::admin::UserView], csv: bool) {
    let headers = [
        "USERNAME",
        "ROLES",
        "MFA ENABLED",
        "METHOD",
        "REQUIRED",
        "PASSKEYS",
        "LAST SIGN-IN",
    ];
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.username.clone(),
                u.roles.join(" "),
                yes_no(u.mfa.enabled),
                u.mfa.method.clone().unwrap_or_else(|| "-".into()),
                yes_no(u.mfa.required),
                u.mfa.passkeys.len().to_string(),
                optional_time(u.last_login_at),
            ]
        })
        .collect();
    if !csv {
        return table(&headers, &rows);
    }
    println!(
        "{}",
        headers
            .map(|h| h.to_lowercase().replace(' ', "_"))
            .join(",")
    );
    for row in rows {
        // Usernames and role names cannot hold commas or quotes; times cannot either.
        println!("{}", row.join(","));
    }
}
