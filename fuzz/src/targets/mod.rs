//! The fuzz targets: each takes outside bytes the way the daemon (or its tools) would.

pub mod backup;
pub mod config;
pub mod frames;
pub mod http;
pub mod records;

pub const NAMES: &[&str] = &["frames", "config", "records", "backup", "http"];

pub enum Target {
    Frames,
    Config,
    Records,
    Backup,
    Http(Box<http::Http>),
    /// For the driver's own test: panics on "boom".
    #[cfg(test)]
    Panics,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Target {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "frames" => Self::Frames,
            "config" => Self::Config,
            "records" => Self::Records,
            "backup" => Self::Backup,
            "http" => Self::Http(Box::new(http::Http::new()?)),
            other => anyhow::bail!("no target `{other}`"),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Frames => "frames",
            Self::Config => "config",
            Self::Records => "records",
            Self::Backup => "backup",
            Self::Http(_) => "http",
            #[cfg(test)]
            Self::Panics => "panics",
        }
    }

    pub fn seeds(&self) -> Vec<Vec<u8>> {
        match self {
            Self::Frames => frames::seeds(),
            Self::Config => config::seeds(),
            Self::Records => records::seeds(),
            Self::Backup => backup::seeds(),
            Self::Http(_) => http::seeds(),
            #[cfg(test)]
            Self::Panics => Vec::new(),
        }
    }

    pub fn dictionary(&self) -> &'static [&'static [u8]] {
        match self {
            Self::Frames => frames::DICTIONARY,
            Self::Config => config::DICTIONARY,
            Self::Records => records::DICTIONARY,
            Self::Backup => backup::DICTIONARY,
            Self::Http(_) => http::DICTIONARY,
            #[cfg(test)]
            Self::Panics => &[],
        }
    }

    pub fn run(&mut self, input: &[u8]) -> Result<(), String> {
        match self {
            Self::Frames => frames::run(input),
            Self::Config => config::run(input),
            Self::Records => records::run(input),
            Self::Backup => backup::run(input),
            Self::Http(http) => http.run(input),
            #[cfg(test)]
            Self::Panics => {
                assert!(input != b"boom", "boom");
                Ok(())
            }
        }
    }
}
