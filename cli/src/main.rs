//! The `fieldsync` command line.

mod plugins;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps issues of two issue-tracker projects in sync, field by field.
#[derive(Parser)]
#[command(name = "fieldsync", version, about, long_about = None)]
#[command(
    after_help = "Logging: set RUST_LOG (e.g. RUST_LOG=debug, or RUST_LOG=plugin=debug for plugins only)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect plugin libraries.
    #[command(subcommand)]
    Plugins(PluginsCommand),
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Load every plugin in a folder and list its mappings; rejected files are listed
    /// with their reason. Exit code 1 when any file was rejected.
    List {
        /// The plugin folder. Libraries are only ever loaded from here.
        #[arg(long, env = "FIELDSYNC_PLUGIN_DIR", value_name = "DIR")]
        dir: PathBuf,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load one plugin file and say whether and why it is (not) usable.
    Check {
        /// The plugin library file.
        file: PathBuf,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Exit code for a bad command line or unusable arguments (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the command ran but found problems (e.g. rejected plugins).
pub const EXIT_PROBLEMS: u8 = 1;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Plugins(PluginsCommand::List { dir, json }) => plugins::list(&dir, json),
        Command::Plugins(PluginsCommand::Check { file, json }) => plugins::check(&file, json),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("fieldsync: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
