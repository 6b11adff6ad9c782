//! The `fieldsync` command line.

// Output that never panics: std's `println!` panics when stdout is a closed pipe
// (`fieldsync demo | head -1`), which would stop the work half done. These shadow
// std's macros in every module below (they are defined before the modules), and drop
// what cannot be written instead; the command still finishes its work.
macro_rules! println {
    () => {
        $crate::output::write_line(&mut std::io::stdout(), format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_line(&mut std::io::stdout(), format_args!($($arg)*))
    };
}
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::output::write(&mut std::io::stdout(), format_args!($($arg)*))
    };
}
macro_rules! eprintln {
    () => {
        $crate::output::write_line(&mut std::io::stderr(), format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_line(&mut std::io::stderr(), format_args!($($arg)*))
    };
}

/// A sync allocates and frees small strings and JSON values by the million; with
/// glibc's malloc that took a sixth of an initial sync (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod demo;
mod errors;
mod exit;
mod host;
mod issue;
mod live;
mod logging;
mod output;
mod plugins;
mod project;
mod redmine;
mod scaffold;
mod sync;
mod table;
mod try_mapping;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldsync_demo::StoreLayout;

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
    /// Set up two sample projects, sync them both ways and show what happened.
    Demo {
        /// Where to write the demo's stores, configuration and `plugins/` folder; the
        /// files of an earlier demo there are replaced, nothing else is touched.
        #[arg(long, default_value = "fieldsync-demo", value_name = "DIR")]
        dir: PathBuf,
        /// The plugin folder (default: the two example plugins, copied from beside the
        /// fieldsync executable, where `cargo build` puts them, into DIR/plugins).
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// Keep both projects in one store file instead of one file per instance.
        #[arg(long)]
        one_store: bool,
    },
    /// Run the sync queues of a configuration.
    Sync {
        #[command(flatten)]
        setup: SyncSetup,
        /// Run one full round both ways and exit (exit code 1 if an issue failed or a
        /// message is parked).
        #[arg(long)]
        once: bool,
        /// Print each round's report as one JSON line.
        #[arg(long)]
        json: bool,
        /// Print only each round's summary line (no per-issue lines, no progress).
        #[arg(long, conflicts_with = "json")]
        quiet: bool,
        /// When the configuration names mappings no plugin offers yet, wait for them
        /// (watching the plugin folder) instead of exiting with code 2.
        #[arg(long)]
        wait_for_mappings: bool,
    },
    /// Queue a resync: send some fields of an issue again with the next round.
    Resync {
        /// The issue, e.g. `SUP-3`.
        key: String,
        /// Field ids of the issue's project (or relationship ids), comma-separated;
        /// every synced field when omitted.
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
        #[command(flatten)]
        setup: SyncSetup,
    },
    /// List failed messages and sends; retry or skip them.
    #[command(subcommand)]
    Errors(ErrorsCommand),
    /// Check a sync configuration as `fieldsync sync` does at start, without running
    /// anything.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Per synchronization: queue depth, parked messages, the last round and slow
    /// mapping calls. Exit code 1 while a failure waits (retry or parked).
    Status {
        /// The sync configuration (JSON).
        #[arg(long, env = "FIELDSYNC_CONFIG", value_name = "FILE")]
        config: PathBuf,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Act as a user of a project: create, edit and show issues.
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Declare the projects of a store.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Declare the users of a store's instance (matched across instances by e-mail).
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect plugin libraries.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Look at a Redmine server before syncing with it.
    #[command(subcommand)]
    Redmine(RedmineCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Everything `fieldsync sync` checks at start — the file's shape, ids, stores
    /// and trackers, projects and fields, mapping ids, the field types each mapping
    /// accepts and each mapping's options — with every problem and its JSON path.
    /// Exit code 0 usable, 2 not, 3 a tracker or store did not answer.
    Check {
        #[command(flatten)]
        setup: SyncSetup,
    },
}

#[derive(Subcommand)]
enum RedmineCommand {
    /// List what a Redmine project offers: its fields (attributes and custom fields)
    /// with the fieldsync type each maps to, trackers (issue types), statuses,
    /// priorities and (with an administrator's key) users.
    Describe {
        /// The server, e.g. `https://redmine.example.com`.
        #[arg(long)]
        url: String,
        /// The environment variable holding the API key.
        #[arg(long, value_name = "VAR", required_unless_present = "api_key_file")]
        api_key_env: Option<String>,
        /// A file holding the API key.
        #[arg(long, value_name = "FILE", conflicts_with = "api_key_env")]
        api_key_file: Option<PathBuf>,
        /// A project identifier, to list its fields.
        #[arg(long)]
        project: Option<String>,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ErrorsCommand {
    /// Every failure with its context: synchronization, issues, relationship,
    /// mapping and plugin, data, error, attempts, times.
    List {
        /// The sync configuration (JSON).
        #[arg(long, env = "FIELDSYNC_CONFIG", value_name = "FILE")]
        config: PathBuf,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Try a failure again with the next round (parked ones too).
    Retry {
        /// The failure's id, as `errors list` shows it.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every failure.
        #[arg(long)]
        all: bool,
        /// The sync configuration (JSON).
        #[arg(long, env = "FIELDSYNC_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
    /// Give up on a failure: its message is never applied (or its changes never
    /// sent) and the messages waiting behind it go ahead. Who and when are recorded.
    Skip {
        /// The failure's id, as `errors list` shows it.
        id: String,
        /// Who skips it (default: $USER).
        #[arg(long = "as", env = "FIELDSYNC_USER", value_name = "USER")]
        by: Option<String>,
        /// The sync configuration (JSON).
        #[arg(long, env = "FIELDSYNC_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Add a project from a JSON definition (key, name, issue_types, fields with id,
    /// name and type, create_screen); the store file is created if it does not exist.
    Add {
        /// The store file.
        #[arg(long, env = "FIELDSYNC_STORE", value_name = "FILE")]
        store: PathBuf,
        /// The project definition (JSON).
        definition: PathBuf,
    },
    /// List the projects of a store and their fields.
    List {
        /// The store file.
        #[arg(long, env = "FIELDSYNC_STORE", value_name = "FILE")]
        store: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add or replace a user.
    Add {
        /// The store file.
        #[arg(long, env = "FIELDSYNC_STORE", value_name = "FILE")]
        store: PathBuf,
        /// Login name: what user fields hold.
        username: String,
        /// E-mail address.
        #[arg(long, default_value = "")]
        email: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
}

/// The configuration and plugins a sync runs with.
#[derive(clap::Args)]
struct SyncSetup {
    /// The sync configuration (JSON).
    #[arg(long, env = "FIELDSYNC_CONFIG", value_name = "FILE")]
    config: PathBuf,
    /// The plugin folder; without it only built-in mappings are available.
    #[arg(long, env = "FIELDSYNC_PLUGIN_DIR", value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// The plugin pins (`fieldsync plugins pin` writes them); default: `plugins.lock`
    /// beside the configuration, when it exists.
    #[arg(long, env = "FIELDSYNC_PLUGIN_PINS", value_name = "FILE")]
    pins: Option<PathBuf>,
}

impl SyncSetup {
    fn plugins(&self) -> host::PluginSetup {
        host::PluginSetup::for_config(&self.config, self.plugins.as_deref(), self.pins.as_deref())
    }
}

/// Who makes a change from the command line.
#[derive(clap::Args)]
struct Author {
    /// The user making the change (changes by the sync user are never synced).
    #[arg(
        long = "as",
        env = "FIELDSYNC_USER",
        default_value = "cli",
        value_name = "USER"
    )]
    name: String,
}

/// Where the issue commands find the project's store.
#[derive(clap::Args)]
struct StoreArgs {
    /// The store file.
    #[arg(long, env = "FIELDSYNC_STORE", value_name = "FILE")]
    store: Option<PathBuf>,
    /// A sync configuration: the store is the one it names for the project.
    #[arg(long, env = "FIELDSYNC_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl StoreArgs {
    fn choice(&self) -> issue::StoreChoice<'_> {
        issue::StoreChoice {
            store: self.store.as_deref(),
            config: self.config.as_deref(),
        }
    }
}

#[derive(Subcommand)]
enum IssueCommand {
    /// Create an issue.
    Create {
        /// Project key, e.g. `SUP`.
        #[arg(long)]
        project: String,
        /// Issue type, e.g. `Incident`.
        #[arg(long = "type", value_name = "TYPE")]
        issue_type: String,
        /// FIELD=VALUE (repeatable); lists are comma-separated.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        author: Author,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Change fields of an issue; an empty VALUE clears the field.
    Edit {
        /// The issue, e.g. `SUP-3`.
        key: String,
        /// FIELD=VALUE (repeatable); lists are comma-separated.
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
        #[command(flatten)]
        author: Author,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List a project's issues with their sync state, newest change first.
    List {
        /// Project key, e.g. `SUP`.
        #[arg(long)]
        project: String,
        /// Only issues changed at or after this time (RFC 3339, e.g.
        /// `2026-12-01T00:00:00Z`, or a date).
        #[arg(long, value_name = "TIME")]
        updated_since: Option<String>,
        /// Only issues in this sync state.
        #[arg(long, value_enum)]
        state: Option<issue::ListState>,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show an issue's fields and its sync status (partner, last sent, last received).
    Show {
        /// The issue, e.g. `SUP-3`.
        key: String,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Load every plugin in a folder and list its mappings; rejected files are listed
    /// with their reason. Exit code 1 when any file was rejected.
    List {
        /// The plugin folder. Libraries are only ever loaded from here.
        #[arg(long, env = "FIELDSYNC_PLUGIN_DIR", value_name = "DIR")]
        dir: PathBuf,
        /// Pins to check the files against (see `plugins pin`).
        #[arg(long, env = "FIELDSYNC_PLUGIN_PINS", value_name = "FILE")]
        pins: Option<PathBuf>,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load one plugin file and say whether and why it is (not) usable.
    Check {
        /// The plugin library file.
        file: PathBuf,
        /// Pins to check the file against (see `plugins pin`).
        #[arg(long, env = "FIELDSYNC_PLUGIN_PINS", value_name = "FILE")]
        pins: Option<PathBuf>,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Build one mapping of a plugin file with some options and call it once on a
    /// value, as the engine would: prints the answer, the plugin's log records (every
    /// level) and any error. Exit code 1 when the mapping failed.
    Try {
        /// The plugin library file.
        file: PathBuf,
        /// The mapping id.
        #[arg(long)]
        mapping: String,
        /// Which way, when the plugin offers the id both ways.
        #[arg(long, value_enum)]
        direction: Option<TryDirection>,
        /// The relationship's options for the mapping (JSON).
        #[arg(long, default_value = "null", value_name = "JSON")]
        options: String,
        /// Outgoing: the field's value; incoming: the message data (JSON).
        #[arg(long, value_name = "JSON")]
        value: String,
        /// The field's type (`text`, `number`, `priority`, ...): checked against what
        /// the mapping accepts, and an incoming answer against the type.
        #[arg(long, value_name = "TYPE")]
        field_type: Option<String>,
        /// The issue's other fields as a JSON object (incoming: the target issue's
        /// fields; without it the call is the one for a new issue).
        #[arg(long, value_name = "JSON")]
        fields: Option<String>,
    },
    /// Write a new plugin crate (one outgoing and one incoming mapping with options,
    /// and tests that call them through the real plugin boundary) that builds and
    /// passes `cargo test` as generated.
    New {
        /// The crate's name, e.g. `acme-severity`.
        name: String,
        /// The folder to create (default: `./NAME`); must be absent or empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The plugin id, `vendor.name` (default: `local.NAME`).
        #[arg(long)]
        id: Option<String>,
        /// A fieldsync checkout to take `fieldsync-plugin-api` and the test kit from
        /// (default: the one this program was built from, if it is still there).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Pin every plugin of a folder to the SHA-256 digest of its file, as the folder
    /// is now: a file whose digest differs is then refused. `fieldsync sync` reads
    /// `plugins.lock` beside its configuration (or `--pins FILE`).
    Pin {
        /// The plugin folder.
        #[arg(long, env = "FIELDSYNC_PLUGIN_DIR", value_name = "DIR")]
        dir: PathBuf,
        /// The lock file to write, e.g. `plugins.lock` beside the configuration.
        #[arg(long, value_name = "FILE")]
        pins: PathBuf,
    },
}

/// A mapping's direction on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum TryDirection {
    Outgoing,
    Incoming,
}

impl TryDirection {
    fn into_direction(self) -> fieldsync_plugin_api::Direction {
        match self {
            TryDirection::Outgoing => fieldsync_plugin_api::Direction::Outgoing,
            TryDirection::Incoming => fieldsync_plugin_api::Direction::Incoming,
        }
    }
}

pub use exit::{CliError, EXIT_BUSY, EXIT_PROBLEMS, EXIT_UNAVAILABLE, EXIT_USAGE};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `plugins try` captures the plugin's log records itself, to print them.
    if !matches!(cli.command, Command::Plugins(PluginsCommand::Try { .. })) {
        logging::init();
    }
    let outcome = match cli.command {
        Command::Demo {
            dir,
            plugins,
            one_store,
        } => {
            let layout = if one_store {
                StoreLayout::OneFile
            } else {
                StoreLayout::TwoFiles
            };
            let plugins = match plugins {
                Some(dir) => demo::DemoPlugins::Folder(dir),
                None => demo::DemoPlugins::Examples,
            };
            demo::run(&dir, &plugins, layout)
        }
        Command::Sync {
            setup,
            once,
            json,
            quiet,
            wait_for_mappings,
        } => sync::sync(
            &setup.config,
            &setup.plugins(),
            &sync::SyncOptions {
                once,
                output: if json {
                    sync::Output::Json
                } else if quiet {
                    sync::Output::Quiet
                } else {
                    sync::Output::Report
                },
                wait_for_mappings,
            },
        ),
        Command::Config(ConfigCommand::Check { setup }) => {
            sync::check(&setup.config, &setup.plugins())
        }
        Command::Resync { key, fields, setup } => {
            sync::resync(&key, &fields, &setup.config, &setup.plugins())
        }
        Command::Errors(ErrorsCommand::List { config, json }) => errors::list(&config, json),
        Command::Errors(ErrorsCommand::Retry { id, all: _, config }) => {
            errors::retry(&config, id.as_deref())
        }
        Command::Errors(ErrorsCommand::Skip { id, by, config }) => {
            let by = by
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "unknown".to_owned());
            errors::skip(&config, &id, &by)
        }
        Command::Status { config, json } => errors::status(&config, json),
        Command::Issue(IssueCommand::Create {
            project,
            issue_type,
            set,
            author,
            store,
        }) => issue::create(&store.choice(), &project, &issue_type, &set, &author.name),
        Command::Issue(IssueCommand::Edit {
            key,
            set,
            author,
            store,
        }) => issue::edit(&store.choice(), &key, &set, &author.name),
        Command::Issue(IssueCommand::List {
            project,
            updated_since,
            state,
            json,
            store,
        }) => issue::list(
            &store.choice(),
            &issue::ListQuery {
                project: &project,
                updated_since: updated_since.as_deref(),
                state,
            },
            json,
        ),
        Command::Issue(IssueCommand::Show { key, json, store }) => {
            issue::show(&store.choice(), &key, json)
        }
        Command::Project(ProjectCommand::Add { store, definition }) => {
            project::add(&store, &definition)
        }
        Command::Project(ProjectCommand::List { store }) => project::list(&store),
        Command::User(UserCommand::Add {
            store,
            username,
            email,
            name,
        }) => project::add_user(&store, &username, &email, &name),
        Command::Plugins(PluginsCommand::List { dir, pins, json }) => {
            plugins::list(&dir, pins.as_deref(), json)
        }
        Command::Plugins(PluginsCommand::Check { file, pins, json }) => {
            plugins::check(&file, pins.as_deref(), json)
        }
        Command::Plugins(PluginsCommand::Pin { dir, pins }) => plugins::pin(&dir, &pins),
        Command::Plugins(PluginsCommand::New { name, dir, id, sdk }) => {
            scaffold::run(&scaffold::NewPlugin {
                name: &name,
                dir: dir.as_deref(),
                id: id.as_deref(),
                sdk: sdk.as_deref(),
            })
        }
        Command::Plugins(PluginsCommand::Try {
            file,
            mapping,
            direction,
            options,
            value,
            field_type,
            fields,
        }) => try_mapping::run(&try_mapping::TryRequest {
            file: &file,
            mapping: &mapping,
            direction: direction.map(TryDirection::into_direction),
            options: &options,
            value: &value,
            field_type: field_type.as_deref(),
            fields: fields.as_deref(),
        }),
        Command::Redmine(RedmineCommand::Describe {
            url,
            api_key_env,
            api_key_file,
            project,
            json,
        }) => redmine::describe(
            &redmine::Server {
                url: &url,
                api_key_env: api_key_env.as_deref(),
                api_key_file: api_key_file.as_deref(),
            },
            project.as_deref(),
            json,
        ),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("fieldsync: {error}");
            ExitCode::from(error.exit_code)
        }
    }
}
