//! Module arguments from the PAM configuration line:
//! `mode=full|second_factor socket=PATH timeout=SECONDS unreachable=deny|ignore debug`.

use postern_proto::pam::PamMode;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub mode: PamMode,
    pub socket: PathBuf,
    pub timeout: Duration,
    /// When the daemon cannot be reached: deny (fail closed), or let other modules decide.
    pub ignore_unreachable: bool,
    pub debug: bool,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            mode: PamMode::Full,
            socket: PathBuf::from("/run/postern/pam.sock"),
            timeout: Duration::from_secs(30),
            ignore_unreachable: false,
            debug: false,
        }
    }
}

impl Args {
    /// Parses the arguments; an unknown or malformed one is an error naming it (the module then
    /// refuses, rather than run with a setting the administrator did not mean).
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut parsed = Self::default();
        for arg in args {
            match arg.split_once('=') {
                Some(("mode", "full")) => parsed.mode = PamMode::Full,
                Some(("mode", "second_factor")) => parsed.mode = PamMode::SecondFactor,
                Some(("socket", path)) if !path.is_empty() => parsed.socket = PathBuf::from(path),
                Some(("timeout", seconds)) => match seconds.parse::<u64>() {
                    Ok(n) if (1..=600).contains(&n) => parsed.timeout = Duration::from_secs(n),
                    _ => {
                        return Err(format!(
                            "timeout={seconds}: give whole seconds from 1 to 600"
                        ));
                    }
                },
                Some(("unreachable", "deny")) => parsed.ignore_unreachable = false,
                Some(("unreachable", "ignore")) => parsed.ignore_unreachable = true,
                None if arg == "debug" => parsed.debug = true,
                _ => return Err(format!("unknown argument `{arg}`")),
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_and_typos_are_refused() {
        let args = Args::parse([
            "mode=second_factor",
            "socket=/tmp/p.sock",
            "timeout=5",
            "unreachable=ignore",
            "debug",
        ]);
        assert_eq!(
            args,
            Ok(Args {
                mode: PamMode::SecondFactor,
                socket: PathBuf::from("/tmp/p.sock"),
                timeout: Duration::from_secs(5),
                ignore_unreachable: true,
                debug: true,
            })
        );
        assert_eq!(Args::parse([]), Ok(Args::default()));
        assert!(Args::parse(["mode=secondfactor"]).is_err());
        assert!(Args::parse(["timeout=0"]).is_err());
        assert!(Args::parse(["unreachable=allow"]).is_err());
    }
}
