//! Who may call what: three bearer tokens, one per role, and the guard that keeps a plain HTML
//! form from changing anything.
//!
//! | role | token | may |
//! |---|---|---|
//! | reader | `--reader-token` | every `GET`, and read-only `POST /api/sql` |
//! | agent | `--agent-token` | poll capture requests (`GET /api/captures…`) and report on them (`PUT …/agents/{node}`); controllers' and Whisperers' reports (`PUT /api/clusters/{cluster}/controller`, `…/whisperers/{node}`) |
//! | writer | `--writer-token` (or `--token`) | all of the above, and start or stop captures, and save, change or delete queries |
//!
//! Once any token is set, every `/api/*` route (health aside) needs one whose role may call it:
//! 401 without a token or with an unknown one, 403 with a token of a role that may not.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use spider_collector::listen::{constant_time_eq, presented_token};

/// The bearer tokens of the three roles; none set leaves the API open (a loopback demo).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Reads: the map, grids, stats, pcaps, SQL.
    pub reader: Option<String>,
    /// Node agents: capture polling and status reports.
    pub agent: Option<String>,
    /// Everything, changes included.
    pub writer: Option<String>,
}

impl Tokens {
    /// Whether the API needs a token at all.
    pub fn any(&self) -> bool {
        self.reader.is_some() || self.agent.is_some() || self.writer.is_some()
    }

    /// Refuses an empty token, and one token given to two roles (a request with it would carry
    /// whichever role is checked first, so a "reader" token could start captures).
    pub fn check(&self) -> Result<(), String> {
        let given = [
            ("reader", &self.reader),
            ("agent", &self.agent),
            ("writer", &self.writer),
        ];
        for (index, (role, token)) in given.iter().enumerate() {
            let Some(token) = token.as_deref() else {
                continue;
            };
            if token.trim().is_empty() {
                return Err(format!("the {role} token is empty"));
            }
            if let Some((other, _)) = given[index + 1..]
                .iter()
                .find(|(_, other)| other.as_deref() == Some(token))
            {
                return Err(format!(
                    "the {role} and {other} tokens are the same: give each role its own"
                ));
            }
        }
        Ok(())
    }

    /// The role a presented token carries, if it is one of them.
    fn role_of(&self, presented: &str) -> Option<Role> {
        [
            (&self.writer, Role::Writer),
            (&self.reader, Role::Reader),
            (&self.agent, Role::Agent),
        ]
        .into_iter()
        .find_map(|(token, role)| {
            token
                .as_deref()
                .is_some_and(|token| constant_time_eq(presented.as_bytes(), token.as_bytes()))
                .then_some(role)
        })
    }
}

/// A role a token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Reader,
    Agent,
    Writer,
}

/// What a route does, as far as roles go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Reads the datasets or the stores.
    Read,
    /// Reads the capture requests (what node agents poll).
    Poll,
    /// A node agent's status report.
    Report,
    /// Changes a store.
    Write,
}

impl Access {
    /// The access a route (its matched pattern) needs.
    fn of(method: &Method, route: &str) -> Access {
        let reads = matches!(*method, Method::GET | Method::HEAD);
        match route {
            "/api/captures/{id}/agents/{node}"
            | "/api/clusters/{cluster}/controller"
            | "/api/clusters/{cluster}/whisperers/{node}" => Access::Report,
            "/api/captures" | "/api/captures/{id}" if reads => Access::Poll,
            "/api/sql" => Access::Read,
            _ if reads => Access::Read,
            _ => Access::Write,
        }
    }

    fn granted_to(self, role: Role) -> bool {
        match role {
            Role::Writer => true,
            Role::Reader => matches!(self, Access::Read | Access::Poll),
            Role::Agent => matches!(self, Access::Poll | Access::Report),
        }
    }
}

/// Refuses a request whose token is missing (401), unknown (401) or of a role that may not call
/// the route (403), when tokens are configured.
pub async fn require_role(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Response {
    if tokens.any() {
        let presented = presented_token(request.headers());
        let Some(role) = presented.and_then(|p| tokens.role_of(p)) else {
            return ApiError::unauthorized().into_response();
        };
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or(request.uri().path(), MatchedPath::as_str);
        let access = Access::of(request.method(), route);
        if !access.granted_to(role) {
            return ApiError::forbidden(format!(
                "a {role:?} token may not call {} {route}",
                request.method()
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// Refuses a `POST` that is neither JSON nor carries a token. A page of another site can make a
/// browser send a plain form (urlencoded, multipart or text) to a loopback service with no
/// preflight; it cannot send JSON or a header without the preflight that CORS refuses. Forms
/// send nothing but `GET` and `POST`, and every `GET` only reads.
pub async fn refuse_plain_forms(request: Request, next: Next) -> Response {
    let changes = request.method() == Method::POST;
    let headers = request.headers();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if changes && !json && !headers.contains_key(header::AUTHORIZATION) {
        return ApiError::unsupported_media(
            "a request that changes something must be 'Content-Type: application/json' \
             (or carry the token)",
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_reaches_only_its_routes() {
        let get = |route| Access::of(&Method::GET, route);
        let cases = [
            (get("/api/map"), [true, false, true]),
            (Access::of(&Method::POST, "/api/sql"), [true, false, true]),
            (get("/api/captures"), [true, true, true]),
            (get("/api/captures/{id}"), [true, true, true]),
            (
                Access::of(&Method::PUT, "/api/captures/{id}/agents/{node}"),
                [false, true, true],
            ),
            (
                Access::of(&Method::POST, "/api/captures"),
                [false, false, true],
            ),
            (
                Access::of(&Method::POST, "/api/captures/{id}/stop"),
                [false, false, true],
            ),
            (
                Access::of(&Method::DELETE, "/api/queries/{id}"),
                [false, false, true],
            ),
        ];
        for (access, expected) in cases {
            let granted = [Role::Reader, Role::Agent, Role::Writer].map(|r| access.granted_to(r));
            assert_eq!(granted, expected, "{access:?}");
        }
    }

    #[test]
    fn a_token_names_its_role_and_no_other() {
        let tokens = Tokens {
            reader: Some("r".into()),
            agent: Some("a".into()),
            writer: None,
        };
        assert_eq!(tokens.role_of("r"), Some(Role::Reader));
        assert_eq!(tokens.role_of("a"), Some(Role::Agent));
        assert_eq!(tokens.role_of(""), None);
        assert_eq!(tokens.role_of("w"), None);
    }

    #[test]
    fn an_empty_token_or_one_shared_by_two_roles_is_refused() {
        let tokens = |reader: &str, agent: &str, writer: &str| Tokens {
            reader: Some(reader.into()),
            agent: Some(agent.into()),
            writer: Some(writer.into()),
        };
        assert_eq!(tokens("r", "a", "w").check(), Ok(()));
        assert_eq!(
            tokens("r", "a", "r").check(),
            Err("the reader and writer tokens are the same: give each role its own".into())
        );
        assert_eq!(
            tokens("r", " ", "w").check(),
            Err("the agent token is empty".into())
        );
        assert_eq!(Tokens::default().check(), Ok(()));
    }
}
