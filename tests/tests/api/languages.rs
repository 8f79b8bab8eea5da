//! The office settings in several languages (`[languages.<tag>]`): the
//! notice reaches a party with every translation, the office API lists each
//! language completed from the defaults, and `refer` sends a resource as the
//! language asked for gives it.

use caucus_tests::app::{spawn_relay_with, OMBUD};
use caucus_tests::client::Ws;
use reqwest::Method;
use serde_json::json;

const SETTINGS: &str = r#"office_name = "Harbour Ombuds"
notice = "This conversation is confidential."

[[resources]]
id = "eap"
title = "Employee Assistance Programme"
description = "Free counselling."
url = "https://example.org/eap"

[[resources]]
id = "policies"
title = "Policies"
description = "Formal options."
url = "https://example.org/policies"

[languages.es]
notice = "Esta conversación es confidencial."

[[languages.es.resources]]
id = "eap"
title = "Programa de ayuda al personal"
description = "Asesoramiento gratuito."
url = "https://example.org/es/eap"

[languages.fr]
notice = "Cette conversation est confidentielle."
"#;

#[tokio::test]
async fn the_notice_and_resources_reach_a_party_in_its_language() {
    let path = std::env::temp_dir().join(format!("caucus-lang-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, SETTINGS).unwrap();
    let relay = spawn_relay_with(|c| c.office_config = Some(path.clone())).await;
    std::fs::remove_file(&path).ok();
    let api = &relay.api;
    let token = api.login(OMBUD.0, OMBUD.1).await;

    let office = api.ok(Method::GET, "/api/office", Some(&token), None).await;
    assert_eq!(office["notice"], "This conversation is confidential.");
    assert_eq!(
        office["languages"]["es"]["notice"],
        "Esta conversación es confidencial."
    );
    assert_eq!(
        office["languages"]["es"]["resources"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // French translates only the notice: its resources are the defaults.
    assert_eq!(office["languages"]["fr"]["resources"], office["resources"]);

    let room = api.create_room(&token, json!({"title": "Idiomas"})).await;
    let (party, party_token) = api.add_joined_party(&token, &room, "Lucía").await;
    let ws_url = api.ws_url();
    let mut pa = Ws::connect(&ws_url, json!({"token": party_token})).await;
    let notice = &pa.welcome["notice"];
    assert_eq!(notice["text"], "This conversation is confidential.");
    assert_eq!(
        notice["translations"],
        json!({"es": "Esta conversación es confidencial.", "fr": "Cette conversation est confidentielle."})
    );
    pa.ok(json!({"type": "acknowledge_notice"})).await;
    pa.drain_replay().await;

    let mut ombud = Ws::connect(&ws_url, json!({"token": token, "room_id": room})).await;
    ombud.drain_replay().await;
    let refer = |id: &str, language: Option<&str>| {
        let mut frame = json!({"type": "refer", "party_id": party, "resource_id": id});
        if let Some(l) = language {
            frame["language"] = json!(l);
        }
        frame
    };
    // Spanish gives its own card; a resource Spanish leaves out, and a
    // language the settings do not name, fall back to the default list.
    for (id, language, url) in [
        ("eap", Some("es"), "https://example.org/es/eap"),
        ("policies", Some("es"), "https://example.org/policies"),
        ("eap", Some("de"), "https://example.org/eap"),
        ("eap", None, "https://example.org/eap"),
    ] {
        ombud.ok(refer(id, language)).await;
        let m = pa.event_of("message").await;
        assert_eq!(m["resource"]["url"], url, "{id} in {language:?}");
    }
    assert_eq!(ombud.err(refer("nope", Some("es"))).await, "not_found");
}
