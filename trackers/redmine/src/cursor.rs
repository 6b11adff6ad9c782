//! Where change detection on a Redmine project stands. Stored by the ledger as text:
//! `{"since":"2026-12-01T03:29:17Z","unchanged":{"42":"2026-12-01T03:29:15Z"}}`.
//!
//! Redmine tells no time of its own (thin sends no `Date` header), so the server's
//! clock is read from what it stamps: `since` is the newest `updated_on` a scan saw,
//! less the time the scan took — never later than the server's time when the scan
//! began, so an update made while it ran is listed by the next one.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use fieldsync_core::store::TrackerCursor;
use serde::{Deserialize, Serialize};

/// Issues updated this long before the last scan are listed again: Redmine's time
/// filter has second resolution and turns `>= T` into `> T - 1 s`, and an update
/// may commit a moment after its `updated_on`. Listing an issue again costs one read
/// and sends nothing twice.
const OVERLAP: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCursor {
    /// At most the server's time when the last scan began (`None`: never scanned).
    #[serde(default, with = "optional_rfc3339")]
    pub since: Option<SystemTime>,
    /// Issues the last scan handed on whose `updated_on` (as listed) proves that a
    /// later change would show a later `updated_on`: the same page held an issue
    /// updated in a later second, so the server's clock had passed theirs. Listed
    /// again with the same `updated_on`, they have not changed and need no read. (An
    /// issue updated in the newest second of its page is read again: a second change
    /// within that second would not show.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unchanged: BTreeMap<u64, String>,
}

impl ScanCursor {
    pub fn parse(cursor: &TrackerCursor) -> Result<Self, String> {
        if cursor.0.is_empty() {
            return Ok(ScanCursor::default());
        }
        serde_json::from_str(&cursor.0).map_err(|error| {
            format!(
                "sync cursor `{}` is not a Redmine cursor: {error}",
                cursor.0
            )
        })
    }

    pub fn write(&self) -> TrackerCursor {
        TrackerCursor(serde_json::to_string(self).unwrap_or_default())
    }

    /// The `updated_on` filter of the next scan (`None`: every issue).
    pub fn updated_filter(&self) -> Option<String> {
        Some(format!(
            ">={}",
            humantime::format_rfc3339_seconds(self.listed_from()?)
        ))
    }

    fn listed_from(&self) -> Option<SystemTime> {
        let since = self.since?;
        Some(since.checked_sub(OVERLAP).unwrap_or(SystemTime::UNIX_EPOCH))
    }

    /// Drops what the next scan will not list again: the cursor stays small.
    pub fn forget_unlisted(&mut self) {
        let Some(from) = self.listed_from() else {
            return;
        };
        // The filter has whole seconds (rounded down), and Redmine lists
        // `updated_on >= T` as `> T - 1 s`: keep what those may add, and a second more.
        let from = from.checked_sub(Duration::from_secs(3)).unwrap_or(from);
        self.unchanged
            .retain(|_, at| humantime::parse_rfc3339(at).is_ok_and(|at| at >= from));
    }
}

mod optional_rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Option<SystemTime>, out: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => out.serialize_some(&humantime::format_rfc3339_seconds(*time).to_string()),
            None => out.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        input: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let text: Option<String> = Option::deserialize(input)?;
        text.map(|text| humantime::parse_rfc3339(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_ledger_and_lists_with_an_overlap() {
        let since = humantime::parse_rfc3339("2026-12-01T03:29:17Z").unwrap();
        let cursor = ScanCursor {
            since: Some(since),
            unchanged: BTreeMap::from([(42, "2026-12-01T03:29:15Z".to_owned())]),
        }
        .write();
        assert_eq!(
            cursor.0,
            r#"{"since":"2026-12-01T03:29:17Z","unchanged":{"42":"2026-12-01T03:29:15Z"}}"#
        );
        let read = ScanCursor::parse(&cursor).unwrap();
        assert_eq!(read.updated_filter().unwrap(), ">=2026-12-01T03:29:14Z");
        assert_eq!(
            read.unchanged.get(&42).map(String::as_str),
            Some("2026-12-01T03:29:15Z")
        );
        let older = ScanCursor::parse(&TrackerCursor(r#"{"since":"2026-12-01T03:29:17Z"}"#.into()));
        assert!(older.unwrap().unchanged.is_empty());
        assert_eq!(
            ScanCursor::parse(&TrackerCursor::default())
                .unwrap()
                .updated_filter(),
            None
        );
        assert!(ScanCursor::parse(&TrackerCursor("12".into())).is_err());
    }

    #[test]
    fn issues_the_next_scan_will_not_list_are_forgotten() {
        let mut cursor = ScanCursor {
            since: Some(humantime::parse_rfc3339("2026-12-01T03:29:17Z").unwrap()),
            unchanged: BTreeMap::from([
                (1, "2026-12-01T03:20:00Z".to_owned()),
                (4, "2026-12-01T03:29:10Z".to_owned()),
                (2, "2026-12-01T03:29:11Z".to_owned()),
                (3, "2026-12-01T03:29:16Z".to_owned()),
            ]),
        };
        cursor.forget_unlisted();
        assert_eq!(
            cursor.unchanged.keys().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
    }
}
