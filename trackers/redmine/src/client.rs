//! HTTP to one Redmine server: the API key on every request, connections reused,
//! time-outs, retries with backoff where the server may recover (no connection,
//! 5xx, 429 with its `Retry-After`), and every answer sorted by whose fault it is.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body};

/// Requests tried this many times in all before the server counts as unavailable.
const ATTEMPTS: u32 = 3;
/// The longest `Retry-After` honoured inside one request; a longer one makes the
/// round fail (unavailable) and the next round try again.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Redmine caps pages at 100 items.
pub const PAGE: usize = 100;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The server did not answer: no connection, a time-out, 429 (rate limited).
    /// The round's fault; nothing is charged to an issue.
    Unavailable(String),
    /// 401 (or 412 for the user to act as): the key is not accepted. A person must act;
    /// every request fails the same way, so it is the round's fault.
    Denied(String),
    /// 403: this request is not allowed (a permission, a private issue, a closed
    /// project) — one issue's, or every request's; the tracker tells which.
    Forbidden(String),
    /// 5xx: the server failed this request — overloaded (every request), or one
    /// issue it cannot handle; the tracker tells which.
    ServerError(String),
    /// 404: the project or issue does not exist (or is not visible to the key).
    NotFound(String),
    /// 422: Redmine refused the values (its `errors` list).
    Refused(String),
    /// Any other answer, or a body that is not the JSON expected.
    Unexpected(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Unavailable(message)
            | HttpError::Denied(message)
            | HttpError::Forbidden(message)
            | HttpError::ServerError(message)
            | HttpError::NotFound(message)
            | HttpError::Refused(message)
            | HttpError::Unexpected(message) => f.write_str(message),
        }
    }
}

/// A client of one Redmine server.
pub struct Client {
    agent: Agent,
    base: String,
    api_key: String,
    /// HTTP requests sent (retries included), for benchmarks and diagnostics.
    sent: AtomicU64,
}

impl fmt::Debug for Client {
    // Never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

/// What a request sends besides its path.
#[derive(Default)]
pub struct Request<'a> {
    pub query: &'a [(&'a str, String)],
    pub body: Option<&'a Value>,
    /// `X-Redmine-Switch-User`: write as this user (an admin key may).
    pub act_as: Option<&'a str>,
}

impl Client {
    pub fn new(base: &str, api_key: String, timeout: Duration) -> Self {
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(timeout))
            // Statuses are sorted here, with their bodies (Redmine's `errors`).
            .http_status_as_error(false)
            .user_agent(concat!("fieldsync-redmine/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            api_key,
            sent: AtomicU64::new(0),
        }
    }

