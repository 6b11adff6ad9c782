//! `fieldsync errors list|retry|skip` and `fieldsync status`: what failed, and how
//! each synchronization is doing. They need the configuration and the stores; plugins
//! are not loaded, so they work while a plugin is broken.

use std::path::Path;

use fieldsync_core::config::SyncConfig;
use fieldsync_core::control::{HostNote, SyncStatus};
use fieldsync_core::model::preview;
use fieldsync_core::store::{FailedStep, FailureRecord};
use fieldsync_core::{ControlError, SyncControl};

use crate::live::PluginsNote;
use crate::{CliError, EXIT_PROBLEMS, EXIT_UNAVAILABLE};

/// The control of a configuration's stores. A store that cannot be used now
/// (damaged, a full disk) ends the command with exit code 3, not 2: nothing is wrong
/// with the input.
fn control(config: &Path) -> Result<SyncControl, CliError> {
    let config = SyncConfig::load(config).map_err(|error| error.to_string())?;
    SyncControl::open(&config).map_err(|error| match error {
        ControlError::Unavailable(_) => CliError::unavailable(error.to_string()),
        error => CliError::usage(error.to_string()),
    })
}

/// `fieldsync errors list`.
pub fn list(config: &Path, json: bool) -> Result<u8, CliError> {
    let control = control(config)?;
    let errors = control.failures().map_err(|error| error.to_string())?;
    if json {
        let text = serde_json::to_string_pretty(&errors).map_err(|error| error.to_string())?;
        println!("{text}");
        return Ok(0);
    }
    // A round that did not complete (a tracker or store down) is no issue's failure,
    // but "everything was sent" would not be true either.
    let incomplete: Vec<String> = control
        .status()
        .map_err(|error| error.to_string())?
        .iter()
        .filter_map(|status| {
            let round = status.last_round.as_ref()?;
            let why = round.unavailable.as_ref()?;
            let since = round
                .unavailable_since
                .map_or_else(String::new, |at| format!(" since {at}"));
            Some(format!("  `{}`{since}: {why}", status.sync_id))
        })
        .collect();
    if errors.is_empty() && incomplete.is_empty() {
        println!("no failures: every message was sent and applied");
    } else if errors.is_empty() {
        println!("no issue failed, but rounds do not complete (nothing is parked; they resume by themselves):");
    }
    for line in &incomplete {
        println!("{line}");
    }
    for error in &errors {
        print!("{}", describe(error));
    }
    Ok(0)
}

/// One failure as a few readable lines.
fn describe(error: &FailureRecord) -> String {
    let step = match error.step {
        FailedStep::Send => "send",
        FailedStep::Apply => "apply",
    };
    let issues = match &error.context.target_key {
        Some(target) => format!("{} → {target}", error.source_key),
        None => error.source_key.clone(),
    };
    let action = if error.parked() {
        ": retry or skip it"
    } else {
        ""
    };
    let mut text = format!(
        "{}  {step}  {issues}  {}{action}\n",
        error.id,
        error.state()
    );
    let context = &error.context;
    let mut place = Vec::new();
    if let Some(relationship) = &context.relationship {
        place.push(format!("relationship `{relationship}`"));
    }
    if let Some(field) = &context.field {
        place.push(format!("field `{field}`"));
    }
    if let Some(mapping) = &context.mapping {
        let plugin = context.plugin.as_deref().unwrap_or("?");
        place.push(format!("mapping `{mapping}` (plugin `{plugin}`)"));
    }
    if !place.is_empty() {
        text += &format!("    at: {}\n", place.join(", "));
    }
    if let Some(data) = &context.data {
        text += &format!("    data: {}\n", preview(data));
    }
    if let (Some(first), Some(last)) = (error.first_failed_at, error.last_failed_at) {
        text += &format!("    failed: first {first}, last {last}\n");
    }
    text += &format!("    error: {}\n", error.error);
    if error.waiting_behind > 0 {
        text += &format!(
            "    {} later message(s) of {} wait behind it\n",
            error.waiting_behind, error.source_key
        );
    }
    text
}

/// `fieldsync errors retry ID|--all`.
pub fn retry(config: &Path, id: Option<&str>) -> Result<u8, CliError> {
    let control = control(config)?;
    let retried = match id {
        Some(id) => control.retry(id).map_err(|error| error.to_string())?,
        None => control.retry_all().map_err(|error| error.to_string())?,
    };
    println!("{retried} failure(s) will be tried again with the next round of `fieldsync sync`");
    Ok(0)
}

