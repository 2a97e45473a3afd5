//! `walctl completions SHELL` and `walctl man`: generated from the clap
//! definitions in cli.rs, so they cannot drift from the parser.

use crate::cli::{Cli, Shell, EXIT_CODES};
use crate::Failure;
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

pub fn completions(shell: Shell, out: &mut dyn Write) -> Result<(), Failure> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    match shell {
        Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "walctl", &mut script),
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "walctl", &mut script),
        Shell::Fish => clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "walctl", &mut script),
    }
    out.write_all(&script)?;
    Ok(())
}

/// walctl.1 on standard output; or, with a directory, walctl.1 and one page
/// per command (walctl-stat.1, ...) written there.
pub fn man(out_dir: Option<&Path>, out: &mut dyn Write) -> Result<(), Failure> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = out_dir else {
        return Ok(main_page(cmd, out)?);
    };
    let failed = |e| wal::Error::io("write the man pages into", dir, e);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        clap_mangen::Man::new(sub.clone()).generate_to(dir).map_err(failed)?;
    }
    let path = dir.join("walctl.1");
    let mut page = Vec::new();
    main_page(cmd, &mut page).map_err(failed)?;
    std::fs::write(&path, page).map_err(|e| wal::Error::io("write", &path, e))?;
    Ok(())
}

/// clap_mangen's sections, with the exit statuses as a roff list of their
/// own (clap_mangen would fill the --help text into one paragraph).
fn main_page(cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for (code, what) in EXIT_CODES {
        writeln!(out, ".TP\n{code}\n{}", roff_text(what))?;
    }
    man.render_version_section(out)
}

/// Text safe as a roff line: backslashes and hyphens escaped, and no
/// leading dot or quote that roff would read as a request.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    match escaped.starts_with(['.', '\'']) {
        true => format!("\\&{escaped}"),
        false => escaped,
    }
}