    /// HTTP requests sent so far (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The server's address, for messages.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, HttpError> {
        self.send(
            "GET",
            path,
            &Request {
                query,
                ..Request::default()
            },
        )
    }

    /// Every item of a paged list (`key` names the array in each page).
    pub fn get_all(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, HttpError> {
        let mut items = Vec::new();
        loop {
            let mut paged = query.to_vec();
            paged.push(("offset", items.len().to_string()));
            paged.push(("limit", PAGE.to_string()));
            let page = self.get(path, &paged)?;
            let batch = page
                .get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| self.unexpected(path, &format!("no `{key}` list in the answer")))?;
            let total = page.get("total_count").and_then(Value::as_u64).unwrap_or(0);
            let got = batch.len();
            items.extend(batch.iter().cloned());
            if got == 0 || items.len() as u64 >= total {
                return Ok(items);
            }
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        request: &Request<'_>,
    ) -> Result<Value, HttpError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 1;
        loop {
            let result = self.send_once(method, &url, request);
            // A creating POST is not repeated after a time-out or a server error: the
            // server may have created the issue, and a second try would make another.
            // It fails, and the next round's correlation look-up finds what was made.
            let repeatable = method != "POST";
            let retry_in = match &result {
                Err(Attempt::Transport(_)) if repeatable => Some(backoff(attempt)),
                Err(Attempt::Status(status, retry_after, _))
                    if *status == StatusCode::TOO_MANY_REQUESTS
                        || (repeatable && status.is_server_error()) =>
                {
                    Some(retry_after.unwrap_or_else(|| backoff(attempt)))
                }
                _ => None,
            };
            match (result, retry_in) {
                (Ok(answer), _) => return Ok(answer),
                (Err(failure), Some(delay))
                    if attempt < ATTEMPTS && delay <= LONGEST_RETRY_AFTER =>
                {
                    log::debug!("{method} {url}: {failure:?}; trying again in {delay:?}");
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                (Err(failure), _) => return Err(self.classify(method, path, failure)),
            }
        }
    }

    fn send_once(&self, method: &str, url: &str, request: &Request<'_>) -> Result<Value, Attempt> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        macro_rules! prepared {
            ($builder:expr) => {{
                let mut builder = $builder
                    .header("X-Redmine-API-Key", &self.api_key)
                    .header("Accept", "application/json");
                if let Some(user) = request.act_as {
                    builder = builder.header("X-Redmine-Switch-User", user);
                }
                for (name, value) in request.query {
                    builder = builder.query(*name, value);
                }
                builder
            }};
        }
        let response = match (method, request.body) {
            ("GET", _) => prepared!(self.agent.get(url)).call(),
            ("POST", Some(body)) => prepared!(self.agent.post(url)).send_json(body),
            ("PUT", Some(body)) => prepared!(self.agent.put(url)).send_json(body),
            ("DELETE", _) => prepared!(self.agent.delete(url)).call(),
            _ => prepared!(self.agent.post(url)).send_empty(),
        };
        let mut response = response.map_err(|error| Attempt::Transport(error.to_string()))?;
        let status = response.status();
        if status.is_success() {
            // 204 (an update) has no body.
            let text = response
                .body_mut()
                .read_to_string()
                .map_err(|error| Attempt::Transport(error.to_string()))?;
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .map_err(|error| Attempt::Status(status, None, format!("not JSON: {error}")));
        }
        let retry_after = header(&response, "retry-after")
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Err(Attempt::Status(status, retry_after, body))
    }

    fn classify(&self, method: &str, path: &str, failure: Attempt) -> HttpError {
        // The server itself is named by the error's store (the tracker's location).
        let at = format!("Redmine {method} {path}");
        match failure {
            Attempt::Transport(error) => HttpError::Unavailable(format!(
                "{at}: no answer{} ({error})",
                if method == "POST" {
                    String::new()
                } else {
                    format!(" after {ATTEMPTS} tries")
                }
            )),
            Attempt::Status(status, _, body) => match status.as_u16() {
                401 => HttpError::Denied(format!(
                    "{at}: 401 Unauthorized: the API key is not accepted (check the key, and \
                     that the REST API is enabled in Administration → Settings → API)"
                )),
                403 => HttpError::Forbidden(format!(
                    "{at}: 403 Forbidden: the user may not do this (a role with the needed \
                     permission, or an admin key, is required)"
                )),
                404 => HttpError::NotFound(format!("{at}: 404 Not Found")),
                412 => HttpError::Denied(format!(
                    "{at}: 412: the user to act as does not exist or is locked \
                     (X-Redmine-Switch-User needs an admin key and an active login)"
                )),
                422 => HttpError::Refused(format!("{at}: refused: {}", redmine_errors(&body))),
                429 => HttpError::Unavailable(format!(
                    "{at}: {status} (rate limited){}",
                    excerpt(&body)
                )),
                _ if status.is_server_error() => {
                    HttpError::ServerError(format!("{at}: {status}{}", excerpt(&body)))
                }
                _ => HttpError::Unexpected(format!("{at}: {status}{}", excerpt(&body))),
            },
        }
    }

    fn unexpected(&self, path: &str, what: &str) -> HttpError {
        HttpError::Unexpected(format!("Redmine GET {path}: {what}"))
    }
}

/// One try's failure, before it is known whether another try follows.
#[derive(Debug)]
enum Attempt {
    Transport(String),
    Status(StatusCode, Option<Duration>, String),
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 3u64.pow(attempt.saturating_sub(1)))
}

fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Redmine's `{"errors": ["Status is not included in the list", ...]}` as one line.
fn redmine_errors(body: &str) -> String {
    match serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| value.get("errors").cloned())
    {
        Some(Value::Array(errors)) => errors
            .iter()
            .map(|error| {
                error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned)
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => format!("422{}", excerpt(body)),
    }
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let short: String = body.chars().take(200).collect();
    format!(": {short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redmine_errors_become_one_line() {
        assert_eq!(
            redmine_errors(
                r#"{"errors":["Team is not included in the list","Subject cannot be blank"]}"#
            ),
            "Team is not included in the list; Subject cannot be blank"
        );
        assert_eq!(redmine_errors("oops"), "422: oops");
    }
}