/// `fieldsync errors skip ID`.
pub fn skip(config: &Path, id: &str, by: &str) -> Result<u8, CliError> {
    let skipped = control(config)?
        .skip(id, by)
        .map_err(|error| error.to_string())?;
    let what = match skipped.error.step {
        FailedStep::Apply => "its message will not be applied",
        FailedStep::Send => "the changes it could not send will not be sent",
    };
    println!(
        "{id}: skipped by {} at {}; {what}",
        skipped.skipped_by, skipped.skipped_at
    );
    if skipped.released > 0 {
        println!(
            "{} later message(s) of {} go ahead with the next round",
            skipped.released, skipped.error.source_key
        );
    }
    Ok(0)
}

/// `fieldsync status`: exit code 1 when a message is parked (for monitoring).
pub fn status(config: &Path, json: bool) -> Result<u8, CliError> {
    let statuses = control(config)?
        .status()
        .map_err(|error| error.to_string())?;
    // A failure waiting for its retry is a problem too, not only a parked one.
    let failing = statuses.iter().any(|status| status.failing() > 0);
    // Monitoring reads the exit code: a tracker that did not answer in the last round
    // is said apart from parked issues.
    let unavailable = statuses.iter().any(|status| {
        status
            .last_round
            .as_ref()
            .is_some_and(|round| round.unavailable.is_some())
    });
    if json {
        let text = serde_json::to_string_pretty(&statuses).map_err(|error| error.to_string())?;
        println!("{text}");
    } else {
        for status in &statuses {
            print!("{}", describe_status(status));
        }
    }
    Ok(if unavailable {
        EXIT_UNAVAILABLE
    } else if failing {
        EXIT_PROBLEMS
    } else {
        0
    })
}

fn describe_status(status: &SyncStatus) -> String {
    let mut text = format!("{} (every {} s)\n", status.sync_id, status.interval_seconds);
    for direction in &status.directions {
        let queue = &direction.queue;
        text += &format!(
            "  {} → {}: {} queued ({} retrying, {} parked); sends failing: {} retrying, {} parked\n",
            direction.from_project,
            direction.to_project,
            queue.pending,
            queue.retrying,
            queue.parked,
            queue.send_retrying,
            queue.send_parked
        );
    }
    let running = &status.running_slow_calls;
    let as_of = running
        .as_of
        .map_or_else(String::new, |at| format!(" as of {at}"));
    for call in &running.calls {
        text += &format!(
            "  RUNNING slow mapping call: {call} for {} ms{as_of}\n",
            call.millis
        );
    }
    match &status.runner {
        Some(runner) => text += &format!("  running: {runner}\n"),
        None => text += "  running: no fieldsync runs rounds on these stores now\n",
    }
    match &status.last_round {
        None => text += "  last round: none yet\n",
        Some(round) => {
            let started = round
                .started_at
                .map_or_else(|| "?".to_owned(), |at| at.to_string());
            text += &format!(
                "  last round: {started}, took {} ms: {} sent, {} applied, {} failed{} (round {})\n",
                round.duration_ms,
                round.messages_sent,
                round.applied,
                round.failures,
                if round.interrupted { ", stopped early" } else { "" },
                round.rounds
            );
            for call in &round.slow_calls {
                text += &format!("  slow mapping call: {call} took {} ms\n", call.millis);
            }
            if let Some(error) = &round.unavailable {
                let since = round
                    .unavailable_since
                    .map_or_else(String::new, |at| format!(" since {at}"));
                text += &format!(
                    "  UNAVAILABLE{since}: {error}\n  (no issue is charged for it; syncing resumes by itself once it answers)\n"
                );
            }
        }
    }
    if let Some(note) = &status.plugins {
        text += &describe_plugins(note);
    }
    text
}

/// What the running (or last) `fieldsync sync` said of its plugins.
fn describe_plugins(note: &HostNote) -> String {
    let Ok(plugins) = serde_json::from_value::<PluginsNote>(note.value.clone()) else {
        return format!("  plugins (as of {}): {}\n", note.updated_at, note.value);
    };
    let mut text = format!(
        "  plugins of `fieldsync sync` (PID {}, as of {}): {} in use, {} library version(s) \
         loaded since it started (libraries stay loaded until it ends), {} reload(s)\n",
        plugins.pid,
        note.updated_at,
        plugins.in_use.len(),
        plugins.loaded_versions,
        plugins.reloads
    );
    for plugin in &plugins.in_use {
        let digest = plugin
            .sha256
            .as_deref()
            .map_or("-", |d| &d[..d.len().min(12)]);
        text += &format!(
            "    {} {} from {} (sha256 {digest})\n",
            plugin.id, plugin.version, plugin.file
        );
    }
    for rejected in &plugins.rejected {
        text += &format!("    REJECTED {}: {}\n", rejected.file, rejected.message);
    }
    for warning in &plugins.warnings {
        text += &format!("    warning {}: {}\n", warning.file, warning.message);
    }
    if let Some(refused) = &plugins.refused {
        text +=
            &format!("    RELOAD REFUSED (the plugins loaded before keep running): {refused}\n");
    }
    text
}
