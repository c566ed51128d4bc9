//! Reading a new password: typed twice at a terminal, or one line from standard input with
//! `--password-stdin`. Never from the command line, where `ps` and shell history would see it.

use anyhow::{Context, bail};
use postern_proto::Secret;
use std::io::{BufRead, IsTerminal};

pub fn read_new(from_stdin: bool) -> anyhow::Result<Secret> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        if password.is_empty() {
            bail!("standard input held no password");
        }
        return Ok(Secret::new(password));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on; pipe it in with --password-stdin");
    }
    let first = rpassword::prompt_password("New password: ").context("cannot read the password")?;
    let second =
        rpassword::prompt_password("Repeat password: ").context("cannot read the password")?;
    if first != second {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(Secret::new(first))
}
