//! Ombuds signing in with their institution: OpenID Connect's authorization
//! code flow with PKCE, through the `openidconnect` crate (discovery, the
//! code exchange, and the ID token's issuer, audience, signature against the
//! provider's JWKS, expiry and nonce).
//!
//! Relay nodes keep no state, so what a sign-in must remember between leaving
//! for the provider and coming back (state, nonce, PKCE verifier) travels in
//! a cookie sealed with the data key, HttpOnly and `SameSite=Lax`, good for
//! ten minutes: any node can open it, nobody can read or forge it. After the
//! callback the browser holds a second sealed cookie, a grant good for one
//! minute and one use, which the console exchanges for a session token with
//! `POST /api/oidc/session`; no token is ever in a URL. One use is enforced
//! through the store: redeeming raises a counter filed under the grant's
//! keyed hash, and only the call that raises it to 1 gets a token.
//!
//! Who is an ombud is the office's decision (`[oidc]` in its settings,
//! [`OidcOffice`]); this module only establishes who the person is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    reqwest, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use protocol::rest::OidcRefusal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::accounts::{Account, OidcLink};
use crate::config::{Config, OidcOffice};
use crate::error::{Error, Result};
use crate::seal::Sealer;
use crate::store::Store;

/// How long a person may spend at the identity provider.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// How long the console has to exchange its grant for a session.
pub const GRANT_TTL: Duration = Duration::from_secs(60);
/// How long discovery (endpoints and signing keys) is trusted before it is
/// fetched again, so a provider's key rotation reaches the relay.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// A provider slower than this is reported as unavailable.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle connection to the provider is dropped before common servers
/// drop theirs (Node's and Apache's after 5 s): one reused as the server
/// closes it fails the sign-in with "could not be reached".
const POOL_IDLE: Duration = Duration::from_secs(4);

/// A client built from discovery: authorization and token endpoints set,
/// user info maybe.
type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

const FLOW_AAD: &[u8] = b"caucus-oidc-flow";
const GRANT_AAD: &[u8] = b"caucus-oidc-grant";

/// What a sign-in remembers while the person is at the provider.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    expires_ms: i64,
}

/// A verified, mapped sign-in waiting to become a session.
#[derive(Serialize, Deserialize)]
struct Grant {
    id: Uuid,
    username: String,
    expires_ms: i64,
}

/// The query the provider sends the browser back with.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// The issuer, from providers that name themselves in the answer
    /// (RFC 9207), so an answer from another provider is not mistaken for theirs.
    pub iss: Option<String>,
}

/// A person the provider vouched for, and whether the office calls them an ombud.
pub struct Identity {
    pub link: OidcLink,
    pub name: Option<String>,
    pub is_ombud: bool,
}

pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    office: OidcOffice,
    http: reqwest::Client,
    sealer: Arc<Sealer>,
    store: Arc<dyn Store>,
    secure_cookies: bool,
    provider: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl Oidc {
    /// Sign-in with the institution, if the settings turn it on. The error
    /// names the setting to fix.
    pub fn new(
        config: &Config,
        office: &OidcOffice,
        sealer: Arc<Sealer>,
        store: Arc<dyn Store>,
    ) -> std::result::Result<Option<Oidc>, String> {
        let (Some(issuer), Some(id), Some(secret), Some(redirect)) = (
            &config.oidc_issuer,
            &config.oidc_client_id,
            &config.oidc_client_secret,
            config.oidc_redirect_url(),
        ) else {
            return Ok(None);
        };
        if !office.has_rules() {
            return Err("RELAY_OIDC_ISSUER is set, but the office settings (RELAY_CONFIG) map nobody to an ombud: add ombud_subjects, ombud_emails or ombud_claim under [oidc]".into());
        }
        let issuer =
            IssuerUrl::new(issuer.clone()).map_err(|e| format!("RELAY_OIDC_ISSUER: {e}"))?;
        let redirect = RedirectUrl::new(redirect).map_err(|e| format!("RELAY_PUBLIC_URL: {e}"))?;
        // No redirects: a provider's endpoint that redirects could send the
        // relay's requests (with its client secret) somewhere else.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE)
            .build()
            .map_err(|e| format!("RELAY_OIDC_ISSUER: cannot build an HTTP client: {e}"))?;
        Ok(Some(Oidc {
            issuer,
            client_id: ClientId::new(id.clone()),
            client_secret: ClientSecret::new(secret.clone()),
            secure_cookies: redirect.url().scheme() == "https",
            redirect,
            office: office.clone(),
            http,
            sealer,
            store,
            provider: Mutex::new(None),
        }))
    }

    pub fn institution(&self) -> &str {
        self.office.institution()
    }

    /// Whether cookies need `Secure` (the relay is reached over https).
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }

    /// The provider's endpoints and keys, fetched at most every ten minutes.
    async fn provider(&self, fresh: bool) -> Result<CoreProviderMetadata, OidcRefusal> {
        let mut cached = self.provider.lock().await;
        if let Some((at, metadata)) = cached.as_ref() {
            if !fresh && at.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %error_chain(&e), "OpenID provider discovery failed");
                OidcRefusal::Unavailable
            })?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(&self, metadata: CoreProviderMetadata) -> ProviderClient {
        CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Where to send the browser, and the sealed cookie that remembers this
    /// sign-in until it comes back.
    pub async fn start(&self) -> Result<(String, String), OidcRefusal> {
        let client = self.client(self.provider(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        for scope in &self.office.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let flow = Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            expires_ms: now_ms() + FLOW_TTL.as_millis() as i64,
        };
        Ok((url.to_string(), self.seal_cookie(FLOW_AAD, &flow)))
    }

    /// Who came back from the provider: the answer checked against the
    /// sign-in this browser started, the code exchanged, the ID token verified.
    pub async fn finish(
        &self,
        cookie: Option<&str>,
        back: Callback,
    ) -> Result<Identity, OidcRefusal> {
        let flow: Flow = self
            .open_cookie(FLOW_AAD, cookie)
            .ok_or(OidcRefusal::Expired)?;
        if back
            .iss
            .as_ref()
            .is_some_and(|iss| iss != self.issuer.as_str())
        {
            tracing::info!("a sign-in came back naming another issuer");
            return Err(OidcRefusal::BadToken);
        }
        if let Some(error) = &back.error {
            // The provider's own words are the provider's: log its error
            // code (a short token, by the standard), not its description.
            let error: String = error.chars().take(64).collect();
            tracing::info!(%error, "the OpenID provider refused a sign-in");
            return Err(OidcRefusal::ProviderError);
        }
        let state = back.state.as_deref().unwrap_or_default();
        if !constant_time_eq(state.as_bytes(), flow.state.as_bytes()) {
            return Err(OidcRefusal::BadState);
        }
        let code = back.code.ok_or(OidcRefusal::ProviderError)?;
        let client = self.client(self.provider(false).await?);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| {
                tracing::warn!(error = %e, "the OpenID provider has no token endpoint");
                OidcRefusal::Unavailable
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    tracing::info!(error = %r.error(), "the OpenID provider refused the code");
                    OidcRefusal::ProviderError
                }
                other => {
                    tracing::warn!(error = %error_chain(&other), "the code exchange failed");
                    OidcRefusal::Unavailable
                }
            })?;
        let id_token = tokens.id_token().ok_or_else(|| {
            tracing::warn!("the OpenID provider sent no ID token");
            OidcRefusal::BadToken
        })?;
        let nonce = Nonce::new(flow.nonce);
        let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
            // Keys rotate: a signature by a key the cached set lacks is
            // checked once more against the provider's current keys.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(self.provider(true).await?);
                let verifier = client.id_token_verifier();
                let again = id_token
                    .claims(&verifier, &nonce)
                    .map(|c| (c.subject().to_string(), c.issuer().to_string()));
                again
            }
            other => other.map(|c| (c.subject().to_string(), c.issuer().to_string())),
        };
        let (subject, issuer) = verified.map_err(|e| {
            tracing::info!(error = %e, "an ID token was refused");
            refusal_of(&e)
        })?;
        // Verified above; read again as plain JSON for the claims the
        // office's rules may name (`groups`, `roles`, …).
        let claims = payload(&id_token.to_string()).ok_or(OidcRefusal::BadToken)?;
        let link = OidcLink { issuer, subject };
        Ok(Identity {
            is_ombud: is_ombud(&self.office, &link.subject, &claims),
            name: claims.get("name").and_then(Value::as_str).map(String::from),
            link,
        })
    }

    /// The cookie that lets this browser, and only for a minute, start a
    /// session as `account`.
    pub fn grant(&self, account: &Account) -> String {
        let grant = Grant {
            id: Uuid::new_v4(),
            username: account.username.clone(),
            expires_ms: now_ms() + GRANT_TTL.as_millis() as i64,
        };
        self.seal_cookie(GRANT_AAD, &grant)
    }

    /// The username a grant cookie was issued for, once: a second redemption,
    /// on any node, is refused.
    pub async fn redeem(&self, cookie: Option<&str>) -> Result<String> {
        let grant: Grant = self.open_cookie(GRANT_AAD, cookie).ok_or_else(|| {
            Error::unauthorized("no sign-in to complete here, or it took too long: sign in again")
        })?;
        let key = &self.sealer.blind_in(GRANT_AAD, &grant.id.to_string())[0];
        if self.store.raise_generation(key).await? != 1 {
            return Err(Error::unauthorized(
                "this sign-in has already been used: sign in again",
            ));
        }
        Ok(grant.username)
    }

    fn seal_cookie<T: Serialize>(&self, aad: &[u8], value: &T) -> String {
        URL_SAFE_NO_PAD.encode(self.sealer.seal(aad, value))
    }

    /// The cookie's value if it is this relay's, unaltered and unexpired.
    fn open_cookie<T: ExpiresAt + serde::de::DeserializeOwned>(
        &self,
        aad: &[u8],
        cookie: Option<&str>,
    ) -> Option<T> {
        let sealed = URL_SAFE_NO_PAD.decode(cookie?).ok()?;
        let value: T = self.sealer.open(aad, &sealed).ok()?;
        (value.expires_ms() > now_ms()).then_some(value)
    }
}

