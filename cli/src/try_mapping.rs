//! `fieldsync plugins try`: build one mapping of one plugin file and call it once, the
//! way the engine does, printing the result, the plugin's log records and any error.

use std::path::Path;
use std::sync::{Arc, Mutex};

use fieldsync_core::MappingRegistry;
use fieldsync_loader::PluginLoader;
use fieldsync_plugin_api::{
    Direction, FieldType, FieldUpdate, IncomingContext, IssueInfo, MappingProvider, MappingSetup,
    OutgoingContext, TargetIssue, Trigger,
};
use serde_json::{Map, Value};

use crate::CliError;
use crate::EXIT_PROBLEMS;

/// What to call.
pub struct TryRequest<'a> {
    pub file: &'a Path,
    pub mapping: &'a str,
    pub direction: Option<Direction>,
    pub options: &'a str,
    pub value: &'a str,
    pub field_type: Option<&'a str>,
    /// The other fields of the issue (outgoing), or of the target issue (incoming:
    /// without it, the call is the one for a new issue).
    pub fields: Option<&'a str>,
}

/// Keeps every log record of the call, to print after it.
struct Captured(Arc<Mutex<Vec<String>>>);

impl log::Log for Captured {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("plugin::") {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(format!(
                    "{:<5} {}: {}",
                    record.level(),
                    record.target(),
                    record.args()
                ));
            }
        }
    }

    fn flush(&self) {}
}

fn json(what: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|error| format!("--{what} is not JSON: {error}"))
}

/// Runs the call; exit code 0 when the mapping answered (and the answer fits the
/// field type), 1 when it failed, 2 for bad arguments.
pub fn run(request: &TryRequest<'_>) -> Result<u8, CliError> {
    let logs = Arc::new(Mutex::new(Vec::new()));
    // Installed instead of the program's logger (see main): every level, so that the
    // plugin's debug and trace records are shown too.
    if log::set_boxed_logger(Box::new(Captured(Arc::clone(&logs)))).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
    let options = json("options", request.options)?;
    let value = json("value", request.value)?;
    let fields = match request.fields {
        Some(text) => match json("fields", text)? {
            Value::Object(map) => Some(map),
            _ => return Err("--fields must be a JSON object of field ids to values".into()),
        },
        None => None,
    };
    let field_type = request
        .field_type
        .map(|name| {
            name.parse::<FieldType>()
                .map_err(|e| format!("--field-type: {e}"))
        })
        .transpose()?;
    if !request.file.is_file() {
        return Err(format!("{} does not exist or is not a file", request.file.display()).into());
    }
    let plugin = PluginLoader::new()
        .load_file(request.file)
        .map_err(|error| format!("{}: not usable: {error}", request.file.display()))?;
    let offered: Vec<Direction> = plugin
        .manifest()
        .mappings
        .iter()
        .filter(|descriptor| descriptor.id == request.mapping)
        .map(|descriptor| descriptor.direction)
        .collect();
    let direction = match (request.direction, offered.as_slice()) {
        (Some(direction), _) if offered.contains(&direction) => direction,
        (None, [only]) => *only,
        (None, [_, _, ..]) => {
            return Err(format!(
                "`{}` is offered both ways: say --direction outgoing or incoming",
                request.mapping
            )
            .into())
        }
        _ => {
            return Err(format!(
                "plugin `{}` offers no {}mapping `{}`",
                plugin.manifest().id,
                request
                    .direction
                    .map(|d| format!("{d} "))
                    .unwrap_or_default(),
                request.mapping
            )
            .into())
        }
    };
    // Without --field-type, the first type the mapping accepts.
    let field_type = field_type.or_else(|| {
        plugin
            .manifest()
            .mappings
            .iter()
            .find(|d| d.id == request.mapping && d.direction == direction)
            .and_then(|descriptor| descriptor.field_types.first().cloned())
    });
    let mut registry = MappingRegistry::new();
    registry
        .register_plugin(Arc::new(plugin))
        .map_err(|error| error.to_string())?;
    let setup = MappingSetup {
        sync: "try".to_owned(),
        relationship: "try".to_owned(),
        side: "a".to_owned(),
        project: "TRY".to_owned(),
        field: "field".to_owned(),
        field_type: Some(field_type.clone().unwrap_or(FieldType::Any)),
        project_fields: fields
            .iter()
            .flat_map(|map| map.keys().cloned())
            .chain(["field".to_owned()])
            .collect(),
    };
    let outcome = call(
        &registry,
        direction,
        &setup,
        request.mapping,
        &options,
        &value,
        fields,
    );
    // An incoming answer is checked against the field type as the engine checks it.
    let outcome = outcome.and_then(|answer| {
        if let (Some(field_type), Answer::Set(value)) = (&field_type, &answer) {
            field_type.check_value(value).map_err(|expected| {
                format!("the field is of type `{field_type}` and takes {expected}, not {value}")
            })?;
        }
        Ok(answer)
    });
    let logs = logs.lock().map(|lines| lines.clone()).unwrap_or_default();
    let code = match &outcome {
        Ok(Answer::Data(data)) => {
            println!("data: {data}");
            0
        }
        Ok(Answer::Set(value)) => {
            println!("set: {value}");
            0
        }
        Ok(Answer::Unchanged) => {
            println!("unchanged");
            0
        }
        Err(error) => {
            println!("error: {error}");
            EXIT_PROBLEMS
        }
    };
    if logs.is_empty() {
        println!("logs: none");
    } else {
        println!("logs:");
        for line in logs {
            println!("  {line}");
        }
    }
    Ok(code)
}

/// What the mapping answered.
enum Answer {
    /// Outgoing: the data for the message.
    Data(Value),
    /// Incoming: the value to write.
    Set(Value),
    /// Incoming: leave the field alone.
    Unchanged,
}

fn call(
    registry: &MappingRegistry,
    direction: Direction,
    setup: &MappingSetup,
    mapping_id: &str,
    options: &Value,
    value: &Value,
    fields: Option<Map<String, Value>>,
) -> Result<Answer, String> {
    let issue = IssueInfo {
        key: "TRY-1".to_owned(),
        project: "TRY".to_owned(),
        issue_type: String::new(),
    };
    match direction {
        Direction::Outgoing => {
            let mapping = registry
                .outgoing_for(setup, mapping_id, options)
                .map_err(|error| error.to_string())?;
            let fields = fields.unwrap_or_default();
            let context =
                OutgoingContext::new(&issue, &setup.field, value, &Trigger::NewIssue, &fields);
            mapping
                .export(&context)
                .map(Answer::Data)
                .map_err(|e| e.to_string())
        }
        _ => {
            let mapping = registry
                .incoming_for(setup, mapping_id, options)
                .map_err(|error| error.to_string())?;
            let target = fields.as_ref().map(|fields| TargetIssue {
                info: &issue,
                fields,
            });
            let context = IncomingContext::new(target, &setup.field, value);
            match mapping.import(&context).map_err(|e| e.to_string())? {
                FieldUpdate::Set(value) => Ok(Answer::Set(value)),
                _ => Ok(Answer::Unchanged),
            }
        }
    }
}
