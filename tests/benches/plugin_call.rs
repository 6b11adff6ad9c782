//! One mapping call through a loaded plugin library against the same mapping linked
//! into the binary, measured in the same run. Prints the loaded/linked ratios at the
//! end (the figures in BENCHMARKS.md), from the times the bench took itself.
//!
//! Run: `cargo bench -p fieldsync-tests --bench plugin_call`

/// The allocator the `fieldsync` program runs on.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use fieldsync_loader::PluginLoader;
use fieldsync_plugin_api::abi::wire::{OutgoingCall, OutgoingCallRef, OutgoingResult};
use fieldsync_plugin_api::serde_json::{self as serde_json, json, Map, Value};
use fieldsync_plugin_api::{
    Direction, IncomingContext, IncomingFieldMapping, IssueInfo, MappingProvider, OutgoingContext,
    OutgoingFieldMapping, TargetIssue, Trigger,
};
use fieldsync_story_points::{POINTS_TO_SIZE, SIZE_TO_POINTS};
use fieldsync_tests::timing::Samples;

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

/// Every variant's per-call times, kept by the bench itself (criterion's files on
/// disk are its own business).
struct Times(Vec<(&'static str, &'static str, Samples)>);

impl Times {
    fn new() -> Self {
        let mut times = Vec::new();
        for (group, variants) in [
            (OUTGOING_GROUP, &["linked", "linked+json", "loaded"][..]),
            (INCOMING_GROUP, &["linked", "loaded"][..]),
        ] {
            for variant in variants {
                times.push((group, *variant, Samples::default()));
            }
        }
        Times(times)
    }

    fn sample(&self, group: &str, variant: &str) -> &Samples {
        self.0
            .iter()
            .find(|(g, v, _)| *g == group && *v == variant)
            .map(|(_, _, samples)| samples)
            .expect("a known variant")
    }

    /// Nanoseconds per call, the median of the samples (`None` when filtered out).
    fn per_call_ns(&self, group: &str, variant: &str) -> Option<f64> {
        let samples = self.sample(group, variant);
        (!samples.is_empty()).then(|| samples.median().as_secs_f64() * 1e9)
    }
}

/// Times `calls` calls of `call` as one sample, kept as the time per call.
fn timed_calls(samples: &Samples, calls: u64, mut call: impl FnMut()) -> Duration {
    samples.time_each(calls, || {
        for _ in 0..calls {
            call();
        }
    })
}

fn bench(c: &mut Criterion, times: &Times) {
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
        let samples = times.sample(OUTGOING_GROUP, name);
        group.bench_function(name, |b| {
            b.iter_custom(|calls| {
                timed_calls(samples, calls, || {
                    let ctx = OutgoingContext::new(&issue, "points", &value, &trigger, &fields);
                    black_box(mapping.export(black_box(&ctx)).unwrap());
                })
            })
        });
    }
    // The linked mapping plus a generic serde round trip of the same call and reply
    // documents (derived serializers, owned reading), without the library boundary:
    // what JSON costs when nothing is done about it, and what every loaded call cost
    // before the host wrote calls with constant keys and the SDK read them in one
    // pass (`loaded` below does that).
    let samples = times.sample(OUTGOING_GROUP, "linked+json");
    group.bench_function("linked+json", |b| {
        b.iter_custom(|calls| {
            timed_calls(samples, calls, || {
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
                black_box(serde_json::from_str::<OutgoingResult>(&reply).unwrap());
            })
        })
    });
    group.finish();

    // The target already holds 4 points, an M: the mapping reads the current value
    // back through the host's issue view and leaves it unchanged.
    let data = json!("M");
    let mut group = c.benchmark_group(INCOMING_GROUP);
    for (name, mapping) in [("linked", &incoming.linked), ("loaded", &incoming.loaded)] {
        let samples = times.sample(INCOMING_GROUP, name);
        group.bench_function(name, |b| {
            b.iter_custom(|calls| {
                timed_calls(samples, calls, || {
                    let target = TargetIssue {
                        info: &issue,
                        fields: &fields,
                    };
                    let ctx = IncomingContext::new(Some(target), "points", &data);
                    black_box(mapping.import(black_box(&ctx)).unwrap());
                })
            })
        });
    }
    group.finish();
}

fn print_ratios(times: &Times) {
    println!("\nmedian time per call in this run, and the ratio against the linked mapping:");
    for (group, variants) in [
        (OUTGOING_GROUP, &["linked+json", "loaded"][..]),
        (INCOMING_GROUP, &["loaded"][..]),
    ] {
        let Some(linked) = times.per_call_ns(group, "linked") else {
            continue;
        };
        println!("  {group}: linked {linked:.1} ns");
        for variant in variants {
            if let Some(ns) = times.per_call_ns(group, variant) {
                println!(
                    "    {variant:<12} {ns:>8.1} ns  {:>6.2}x linked, {:+.0} ns",
                    ns / linked,
                    ns - linked
                );
            }
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let times = Times::new();
    bench(&mut criterion, &times);
    criterion.final_summary();
    print_ratios(&times);
}
