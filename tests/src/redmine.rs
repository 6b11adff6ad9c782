//! A real Redmine for the tests: started once per test binary by
//! `scripts/redmine-server.sh` on 127.0.0.1 (from the Debian packages, which
//! `scripts/test.sh` installs), stopped by its watcher when the test binary exits.
//! Tests stay independent by each using a project of its own.
//!
//! There is no skipping: a machine without Redmine fails these tests, loudly, with
//! what to run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

/// The script that installs, starts and stops the test server.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/redmine-server.sh")
}

/// A running Redmine.
pub struct RedmineServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// An administrator's API key (user `admin`).
    pub admin_key: String,
    /// The API key of user `fieldsync` (an administrator too).
    pub sync_key: String,
    /// Its instance folder.
    pub work: PathBuf,
    agent: ureq::Agent,
}

static SERVER: OnceLock<RedmineServer> = OnceLock::new();

/// The server of this test binary, started on first use.
pub fn server() -> &'static RedmineServer {
    SERVER.get_or_init(RedmineServer::start)
}

impl RedmineServer {
    /// Another server of its own (a second Redmine instance), stopped when the test
    /// binary exits.
    pub fn start() -> RedmineServer {
        static INSTANCES: AtomicU32 = AtomicU32::new(0);
        // One start at a time in a test binary: two starts at once could be handed
        // the same free port, and the one that lost the port would pass its health
        // check on the other's answers (same template, same keys).
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = STARTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let work = std::env::temp_dir().join(format!(
            "fieldsync-redmine-{}-{}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, Ordering::SeqCst),
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_default()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "")
        ));
        let output = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&work)
            .arg("--watch-pid")
            .arg(std::process::id().to_string())
            .output()
            .expect("bash runs scripts/redmine-server.sh");
        assert!(
            output.status.success(),
            "could not start the test Redmine (run `scripts/redmine-server.sh install` \
             as root, or `scripts/test.sh`, which does):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let value = |name: &str| {
            stdout
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("the script printed no {name}:\n{stdout}"))
                .to_owned()
        };
        RedmineServer {
            url: value("REDMINE_URL"),
            admin_key: value("REDMINE_API_KEY"),
            sync_key: value("REDMINE_SYNC_API_KEY"),
            work,
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(30)))
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    /// Stops the server (its data stays): the tracker is down.
    pub fn stop(&self) {
        let status = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.work)
            .status()
            .unwrap();
        assert!(status.success(), "stopping the test Redmine failed");
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        let output = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&self.work)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "restarting the test Redmine failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A new project with every custom field, named after `hint`; its identifier.
    pub fn project(&self, hint: &str) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let identifier = format!(
            "{}{}",
            hint.to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "")
                .chars()
                .take(20)
                .collect::<String>(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let identifier = format!("p{identifier}");
        self.create_project(&identifier);
        identifier
    }

    /// A project named `identifier`, with every custom field and alice, bob and
    /// fieldsync as developers.
    pub fn create_project(&self, identifier: &str) {
        self.create_project_with(identifier, &[5, 6, 7]);
    }

    /// A project named `identifier`, with every custom field and the users of
    /// `user_ids` as developers (fieldsync 5, alice 6, bob 7).
    pub fn create_project_with(&self, identifier: &str, user_ids: &[u64]) {
        self.call(
            "POST",
            "/projects.json",
            Some(json!({"project": {
                "name": identifier, "identifier": identifier, "is_public": true,
                "tracker_ids": [1, 2, 3],
                "issue_custom_field_ids": [1, 2, 3, 4, 5, 6, 7, 8, 9],
                "enabled_module_names": ["issue_tracking"]
            }})),
            None,
        );
        // Assignees and user fields take members only; alice and bob edit as
        // developers (role 4 of the default data).
        for user_id in user_ids {
            self.call(
                "POST",
                &format!("/projects/{identifier}/memberships.json"),
                Some(json!({"membership": {"user_id": user_id, "role_ids": [4]}})),
                None,
            );
        }
    }

    /// Creates an issue as `login` (admin when `None`); its id.
    pub fn create_issue(&self, project: &str, fields: Value, login: Option<&str>) -> u64 {
        let mut issue = fields;
        issue["project_id"] = json!(project);
        if issue.get("tracker_id").is_none() {
            issue["tracker_id"] = json!(1);
        }
        let created = self.call(
            "POST",
            "/issues.json",
            Some(json!({ "issue": issue })),
            login,
        );
        created["issue"]["id"].as_u64().expect("an issue id")
    }

    /// Changes an issue as `login`.
    pub fn update_issue(&self, id: u64, fields: Value, login: Option<&str>) {
        self.call(
            "PUT",
            &format!("/issues/{id}.json"),
            Some(json!({ "issue": fields })),
            login,
        );
    }

    /// An issue with its journals.
    pub fn issue(&self, id: u64) -> Value {
        self.call(
            "GET",
            &format!("/issues/{id}.json?include=journals"),
            None,
            None,
        )["issue"]
            .clone()
    }

    /// Every issue of a project (any status), by id.
    pub fn issues(&self, project: &str) -> Vec<Value> {
        let answer = self.call(
            "GET",
            &format!("/issues.json?project_id={project}&status_id=*&sort=id&limit=100"),
            None,
            None,
        );
        answer["issues"].as_array().cloned().unwrap_or_default()
    }

    /// One custom field's value of an issue JSON.
    pub fn custom(issue: &Value, id: u64) -> Value {
        issue["custom_fields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|field| field["id"] == json!(id))
            .map(|field| field["value"].clone())
            .unwrap_or(Value::Null)
    }

    /// A request with the admin key (acting as `login` when given); panics on
    /// anything but success, with Redmine's answer.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        login: Option<&str>,
    ) -> Value {
        let url = format!("{}{path}", self.url);
        let with_headers = |request: ureq::RequestBuilder<ureq::typestate::WithBody>| {
            let request = request.header("X-Redmine-API-Key", &self.admin_key);
            match login {
                Some(login) => request.header("X-Redmine-Switch-User", login),
                None => request,
            }
        };
        let response = match method {
            "GET" => {
                let request = self
                    .agent
                    .get(&url)
                    .header("X-Redmine-API-Key", &self.admin_key);
                match login {
                    Some(login) => request.header("X-Redmine-Switch-User", login).call(),
                    None => request.call(),
                }
            }
            "POST" => with_headers(self.agent.post(&url)).send_json(body.unwrap_or(json!({}))),
            "PUT" => with_headers(self.agent.put(&url)).send_json(body.unwrap_or(json!({}))),
            other => panic!("no method {other}"),
        };
        let mut response = response.unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status}: {text}");
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    /// The `tracker` object of a configuration side on this server, its key read
    /// from `key_file` (written here).
    pub fn tracker_spec(&self, key_file: &Path) -> Value {
        std::fs::write(key_file, format!("{}\n", self.sync_key)).unwrap();
        json!({
            "kind": "redmine",
            "url": self.url,
            "api_key_file": key_file,
            "correlation_field": "Correlation key"
        })
    }
}
