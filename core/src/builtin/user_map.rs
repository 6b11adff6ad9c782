//! `fieldsync.user-map`: users translated by name or by email, for user and users
//! fields.
//!
//! A `users` field (a list) has each user mapped; duplicates the mapping creates are
//! dropped. `null` stays `null`.
//!
//! Options:
//!
//! ```json
//! { "users": { "alice": "abrown", "bob": "bsmith" },
//!   "by": "name",
//!   "default": "sync-bot",
//!   "unmapped": "default" }
//! ```
//!
//! ```json
//! { "by": "email",
//!   "directory": { "alice": "alice@example.com", "bob": "bob@example.com" } }
//! ```
//!
//! - `users` (optional): username → username.
//! - `by` (default `"name"`):
//!   - `"name"`: both directions map the username through `users`.
//!   - `"email"`: the two sides exchange email addresses. Outgoing maps the username
//!     through `users` if it has an entry (names without one pass unchanged), then
//!     sends that user's email from `directory`. Incoming finds the user whose
//!     `directory` email matches the received one (ignoring case and surrounding
//!     spaces), then maps that username through `users` if it has an entry.
//! - `directory` (only with `"by": "email"`): username → email of this side's
//!   project. Operators do not write it: the engine fills it in from the users it
//!   stores for the project. A user whose email is unknown may be left out or given
//!   `null`.
//! - `default` (optional): what a user without a match becomes (on outgoing with
//!   `"by": "email"`, what is sent instead of an email).
//! - `unmapped`: what to do with a user without a match (no `users` entry with
//!   `"by": "name"`, no email in `directory` with `"by": "email"`): `"error"` fails
//!   the sync of the field, naming the user; `"default"` uses `default`; `"keep"`
//!   passes the value through unchanged. When absent: `"default"` if a `default` is
//!   given, else `"keep"`. `"default"` without a `default`, and a `default` with
//!   `"error"` or `"keep"` (it would never be used), are refused.

use std::collections::BTreeMap;

use fieldsync_plugin_api::{
    FieldType, FieldUpdate, IncomingContext, IncomingFieldMapping, MappingDescriptor, MappingError,
    MappingOptions, OutgoingContext, OutgoingFieldMapping,
};
use serde::Deserialize;
use serde_json::Value;

use super::common::{list_keys, map_text_or_list, show_text, Fallback, Unmapped};

/// Translates users by name or by email.
#[derive(Debug, Clone)]
pub struct UserMap {
    users: BTreeMap<String, String>,
    by: By,
    fallback: Fallback,
    /// With `by: email`: username → email.
    emails: BTreeMap<String, String>,
    /// With `by: email`: lower-cased email → the usernames that have it (more than one
    /// makes the email ambiguous, an error only when that email is received).
    usernames: BTreeMap<String, Vec<String>>,
}

/// What the two sides exchange.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum By {
    #[default]
    Name,
    Email,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserMapOptions {
    #[serde(default)]
    users: BTreeMap<String, String>,
    #[serde(default)]
    by: By,
    #[serde(default)]
    directory: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    unmapped: Option<Unmapped>,
}

impl UserMap {
    /// Builds the mapping from its options (see the module documentation).
    pub fn new(options: MappingOptions) -> Result<Self, MappingError> {
        let options: UserMapOptions = options.parse()?;
        let fallback = Fallback::from_options(options.unmapped, options.default, Fallback::Keep)?;
        let directory = match (options.by, options.directory) {
            (By::Name, None) => BTreeMap::new(),
            (By::Name, Some(_)) => {
                return Err(MappingError::invalid_options(
                    "`directory` is only used with `\"by\": \"email\"`",
                ))
            }
            (By::Email, Some(directory)) => directory,
            (By::Email, None) => return Err(MappingError::invalid_options(
                "`\"by\": \"email\"` needs `directory` (username → email); the engine fills it \
                     in from the users it stores for the project, so none were available when \
                     this mapping was built",
            )),
        };
        let emails: BTreeMap<String, String> = directory
            .into_iter()
            .filter_map(|(user, email)| Some((user, email?)))
            .filter(|(_, email)| !email.trim().is_empty())
            .collect();
        let mut usernames: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (user, email) in &emails {
            usernames
                .entry(email_key(email))
                .or_default()
                .push(user.clone());
        }
        Ok(UserMap {
            users: options.users,
            by: options.by,
            fallback,
            emails,
            usernames,
        })
    }

