//! The issue sync message: what the outgoing queue of one side hands to the incoming
//! queue of the other.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Timestamp;

/// One side of a synchronization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The first project of a synchronization.
    A,
    /// The second project.
    B,
}

impl Side {
    /// The partner side.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// `"a"` or `"b"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data one field relationship carries for one issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// What the outgoing mapping exported.
    pub data: Value,
    /// When the source field changed; `None` for a new issue or a resync, which the
    /// target applies whatever it changed itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<Timestamp>,
    /// The project the change was first made in (`<tracker location>#<project>`),
    /// when the source only passes it on from another synchronization; `None`: made
    /// in the source project. `changed_at` is then the time of the first edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// One message per changed issue and round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueSyncMessage {
    /// `<synchronization>:<source key>:<seq>`, unique for ever.
    pub id: String,
    /// The synchronization it belongs to.
    pub sync_id: String,
    /// The side it comes from.
    pub source_side: Side,
    /// The issue it describes.
    pub source_key: String,
    /// Issue type of the source issue.
    pub issue_type: String,
    /// Per source issue, 1, 2, 3...: the target applies them in this order, once.
    pub seq: i64,
    /// Whether the source issue was never sent before.
    pub is_new: bool,
    /// Relationship id → data.
    pub entries: BTreeMap<String, Entry>,
    /// The source store's history position up to which this message reports changes.
    #[serde(default)]
    pub covers_history_to: i64,
    /// Whether the source store had the link to the partner issue when this was built
    /// (when not, the target records it again: a link lost in a crash must not
    /// make the source create a second partner).
    #[serde(default)]
    pub source_has_partner: bool,
    /// How many of the partner's messages the source issue had applied when this was
    /// built: the partner changes the source had seen (see the conflict rule).
    #[serde(default)]
    pub partner_messages_applied: i64,
    /// When the outgoing queue built it.
    pub sent_at: Timestamp,
    /// The issue the source issue stands for (`<tracker location>#<key>`), when
    /// another synchronization created it from that one: a partner is then looked for
    /// among the issues standing for the same one before one is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl IssueSyncMessage {
    /// The id a message gets from its synchronization, issue and sequence number.
    pub fn make_id(sync_id: &str, source_key: &str, seq: i64) -> String {
        format!("{sync_id}:{source_key}:{seq}")
    }
}
