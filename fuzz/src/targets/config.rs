//! The configuration file, as `posternd --config` reads it (TOML, then `POSTERN_*` variables,
//! then validation): any text is a config or a clear error.

use postern_daemon::config::Config;
use std::path::Path;

pub fn seeds() -> Vec<Vec<u8>> {
    vec![
        include_bytes!("../../../config/postern.toml").to_vec(),
        b"[http]\nlisten = \"127.0.0.1:0\"\n".to_vec(),
        b"[store]\nbackend = \"postgres\"\ncache = \"1GiB\"\n[store.postgres]\nurl = \"host=/tmp\"\npool_size = 2\n".to_vec(),
        b"[mail]\ntransport = \"smtp\"\nsmtp_host = \"localhost\"\nsmtp_tls = \"none\"\n".to_vec(),
        b"[limits]\naccount_max_failures = 0\n".to_vec(),
        b"issuer = \"https://id.example.com\"\n[tokens]\naccess_token_lifetime = \"10m\"\n".to_vec(),
    ]
}

pub const DICTIONARY: &[&[u8]] = &[
    b"[store]",
    b"[http]",
    b"[mail]",
    b"[pam]",
    b"[admin]",
    b"[limits]",
    b"[tokens]",
    b" = ",
    b"\"\"",
    b"\"1s\"",
    b"\"999999999999d\"",
    b"\"0\"",
    b"\"256MiB\"",
    b"\"18446744073709551615GiB\"",
    b"[[a]]",
    b"{ a = 1 }",
    b"'''",
    b"\"\"\"",
    b"\n",
    b"#",
];

pub fn run(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    // Nothing from this process's environment: only what the input says.
    let vars = [("POSTERN_ADMIN_GROUP".to_owned(), String::new())];
    let _ = Config::from_text(&text, Path::new("fuzz.toml"), vars);
    Ok(())
}
