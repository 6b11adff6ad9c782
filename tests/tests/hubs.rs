//! Property test: projects in several synchronizations — a hub (A↔B, A↔C) and a
//! triangle (A↔B, B↔C, C↔A), with one sync user for all or one each. Whatever the
//! interleaving of edits, new issues and rounds, every project ends with one issue per
//! issue made anywhere (none made twice), each holding the latest edit made to any
//! of them, and then a round sends nothing (no echo, no change going round).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use fieldsync_core::builtin::builtin_plugin;
use fieldsync_core::model::{NewIssue, ProjectDef};
use fieldsync_core::{
    Engine, MappingRegistry, SqliteStore, SyncConfig, SyncLedger, SyncStore, Tracker,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const PROJECTS: [&str; 3] = ["A", "B", "C"];
const VALUES: &[&str] = &["red", "green", "blue", "teal", "plum"];

#[derive(Debug, Clone, Copy)]
enum Topology {
    Hub,
    Triangle,
}

impl Topology {
    /// Each synchronization: id, project of side a, project of side b.
    fn syncs(self) -> &'static [(&'static str, usize, usize)] {
        match self {
            Topology::Hub => &[("ab", 0, 1), ("ac", 0, 2)],
            Topology::Triangle => &[("ab", 0, 1), ("bc", 1, 2), ("ca", 2, 0)],
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Edit {
        project: usize,
        issue: usize,
        value: usize,
    },
    Create {
        project: usize,
        value: usize,
    },
    Round,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..3usize, 0..6usize, 0..VALUES.len())
            .prop_map(|(project, issue, value)| Op::Edit { project, issue, value }),
        1 => (0..3usize, 0..VALUES.len()).prop_map(|(project, value)| Op::Create { project, value }),
        3 => Just(Op::Round),
    ]
}

fn project(key: &str) -> ProjectDef {
    serde_json::from_value(json!({
        "key": key, "issue_types": ["Task"],
        "fields": [{"id": "title", "type": "text"}],
        "create_screen": ["title"]
    }))
    .unwrap()
}

struct World {
    topology: Topology,
    stores: Vec<Arc<SqliteStore>>,
    engine: Engine,
    /// Every edit that changed a value, in the order made: project, key, value.
    edits: Vec<(usize, String, &'static str)>,
}

fn world(topology: Topology, one_sync_user: bool) -> World {
    let stores: Vec<Arc<SqliteStore>> = PROJECTS
        .iter()
        .map(|key| {
            let store = SqliteStore::in_memory().unwrap();
            store.add_project(&project(key)).unwrap();
            Arc::new(store)
        })
        .collect();
    let synchronizations: Vec<Value> = topology
        .syncs()
        .iter()
        .map(|(id, a, b)| {
            json!({
                "id": id,
                "sync_user": if one_sync_user { "fieldsync".to_owned() } else { format!("sync-{id}") },
                "a": {"project": PROJECTS[*a], "store": PROJECTS[*a]},
                "b": {"project": PROJECTS[*b], "store": PROJECTS[*b]},
                "fields": [{"id": "title", "direction": "both", "a": {"field": "title"}, "b": {"field": "title"}}]
            })
        })
        .collect();
    let config = SyncConfig::parse(
        &json!({
            "workers": 2,
            "retry": {"attempts": 100, "first_delay_seconds": 0, "max_delay_seconds": 0},
            "synchronizations": synchronizations
        })
        .to_string(),
        Path::new("hubs.json"),
    )
    .unwrap();
    let mut registry = MappingRegistry::new();
    registry
        .register_plugin(Arc::new(builtin_plugin()))
        .unwrap();
    let by_name: BTreeMap<&str, Arc<dyn SyncStore>> = PROJECTS
        .iter()
        .zip(&stores)
        .map(|(name, store)| (*name, Arc::clone(store) as Arc<dyn SyncStore>))
        .collect();
    let engine = Engine::with_stores(&config, &registry, &mut |path: &Path| {
        let name = path.file_name().unwrap().to_str().unwrap();
        Ok(Arc::clone(&by_name[name]))
    })
    .unwrap();
    World {
        topology,
        stores,
        engine,
        edits: Vec::new(),
    }
}

impl World {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Edit {
                project,
                issue,
                value,
            } => {
                let store = &self.stores[project];
                let issues = store.issues(PROJECTS[project]).unwrap();
                if issues.is_empty() {
                    return;
                }
                let key = issues[issue % issues.len()].key.clone();
                let changes = [("title".to_owned(), json!(VALUES[value]))].into();
                if !store.update(&key, &changes, "person").unwrap().is_empty() {
                    self.edits.push((project, key, VALUES[value]));
                }
            }
            Op::Create { project, value } => {
                let issue = NewIssue {
                    project: PROJECTS[project].to_owned(),
                    issue_type: "Task".to_owned(),
                    fields: [("title".to_owned(), json!(VALUES[value]))].into(),
                };
                let key = self.stores[project].create(&issue, "person").unwrap().key;
                self.edits.push((project, key, VALUES[value]));
            }
            Op::Round => {
                let report = self.engine.run_round();
                assert_eq!(report.failures().count(), 0, "{report}");
            }
        }
    }

    /// The partner of `key` (of `project`) in the synchronization linking it to
    /// `other`.
    fn partner(&self, project: usize, key: &str, other: usize) -> String {
        let (id, ..) = self
            .topology
            .syncs()
            .iter()
            .find(|(_, a, b)| (*a, *b) == (project, other) || (*a, *b) == (other, project))
            .unwrap();
        self.stores[project]
            .sync_state(id, key)
            .unwrap()
            .and_then(|state| state.partner)
            .unwrap_or_else(|| panic!("{key} has a partner in `{id}`"))
    }

    /// `key` of `project` and its counterparts in the two other projects.
    fn group(&self, project: usize, key: &str) -> [String; 3] {
        let mut group: [String; 3] = Default::default();
        for (other, member) in group.iter_mut().enumerate() {
            *member = match self.topology {
                _ if other == project => key.to_owned(),
                Topology::Triangle => self.partner(project, key, other),
                // Spokes reach each other through the hub, A.
                Topology::Hub if project == 0 || other == 0 => self.partner(project, key, other),
                Topology::Hub => {
                    let hub = self.partner(project, key, 0);
                    self.partner(0, &hub, other)
                }
            };
        }
        group
    }

    fn title(&self, project: usize, key: &str) -> Value {
        self.stores[project]
            .get(key)
            .unwrap()
            .unwrap()
            .value("title")
            .clone()
    }
}

