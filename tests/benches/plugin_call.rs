//! One mapping call through a loaded plugin library against the same mapping linked
//! into the binary, measured in the same run. Prints the loaded/linked ratios at the
//! end (the figures in BENCHMARKS.md).
//!
//! Run: `cargo bench -p fieldsync-tests --bench plugin_call`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::Criterion;
use fieldsync_loader::PluginLoader;
use fieldsync_plugin_api::abi::wire::{OutgoingCall, OutgoingCallRef, OutgoingResult};
use fieldsync_plugin_api::serde_json::{self as serde_json, json, Map, Value};
use fieldsync_plugin_api::{
    Direction, IncomingContext, IncomingFieldMapping, IssueInfo, MappingProvider, OutgoingContext,
    OutgoingFieldMapping, TargetIssue, Trigger,
};
use fieldsync_story_points::{POINTS_TO_SIZE, SIZE_TO_POINTS};

const OUTGOING_GROUP: &str = "outgoing points-to-size";
const INCOMING_GROUP: &str = "incoming size-to-points";

struct Pair<T: ?Sized> {
    linked: Box<T>,
    loaded: Box<T>,
}

fn mappings() -> (
    Pair<dyn OutgoingFieldMapping>,
    Pair<dyn IncomingFieldMapping>,
    tempfile::TempDir,
) {
    let dir = fieldsync_tests::plugin_dir(&["fieldsync-story-points"]);
    let report = PluginLoader::new()
        .load_dir(dir.path())
        .expect("plugin folder");
    let loaded = &report
        .mapping(POINTS_TO_SIZE, Direction::Outgoing)
        .expect("loaded plugin")
        .provider;
    let linked = fieldsync_story_points::plugin();
    let outgoing = Pair {
        linked: linked.new_outgoing(POINTS_TO_SIZE, &Value::Null).unwrap(),
        loaded: loaded.new_outgoing(POINTS_TO_SIZE, &Value::Null).unwrap(),
    };
    let incoming = Pair {
        linked: linked.new_incoming(SIZE_TO_POINTS, &Value::Null).unwrap(),
        loaded: loaded.new_incoming(SIZE_TO_POINTS, &Value::Null).unwrap(),
    };
    (outgoing, incoming, dir)
}

fn bench(c: &mut Criterion) {
    let (outgoing, incoming, _dir) = mappings();
    let issue = IssueInfo {
        key: "A-123".into(),
        project: "A".into(),
        issue_type: "Story".into(),
    };
    let mut fields = Map::new();
    fields.insert(
        "summary".into(),
        json!("Checkout fails for carts over 100 items"),
    );
    fields.insert("points".into(), json!(4));
    let value = json!(4);
    let trigger = Trigger::Changed {
        old: json!(2),
        new: json!(4),
    };

    let mut group = c.benchmark_group(OUTGOING_GROUP);
    for (name, mapping) in [("linked", &outgoing.linked), ("loaded", &outgoing.loaded)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let ctx = OutgoingContext::new(&issue, "points", &value, &trigger, &fields);
                black_box(mapping.export(black_box(&ctx)).unwrap())
            })
        });
    }
    // The linked mapping plus exactly the JSON work a loaded call does, without the
    // library boundary: what is left between this and `loaded` is the FFI hop.
    group.bench_function("linked+json", |b| {
        b.iter(|| {
            let call = serde_json::to_string(&OutgoingCallRef {
                issue: &issue,
                field: "points",
                value: &value,
                trigger: &trigger,
            })
            .unwrap();
            let call: OutgoingCall = serde_json::from_str(black_box(&call)).unwrap();
            let ctx = OutgoingContext::new(
                &call.issue,
                &call.field,
                &call.value,
                &call.trigger,
                &fields,
            );
            let data = outgoing.linked.export(&ctx).unwrap();
            let reply = serde_json::to_string(&OutgoingResult { data }).unwrap();
            black_box(serde_json::from_str::<OutgoingResult>(&reply).unwrap())
        })
    });
    group.finish();

    // The target already holds 4 points, an M: the mapping reads the current value
    // back through the host's issue view and leaves it unchanged.
    let data = json!("M");
    let mut group = c.benchmark_group(INCOMING_GROUP);
    for (name, mapping) in [("linked", &incoming.linked), ("loaded", &incoming.loaded)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let target = TargetIssue {
                    info: &issue,
                    fields: &fields,
                };
                let ctx = IncomingContext::new(Some(target), "points", &data);
                black_box(mapping.import(black_box(&ctx)).unwrap())
            })
        });
    }
    group.finish();
}

/// criterion writes its estimates under `<target dir>/criterion`; the bench binary
/// lives in `<target dir>/<profile>/deps`.
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let path = criterion_dir()?
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let estimates: Value =
        fieldsync_plugin_api::serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

fn print_ratios() {
    println!("\nmean times of this run, and ratios against the statically linked mapping:");
    for group in [OUTGOING_GROUP, INCOMING_GROUP] {
        let Some(linked) = mean_ns(group, "linked") else {
            println!("  {group}: no estimates found (run without a filter)");
            continue;
        };
        println!("  {group}: linked {linked:.1} ns");
        for function in ["linked+json", "loaded"] {
            if let Some(mean) = mean_ns(group, function) {
                println!(
                    "    {function:<12} {mean:>8.1} ns  {:>6.2}x linked",
                    mean / linked
                );
            }
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    if !std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        print_ratios();
    }
}
