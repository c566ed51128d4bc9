//! `postern-docgen OUT_DIR`: writes the man pages (`man/`) and shell completions
//! (`completions/`) that the Debian package ships, from the binaries' own clap definitions,
//! so they never disagree with `--help`.

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: postern-docgen OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postern-docgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &Path) -> std::io::Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    // Both are administrators' commands: section 8.
    let commands = [
        postern_daemon::args::Args::command(),
        postern_cli::args::Cli::command(),
    ];
    for command in commands {
        let name = command.get_name().to_owned();
        write_man_pages(command.clone(), &man)?;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut command = command.clone();
            let path = clap_complete::generate_to(shell, &mut command, &name, &completions)?;
            println!("{}", path.display());
        }
    }
    println!("{}", man.display());
    Ok(())
}

/// One page for the command and one for each subcommand (`postern-user-add.8`), as
/// `clap_mangen::generate_to` does, but in section 8.
fn write_man_pages(command: clap::Command, dir: &Path) -> std::io::Result<()> {
    fn write(command: clap::Command, dir: &Path) -> std::io::Result<()> {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub.clone(), dir)?;
        }
        clap_mangen::Man::new(command)
            .section("8")
            .manual("Postern")
            .generate_to(dir)?;
        Ok(())
    }
    let mut command = command.disable_help_subcommand(true);
    command.build();
    write(command, dir)
}
