//! `fieldsync plugins new`: writes a plugin crate that builds, and passes its tests,
//! as generated.

use std::fs;
use std::path::{Path, PathBuf};

use crate::CliError;
use fieldsync_plugin_api::check_id;

const CARGO_TOML: &str = include_str!("scaffold/Cargo.toml.template");
const LIB_RS: &str = include_str!("scaffold/lib.rs.template");
const README: &str = include_str!("scaffold/README.md.template");

/// What `plugins new` was asked for.
pub struct NewPlugin<'a> {
    /// The crate's name.
    pub name: &'a str,
    /// Where to write it (default `./NAME`).
    pub dir: Option<&'a Path>,
    /// The plugin id (default `local.NAME`).
    pub id: Option<&'a str>,
    /// A fieldsync checkout to take the SDK from.
    pub sdk: Option<&'a Path>,
}

/// Where the generated crate takes `fieldsync-plugin-api` and the test kit from.
enum SdkSource {
    Checkout(PathBuf),
    Registry,
}

impl SdkSource {
    /// `--sdk`, else the checkout this program was built from if it is still there,
    /// else crates.io.
    fn choose(sdk: Option<&Path>) -> Result<SdkSource, String> {
        if let Some(path) = sdk {
            if !path.join("plugin-api/Cargo.toml").is_file() {
                return Err(format!(
                    "--sdk {}: not a fieldsync checkout (no plugin-api/Cargo.toml in it)",
                    path.display()
                ));
            }
            return canonical(path).map(SdkSource::Checkout);
        }
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if built_from.join("plugin-api/Cargo.toml").is_file() {
            return canonical(&built_from).map(SdkSource::Checkout);
        }
        Ok(SdkSource::Registry)
    }

    fn dependency(&self, package: &str, folder: &str) -> String {
        match self {
            SdkSource::Checkout(root) => format!(
                "{package} = {{ path = {} }}",
                toml_string(&root.join(folder).to_string_lossy())
            ),
            SdkSource::Registry => format!("{package} = \"0.1\""),
        }
    }
}

fn canonical(path: &Path) -> Result<PathBuf, String> {
    fs::canonicalize(path).map_err(|error| format!("{}: {error}", path.display()))
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut quoted = String::from('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Whether `name` can name a Cargo package (and so a library file).
fn check_crate_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_well
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{name}` cannot name a crate: use ASCII letters, digits, `-` and `_`, \
             starting with a letter"
        ));
    }
    Ok(())
}

/// Writes the crate; returns the exit code.
pub fn run(request: &NewPlugin<'_>) -> Result<u8, CliError> {
    check_crate_name(request.name)?;
    let id = match request.id {
        Some(id) => id.to_owned(),
        None => format!(
            "local.{}",
            request.name.to_ascii_lowercase().replace('_', "-")
        ),
    };
    check_id(&id).map_err(|problem| format!("--id `{id}` {problem}"))?;
    let dir = request
        .dir
        .map_or_else(|| PathBuf::from(request.name), Path::to_path_buf);
    if dir.exists()
        && fs::read_dir(&dir)
            .map_err(|error| format!("{}: {error}", dir.display()))?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} exists and is not empty: choose another folder with --dir",
            dir.display()
        )
        .into());
    }
    let sdk = SdkSource::choose(request.sdk)?;
    let library = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        request.name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let fill = |template: &str| {
        template
            .replace("{{crate}}", request.name)
            .replace("{{id}}", &id)
            .replace("{{library}}", &library)
            .replace(
                "{{sdk}}",
                &sdk.dependency("fieldsync-plugin-api", "plugin-api"),
            )
            .replace(
                "{{test_kit}}",
                &sdk.dependency("fieldsync-plugin-test", "plugin-test"),
            )
    };
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README)),
        // Cargo.lock stays: it pins what the shipped library was built with.
        (".gitignore", "/target\n".to_owned()),
    ];
    for (name, text) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|error| format!("{}: {error}", parent.display()))?;
        }
        fs::write(&path, text).map_err(|error| format!("{}: {error}", path.display()))?;
    }
    println!("created plugin `{id}` in {}", dir.display());
    match &sdk {
        SdkSource::Checkout(root) => {
            println!("  SDK and test kit from the checkout {}", root.display())
        }
        SdkSource::Registry => eprintln!(
            "fieldsync: warning: no fieldsync checkout found, so the crate asks crates.io \
             for fieldsync-plugin-api 0.1; pass --sdk PATH-TO-A-CHECKOUT if that fails"
        ),
    }
    println!("next:");
    println!("  cd {} && cargo test", dir.display());
    println!("  cargo build --release && fieldsync plugins check target/release/{library}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_and_toml_strings() {
        assert!(check_crate_name("acme-severity").is_ok());
        assert!(check_crate_name("9lives").is_err());
        assert!(check_crate_name("a b").is_err());
        assert_eq!(toml_string(r#"C:\x "y""#), r#""C:\\x \"y\"""#);
    }
}