trait ExpiresAt {
    fn expires_ms(&self) -> i64;
}

impl ExpiresAt for Flow {
    fn expires_ms(&self) -> i64 {
        self.expires_ms
    }
}

impl ExpiresAt for Grant {
    fn expires_ms(&self) -> i64 {
        self.expires_ms
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What to tell the person about an ID token the verifier refused.
fn refusal_of(e: &ClaimsVerificationError) -> OidcRefusal {
    match e {
        ClaimsVerificationError::InvalidAudience(_) => OidcRefusal::WrongAudience,
        ClaimsVerificationError::InvalidNonce(_) => OidcRefusal::BadNonce,
        _ => OidcRefusal::BadToken,
    }
}

/// The JSON payload of a compact JWT (already verified by the caller).
fn payload(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let part = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Whether the office's rules make this identity an ombud: a listed
/// subject, a listed and verified e-mail address, or the marking claim.
pub fn is_ombud(
    office: &OidcOffice,
    subject: &str,
    claims: &serde_json::Map<String, Value>,
) -> bool {
    if office.ombud_subjects.iter().any(|s| s == subject) {
        return true;
    }
    let verified = claims.get("email_verified") == Some(&Value::Bool(true));
    if let (true, Some(email)) = (verified, claims.get("email").and_then(Value::as_str)) {
        if office
            .ombud_emails
            .iter()
            .any(|e| e.eq_ignore_ascii_case(email))
        {
            return true;
        }
    }
    if let Some(rule) = &office.ombud_claim {
        let wanted = Value::String(rule.value.clone());
        return match claims.get(&rule.claim) {
            Some(Value::Array(values)) => values.contains(&wanted),
            Some(value) => *value == wanted,
            None => false,
        };
    }
    false
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClaimRule;
    use serde_json::json;

    fn claims(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn only_the_office_rules_make_an_ombud() {
        let office = OidcOffice {
            ombud_subjects: vec!["sub-1".into()],
            ombud_emails: vec!["Ada@Example.edu".into()],
            ombud_claim: Some(ClaimRule {
                claim: "groups".into(),
                value: "ombuds".into(),
            }),
            ..OidcOffice::default()
        };
        let none = claims(json!({}));
        assert!(is_ombud(&office, "sub-1", &none));
        assert!(!is_ombud(&office, "sub-2", &none));
        let email = json!({"email": "ada@example.EDU", "email_verified": true});
        assert!(is_ombud(&office, "x", &claims(email)));
        let unverified = json!({"email": "ada@example.edu", "email_verified": false});
        assert!(
            !is_ombud(&office, "x", &claims(unverified)),
            "unverified e-mail"
        );
        let unsaid = json!({"email": "ada@example.edu"});
        assert!(
            !is_ombud(&office, "x", &claims(unsaid)),
            "unverified e-mail"
        );
        assert!(is_ombud(
            &office,
            "x",
            &claims(json!({"groups": ["staff", "ombuds"]}))
        ));
        assert!(is_ombud(&office, "x", &claims(json!({"groups": "ombuds"}))));
        assert!(!is_ombud(
            &office,
            "x",
            &claims(json!({"groups": ["staff"]}))
        ));
        assert!(!is_ombud(
            &office,
            "x",
            &claims(json!({"roles": ["ombuds"]}))
        ));
    }

    #[test]
    fn state_comparison_needs_equal_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
