//! Property test: whatever the interleaving of edits on both sides, new issues,
//! resync requests and sync rounds, the two sides converge on the latest edit of every
//! field (a resync counts as an edit made when it was asked for), and once they have,
//! a round sends nothing (no echo).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::model::{NewIssue, ProjectDef};
use fieldsync_core::{
    Engine, MappingRegistry, SqliteStore, SyncConfig, SyncLedger, SyncStore, Tracker,
};
use proptest::prelude::*;
use serde_json::json;

const SYNC: &str = "prop";
/// A few values only, so that both sides often hold or write the same one.
const VALUES: &[&str] = &["red", "green", "blue", "teal"];

#[derive(Debug, Clone)]
enum Op {
    /// Edit the `issue`-th issue (modulo the count) on side A or B: its title, or the
    /// field only that side sends (`note` on A, `remark` on B).
    Edit {
        on_a: bool,
        issue: usize,
        field: usize,
        value: usize,
    },
    /// Create an issue on side A or B.
    Create { on_a: bool, value: usize },
    /// A person asks to send the title of the `issue`-th issue of side A or B again:
    /// its value then counts as an edit made at that moment.
    Resync { on_a: bool, issue: usize },
    /// One sync round.
    Round,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<bool>(), 0..8usize, 0..2usize, 0..VALUES.len())
            .prop_map(|(on_a, issue, field, value)| Op::Edit { on_a, issue, field, value }),
        1 => (any::<bool>(), 0..VALUES.len()).prop_map(|(on_a, value)| Op::Create { on_a, value }),
        1 => (any::<bool>(), 0..8usize).prop_map(|(on_a, issue)| Op::Resync { on_a, issue }),
        3 => Just(Op::Round),
    ]
}

/// `title` both ways, `note` A → B, `remark` B → A, all text, all copied.
const FIELDS: [&str; 3] = ["title", "note", "remark"];

fn project(key: &str) -> ProjectDef {
    serde_json::from_value(json!({
        "key": key, "issue_types": ["Task"],
        "fields": FIELDS.map(|id| json!({"id": id, "type": "text"})),
        "create_screen": FIELDS
    }))
    .unwrap()
}

fn registry() -> MappingRegistry {
    let mut registry = MappingRegistry::new();
    registry
        .register_plugin(Arc::new(builtin_plugin()))
        .expect("built-in ids are unique");
    registry
}

struct World {
    a: Arc<SqliteStore>,
    b: Arc<SqliteStore>,
    engine: Engine,
    /// Every edit that changed a value: side A?, issue, field, value.
    edits: Vec<(bool, String, &'static str, &'static str)>,
}

fn world() -> World {
    let a = Arc::new(SqliteStore::in_memory().unwrap());
    let b = Arc::new(SqliteStore::in_memory().unwrap());
    a.add_project(&project("A")).unwrap();
    b.add_project(&project("B")).unwrap();
    let config = SyncConfig::parse(
        &json!({
            "workers": 2,
            "retry": {"attempts": 100, "first_delay_seconds": 0, "max_delay_seconds": 0},
            "synchronizations": [{
                "id": SYNC,
                "a": {"project": "A", "store": "a"}, "b": {"project": "B", "store": "b"},
                "fields": [
                    {"id": "title", "direction": "both", "a": {"field": "title"}, "b": {"field": "title"}},
                    {"id": "note", "direction": "a-to-b", "a": {"field": "note"}, "b": {"field": "note"}},
                    {"id": "remark", "direction": "b-to-a", "a": {"field": "remark"}, "b": {"field": "remark"}}
                ]
            }]
        })
        .to_string(),
        Path::new("prop.json"),
    )
    .unwrap();
    let (store_a, store_b): (Arc<dyn SyncStore>, Arc<dyn SyncStore>) = (a.clone(), b.clone());
    let engine = Engine::with_stores(&config, &registry(), &mut |path: &Path| {
        Ok(if path.ends_with("a") {
            Arc::clone(&store_a)
        } else {
            Arc::clone(&store_b)
        })
    })
    .unwrap();
    World {
        a,
        b,
        engine,
        edits: Vec::new(),
    }
}

