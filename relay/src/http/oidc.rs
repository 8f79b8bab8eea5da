//! Signing in with the institution (OpenID Connect): the console's sign-in
//! options, leaving for the provider, coming back, and turning the sign-in
//! into a session. The protocol itself lives in `crate::auth::oidc`; here
//! are the redirects and cookies.
//!
//! The browser never sees a JSON error on this path: every refusal sends it
//! to the console at `/#/signin/error/<code>` (`protocol::rest::OidcRefusal`),
//! which says what happened in words.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::rest::{LoginOptions, LoginResponse, OidcOption, OidcRefusal};

use crate::auth::oidc::{Callback, Oidc, FLOW_TTL, GRANT_TTL};
use crate::error::{Error, Result};
use crate::state::AppState;

/// Remembers a sign-in while the person is at the provider.
const FLOW_COOKIE: &str = "caucus_oidc_flow";
const FLOW_PATH: &str = "/api/oidc/callback";
/// A finished sign-in, until the console exchanges it for a session.
const GRANT_COOKIE: &str = "caucus_oidc_grant";
const GRANT_PATH: &str = "/api/oidc/session";

/// `GET /api/login`: how ombuds may sign in here (no token needed).
pub(super) async fn options(State(state): State<AppState>) -> Json<LoginOptions> {
    Json(LoginOptions {
        password: !state.config.disable_password_login,
        oidc: state.oidc.as_ref().map(|o| OidcOption {
            institution: o.institution().to_string(),
            start_url: "/api/oidc/start".into(),
        }),
    })
}

/// `GET /api/oidc/start`: off to the provider, with this sign-in remembered
/// in a sealed cookie.
pub(super) async fn start(State(state): State<AppState>) -> Response {
    let Some(oidc) = &state.oidc else {
        return to_console(Err(OidcRefusal::NotConfigured), None);
    };
    match oidc.start().await {
        Ok((url, flow)) => {
            let cookie = set_cookie(oidc, FLOW_COOKIE, FLOW_PATH, &flow, FLOW_TTL.as_secs());
            redirect(&url, Some(cookie))
        }
        Err(refusal) => to_console(Err(refusal), None),
    }
}

/// `GET /api/oidc/callback`: back from the provider. A mapped ombud's
/// browser gets a one-minute grant cookie and goes to `/#/signin/done`.
pub(super) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: std::result::Result<Query<Callback>, QueryRejection>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return to_console(Err(OidcRefusal::NotConfigured), None);
    };
    let back = query.map(|Query(q)| q).unwrap_or_default();
    let outcome = async {
        let who = oidc.finish(cookie(&headers, FLOW_COOKIE), back).await?;
        if !who.is_ombud {
            tracing::info!("an institution identity that is not an ombud here tried to sign in");
            return Err(OidcRefusal::NotOmbud);
        }
        let account = state
            .accounts
            .sign_in_oidc(&who.link, who.name.as_deref())
            .await
            .map_err(|e| match e {
                Error::Forbidden(_) => OidcRefusal::Disabled,
                other => {
                    other.log();
                    OidcRefusal::Unavailable
                }
            })?;
        tracing::info!(ombud = %account.id, "ombud signed in with the institution");
        Ok(oidc.grant(&account))
    }
    .await;
    // The flow cookie has served its purpose either way.
    let clear = set_cookie(oidc, FLOW_COOKIE, FLOW_PATH, "", 0);
    match outcome {
        Ok(grant) => {
            let grant = set_cookie(oidc, GRANT_COOKIE, GRANT_PATH, &grant, GRANT_TTL.as_secs());
            let mut response = to_console(Ok(()), Some(clear));
            response.headers_mut().append(header::SET_COOKIE, grant);
            response
        }
        Err(refusal) => to_console(Err(refusal), Some(clear)),
    }
}

/// `POST /api/oidc/session`: the console trades the grant cookie, once and
/// within a minute, for the same answer as `POST /api/login`.
pub(super) async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    let oidc = state
        .oidc
        .as_ref()
        .ok_or_else(|| Error::not_found("sign-in with an institution is not configured here"))?;
    let username = oidc.redeem(cookie(&headers, GRANT_COOKIE)).await?;
    let account = state
        .accounts
        .find(&username)
        .await?
        .ok_or_else(|| Error::unauthorized("this ombud account no longer exists"))?;
    if account.disabled {
        return Err(Error::unauthorized("this ombud account is disabled"));
    }
    let clear = set_cookie(oidc, GRANT_COOKIE, GRANT_PATH, "", 0);
    Ok((
        [(header::SET_COOKIE, clear)],
        Json(LoginResponse {
            token: state.sessions.issue_ombud(&account).await?,
            ombud: account.info(),
        }),
    ))
}

/// The console, told how the sign-in went (in the fragment, which browsers
/// neither send to servers nor put in `Referer`).
fn to_console(
    outcome: std::result::Result<(), OidcRefusal>,
    cookie: Option<HeaderValue>,
) -> Response {
    let target = match outcome {
        Ok(()) => "/#/signin/done".to_string(),
        Err(refusal) => {
            let code: &'static str = refusal.into();
            format!("/#/signin/error/{code}")
        }
    };
    redirect(&target, cookie)
}

fn redirect(to: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(to) {
        Ok(location) => headers.insert(header::LOCATION, location),
        Err(_) => return Error::internal("unrepresentable redirect").into_response(),
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cookie {
        headers.append(header::SET_COOKIE, c);
    }
    response
}

/// HttpOnly (no script reads it), `SameSite=Lax` (sent on the provider's
/// redirect back, a top-level GET, but on no cross-site POST), limited to
/// the one path that reads it; `Secure` when the relay is on https.
fn set_cookie(oidc: &Oidc, name: &str, path: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if oidc.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let text =
        format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).expect("cookie values are base64url")
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; caucus_oidc_flow=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, "caucus_oidc_flow"), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "caucus_oidc"), None);
    }
}