fn converges(topology: Topology, one_sync_user: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut world = world(topology, one_sync_user);
    for op in ops {
        world.apply(op);
    }
    // A change needs up to two rounds to cross two hops against the order the
    // synchronizations run in.
    for _ in 0..3 {
        let flush = world.engine.run_round();
        prop_assert_eq!(flush.failures().count(), 0, "{}", flush);
    }
    let quiet = world.engine.run_round();
    prop_assert_eq!(
        quiet.messages_sent(),
        0,
        "a round after convergence: {}",
        quiet
    );

    let counts: Vec<usize> = (0..3)
        .map(|project| {
            world.stores[project]
                .issues(PROJECTS[project])
                .unwrap()
                .len()
        })
        .collect();
    prop_assert!(
        counts.iter().all(|count| *count == counts[0]),
        "issues per project: {:?}",
        counts
    );
    // Every issue's group, checked from each project, is the same three issues with
    // one title.
    for (project, name) in PROJECTS.iter().enumerate() {
        for issue in world.stores[project].issues(name).unwrap() {
            let group = world.group(project, &issue.key);
            for (other, key) in group.iter().enumerate() {
                prop_assert_eq!(&world.group(other, key), &group);
                prop_assert_eq!(
                    world.title(other, key),
                    issue.value("title").clone(),
                    "{:?}",
                    group
                );
            }
        }
    }
    // The latest edit made to any issue of a group is its title everywhere.
    let mut latest: BTreeMap<String, &str> = BTreeMap::new();
    for (project, key, value) in &world.edits {
        let a_key = world.group(*project, key)[0].clone();
        latest.insert(a_key, value);
    }
    for (a_key, value) in latest {
        prop_assert_eq!(world.title(0, &a_key), json!(value), "{}", a_key);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_hub_with_one_sync_user_converges_without_echo(ops in prop::collection::vec(op(), 1..40)) {
        converges(Topology::Hub, true, &ops)?;
    }

    #[test]
    fn a_hub_with_a_sync_user_each_converges_without_echo(ops in prop::collection::vec(op(), 1..40)) {
        converges(Topology::Hub, false, &ops)?;
    }

    #[test]
    fn a_triangle_converges_without_echo_or_issues_made_twice(ops in prop::collection::vec(op(), 1..40)) {
        converges(Topology::Triangle, true, &ops)?;
    }

    #[test]
    fn a_triangle_with_a_sync_user_each_converges(ops in prop::collection::vec(op(), 1..40)) {
        converges(Topology::Triangle, false, &ops)?;
    }
}