    /// Username → username through `users`, the unmapped rule deciding misses.
    fn by_name(&self, user: &str) -> Result<String, MappingError> {
        match self.users.get(user) {
            Some(mapped) => Ok(mapped.clone()),
            None => self.fallback.apply(user, || {
                let known = if self.users.is_empty() {
                    "the user map is empty".to_owned()
                } else {
                    format!("known: {}", list_keys(self.users.keys()))
                };
                format!(
                    "user {} has no entry in the user map ({known}) and no default",
                    show_text(user)
                )
            }),
        }
    }

    /// Username → email, after renaming through `users`.
    fn email_of(&self, user: &str) -> Result<String, MappingError> {
        let user = self.users.get(user).map_or(user, String::as_str);
        match self.emails.get(user) {
            Some(email) => Ok(email.clone()),
            None => self.fallback.apply(user, || {
                format!(
                    "user {} has no email in the directory ({} users with an email) and no default",
                    show_text(user),
                    self.emails.len()
                )
            }),
        }
    }

    /// Email → username, then renamed through `users`.
    fn user_with_email(&self, email: &str) -> Result<String, MappingError> {
        match self.usernames.get(&email_key(email)).map(Vec::as_slice) {
            Some([user]) => Ok(self.users.get(user).unwrap_or(user).clone()),
            Some(several) if several.len() > 1 => Err(MappingError::new(format!(
                "email {} belongs to several users ({}), cannot tell which one to set",
                show_text(email),
                list_keys(several.iter())
            ))),
            _ => self.fallback.apply(email, || {
                format!(
                    "email {} matches no user in the directory and there is no default",
                    show_text(email)
                )
            }),
        }
    }
}

/// Emails compare ignoring case and surrounding spaces.
fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl OutgoingFieldMapping for UserMap {
    fn export(&self, ctx: &OutgoingContext<'_>) -> Result<Value, MappingError> {
        match self.by {
            By::Name => map_text_or_list(ctx.value(), |user| self.by_name(user)),
            By::Email => map_text_or_list(ctx.value(), |user| self.email_of(user)),
        }
    }
}

impl IncomingFieldMapping for UserMap {
    fn import(&self, ctx: &IncomingContext<'_>) -> Result<FieldUpdate, MappingError> {
        let mapped = match self.by {
            By::Name => map_text_or_list(ctx.data(), |user| self.by_name(user)),
            By::Email => map_text_or_list(ctx.data(), |email| self.user_with_email(email)),
        };
        mapped.map(FieldUpdate::Set)
    }
}