impl World {
    fn store(&self, on_a: bool) -> (&SqliteStore, &'static str) {
        if on_a {
            (&self.a, "A")
        } else {
            (&self.b, "B")
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Edit {
                on_a,
                issue,
                field,
                value,
            } => {
                let (store, project) = self.store(on_a);
                let issues = store.issues(project).unwrap();
                if issues.is_empty() {
                    return;
                }
                let key = issues[issue % issues.len()].key.clone();
                let field = match (field, on_a) {
                    (0, _) => "title",
                    (_, true) => "note",
                    (_, false) => "remark",
                };
                let value = VALUES[value];
                let changes = [(field.to_owned(), json!(value))].into();
                if !store.update(&key, &changes, "person").unwrap().is_empty() {
                    self.edits.push((on_a, key, field, value));
                }
            }
            Op::Create { on_a, value } => {
                let (store, project) = self.store(on_a);
                let issue = NewIssue {
                    project: project.to_owned(),
                    issue_type: "Task".to_owned(),
                    fields: [("title".to_owned(), json!(VALUES[value]))].into(),
                };
                let key = store.create(&issue, "person").unwrap().key;
                self.edits.push((on_a, key, "title", VALUES[value]));
            }
            Op::Resync { on_a, issue } => {
                let (store, project) = self.store(on_a);
                let issues = store.issues(project).unwrap();
                if issues.is_empty() {
                    return;
                }
                let issue = &issues[issue % issues.len()];
                let Some(value) = issue.value("title").as_str().map(str::to_owned) else {
                    return;
                };
                self.engine
                    .request_resync(&issue.key, &["title".to_owned()])
                    .unwrap();
                let value = VALUES.iter().find(|v| **v == value).copied().unwrap();
                self.edits.push((on_a, issue.key.clone(), "title", value));
            }
            Op::Round => {
                let report = self.engine.run_round();
                assert_eq!(report.failures().count(), 0, "{report}");
            }
        }
    }

    fn partner(&self, on_a: bool, key: &str) -> String {
        let (store, _) = self.store(on_a);
        store
            .sync_state(SYNC, key)
            .unwrap()
            .and_then(|state| state.partner)
            .unwrap_or_else(|| panic!("{key} is linked"))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_interleaving_converges_on_the_latest_edits_without_echo(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        let mut world = world();
        for op in &ops {
            world.apply(op);
        }
        let flush = world.engine.run_round();
        prop_assert_eq!(flush.failures().count(), 0);
        let quiet = world.engine.run_round();
        prop_assert_eq!(quiet.messages_sent(), 0, "an echo after convergence: {}", quiet);

        let a_issues = world.a.issues("A").unwrap();
        prop_assert_eq!(a_issues.len(), world.b.issues("B").unwrap().len());
        for issue in &a_issues {
            let partner = world.partner(true, &issue.key);
            prop_assert_eq!(world.partner(false, &partner), issue.key.clone());
            let other = world.b.get(&partner).unwrap().unwrap();
            for field in FIELDS {
                prop_assert_eq!(issue.value(field), other.value(field), "{}.{}", issue.key, field);
            }
        }
        // The latest edit of each field of each pair is its value on both sides
        // (edits are sequential here, so the later is also the newer).
        let mut latest: BTreeMap<(String, &str), &str> = BTreeMap::new();
        for (on_a, key, field, value) in &world.edits {
            let a_key = if *on_a { key.clone() } else { world.partner(false, key) };
            latest.insert((a_key, field), value);
        }
        for ((a_key, field), value) in latest {
            let issue = world.a.get(&a_key).unwrap().unwrap();
            prop_assert_eq!(issue.value(field), &json!(value), "{}.{}", a_key, field);
        }
    }
}
