//! Issues to call mappings with, built the way the host presents them.

use fieldsync_plugin_api::IssueInfo;
use serde_json::{Map, Value};

/// An issue: its key, project, type and fields.
///
/// The project is the key's part before the last `-` (`SUP` for `SUP-1`) and the
/// type `Task`, unless set. A field set to `null` is empty: mappings read it as
/// `None` and it is not among the issue's field ids, as in the host.
#[derive(Debug, Clone, PartialEq)]
pub struct TestIssue {
    info: IssueInfo,
    fields: Map<String, Value>,
}

impl TestIssue {
    /// An issue with no fields.
    pub fn new(key: &str) -> TestIssue {
        let project = key.rsplit_once('-').map_or(key, |(project, _)| project);
        TestIssue {
            info: IssueInfo {
                key: key.to_owned(),
                project: project.to_owned(),
                issue_type: "Task".to_owned(),
            },
            fields: Map::new(),
        }
    }

    /// The same issue with `field` set to `value` (`null` makes it empty).
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> TestIssue {
        self.fields.insert(field.to_owned(), value.into());
        self
    }

    /// The same issue with another issue type.
    pub fn of_type(mut self, issue_type: &str) -> TestIssue {
        self.info.issue_type = issue_type.to_owned();
        self
    }

    /// The same issue in another project.
    pub fn in_project(mut self, project: &str) -> TestIssue {
        self.info.project = project.to_owned();
        self
    }

    /// Key, project and type, as every call carries them.
    pub fn info(&self) -> &IssueInfo {
        &self.info
    }

    /// The value of `field` as a mapping reads it (`None` when empty).
    pub fn value(&self, field: &str) -> Option<&Value> {
        self.fields.get(field).filter(|value| !value.is_null())
    }

    pub(crate) fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}
