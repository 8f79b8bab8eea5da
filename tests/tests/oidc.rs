//! Ombuds signing in with their institution: what the REST API says about
//! sign-in options, and password sign-in turned off. The same sign-in end to
//! end, with a real OpenID provider and Chromium, is `oidc-e2e.mjs`, run
//! with the other browser scripts by `tests/browser.rs`.

use caucus_testkit::free_port;
use caucus_tests::app::{spawn_relay, OMBUD};
use caucus_tests::oidc::{relay_for, OFFICE};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn login_options_say_password_only_without_oidc() {
    let relay = spawn_relay().await;
    let options: Value = relay.api.ok(Method::GET, "/api/login", None, None).await;
    assert_eq!(options, json!({"password": true, "oidc": null}));
    // The institution's routes exist, and send a browser back to the
    // console with a reason rather than an error page.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/oidc/start", relay.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/#/signin/error/not_configured");
}

#[tokio::test]
async fn password_sign_in_turned_off_is_refused_with_a_clear_error() {
    let office = std::env::temp_dir().join(format!("caucus-oidc-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&office, OFFICE).expect("write office settings");
    // The provider is never reached by these requests.
    let relay = relay_for(free_port(), "https://login.example.edu", &office, false).await;
    let _ = std::fs::remove_file(&office);
    let (status, body) = relay
        .api
        .call(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": OMBUD.0, "password": OMBUD.1})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "forbidden");
    assert_eq!(
        body["message"],
        "password sign-in is turned off on this relay: sign in with Example University"
    );
    let options: Value = relay.api.ok(Method::GET, "/api/login", None, None).await;
    assert_eq!(
        options,
        json!({"password": false, "oidc": {"institution": "Example University", "start_url": "/api/oidc/start"}})
    );
    // The bootstrap account still exists for `relay admin`; it just cannot
    // sign in with its password.
    assert!(relay.accounts().find(OMBUD.0).await.unwrap().is_some());
}