pub(super) fn descriptor() -> MappingDescriptor {
    MappingDescriptor::new(super::USER_MAP, "User map")
        .description("Translates users through a table of names or by their email address")
        .accepts([FieldType::User, FieldType::Users])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{export, import, refused};
    use super::super::USER_MAP;
    use super::*;
    use serde_json::json;

    fn out(options: &Value, value: Value) -> Result<Value, MappingError> {
        export(USER_MAP, FieldType::User, options, value)
    }

    fn inc(options: &Value, data: Value) -> Result<FieldUpdate, MappingError> {
        import(USER_MAP, FieldType::User, options, None, data)
    }

    fn by_email() -> Value {
        json!({
            "by": "email",
            "users": {"jira-bot": "alice"},
            "directory": {
                "alice": "Alice@Example.com",
                "bob": "bob@example.com",
                "nomail": null,
            },
        })
    }

    #[test]
    fn by_name_maps_through_the_table_both_ways() {
        let options = json!({"users": {"alice": "abrown", "bob": "bsmith"}});
        assert_eq!(out(&options, json!("alice")).unwrap(), json!("abrown"));
        assert_eq!(
            inc(&options, json!("bob")).unwrap(),
            FieldUpdate::Set(json!("bsmith"))
        );
        assert_eq!(out(&options, Value::Null).unwrap(), Value::Null);
        assert_eq!(
            inc(&options, Value::Null).unwrap(),
            FieldUpdate::Set(Value::Null)
        );
        // Unmapped users are kept when no default is given.
        assert_eq!(out(&options, json!("carol")).unwrap(), json!("carol"));
        assert_eq!(
            export(
                USER_MAP,
                FieldType::Users,
                &options,
                json!(["alice", "carol", "abrown"])
            )
            .unwrap(),
            json!(["abrown", "carol"])
        );
    }

    #[test]
    fn unmapped_users_follow_the_unmapped_rule() {
        let default = json!({"users": {"alice": "abrown"}, "default": "sync-bot"});
        assert_eq!(out(&default, json!("carol")).unwrap(), json!("sync-bot"));
        let error = json!({"users": {"alice": "abrown"}, "unmapped": "error"});
        let failure = inc(&error, json!("carol")).unwrap_err();
        assert_eq!(
            failure.message(),
            "user `carol` has no entry in the user map (known: alice) and no default"
        );
        let failure = import(
            USER_MAP,
            FieldType::Users,
            &error,
            None,
            json!(["alice", "dave"]),
        )
        .unwrap_err();
        assert!(
            failure.message().starts_with("user `dave` has no entry"),
            "{failure}"
        );
    }

    #[test]
    fn by_email_sends_the_email_and_finds_the_user_back() {
        let options = by_email();
        assert_eq!(
            out(&options, json!("bob")).unwrap(),
            json!("bob@example.com")
        );
        // `users` renames first, then the directory gives the email.
        assert_eq!(
            out(&options, json!("jira-bot")).unwrap(),
            json!("Alice@Example.com")
        );
        // Incoming matches emails ignoring case.
        assert_eq!(
            inc(&options, json!(" alice@EXAMPLE.com")).unwrap(),
            FieldUpdate::Set(json!("alice"))
        );
        assert_eq!(
            import(
                USER_MAP,
                FieldType::Users,
                &options,
                None,
                json!(["BOB@example.com", "alice@example.com"])
            )
            .unwrap(),
            FieldUpdate::Set(json!(["bob", "alice"]))
        );
        assert_eq!(
            inc(&options, Value::Null).unwrap(),
            FieldUpdate::Set(Value::Null)
        );
    }

    #[test]
    fn by_email_misses_follow_the_unmapped_rule() {
        // Kept by default: the value passes unchanged.
        assert_eq!(out(&by_email(), json!("nomail")).unwrap(), json!("nomail"));
        assert_eq!(
            inc(&by_email(), json!("x@example.com")).unwrap(),
            FieldUpdate::Set(json!("x@example.com"))
        );
        let mut strict = by_email();
        strict["unmapped"] = json!("error");
        let error = out(&strict, json!("carol")).unwrap_err();
        assert_eq!(
            error.message(),
            "user `carol` has no email in the directory (2 users with an email) and no default"
        );
        let error = inc(&strict, json!("x@example.com")).unwrap_err();
        assert_eq!(
            error.message(),
            "email `x@example.com` matches no user in the directory and there is no default"
        );
        let mut default = by_email();
        default["default"] = json!("sync-bot");
        assert_eq!(
            inc(&default, json!("x@example.com")).unwrap(),
            FieldUpdate::Set(json!("sync-bot"))
        );
    }

    #[test]
    fn an_email_shared_by_two_users_is_an_error_when_received() {
        let options = json!({"by": "email", "directory": {"a": "x@example.com", "b": "X@example.com", "c": "c@example.com"}});
        let error = inc(&options, json!("x@example.com")).unwrap_err();
        assert_eq!(
            error.message(),
            "email `x@example.com` belongs to several users (a, b), cannot tell which one to set"
        );
        assert_eq!(
            inc(&options, json!("c@example.com")).unwrap(),
            FieldUpdate::Set(json!("c"))
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let message = refused(USER_MAP, FieldType::User, &json!({"by": "email"}));
        assert!(
            message.starts_with("`\"by\": \"email\"` needs `directory`")
                && message.contains("the engine fills it in from the users it stores"),
            "{message}"
        );
        let message = refused(USER_MAP, FieldType::User, &json!({"directory": {}}));
        assert_eq!(message, "`directory` is only used with `\"by\": \"email\"`");
        let message = refused(USER_MAP, FieldType::User, &json!({"by": "id"}));
        assert!(message.contains("unknown variant `id`"), "{message}");
        let message = refused(USER_MAP, FieldType::User, &json!({"user": {}}));
        assert!(message.contains("unknown field `user`"), "{message}");
        let message = refused(USER_MAP, FieldType::User, &json!({"unmapped": "default"}));
        assert_eq!(
            message,
            "`unmapped` is `default` but no `default` value is given"
        );
        refused(
            USER_MAP,
            FieldType::User,
            &json!({"default": "bot", "unmapped": "error"}),
        );
    }
}
