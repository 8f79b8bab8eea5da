//! `schema.json`: the JSON Schema of every wire type, generated from these types.

use schemars::{schema_for, Schema};
use serde_json::{json, Value};

use crate::{acks, envelope, events, intake, rest};

/// The whole contract as one JSON document, with a stable key order so the
/// checked-in file diffs cleanly.
pub fn generate() -> Value {
    fn s(schema: Schema) -> Value {
        schema.to_value()
    }
    json!({
        "$comment": "Generated from the protocol crate: UPDATE_SCHEMA=1 cargo test -p protocol",
        "websocket": {
            "client_frame": s(schema_for!(envelope::ClientFrame)),
            "server_frame": s(schema_for!(envelope::ServerFrame)),
            "event": s(schema_for!(events::Event)),
            "ack_result": s(schema_for!(acks::AckResult)),
        },
        "rest": {
            "error": s(schema_for!(rest::ErrorBody)),
            "login_request": s(schema_for!(rest::LoginRequest)),
            "login_response": s(schema_for!(rest::LoginResponse)),
            "login_options": s(schema_for!(rest::LoginOptions)),
            "oidc_refusal": s(schema_for!(rest::OidcRefusal)),
            "ombud_info": s(schema_for!(rest::OmbudInfo)),
            "update_me": s(schema_for!(rest::UpdateMe)),
            "create_room": s(schema_for!(rest::CreateRoom)),
            "room_detail": s(schema_for!(rest::RoomDetail)),
            "create_party": s(schema_for!(rest::CreateParty)),
            "party_invite": s(schema_for!(rest::PartyInvite)),
            "join_request": s(schema_for!(rest::JoinRequest)),
            "join_response": s(schema_for!(rest::JoinResponse)),
            "add_ombud": s(schema_for!(rest::AddOmbud)),
            "set_list": s(schema_for!(rest::SetList)),
            "office": s(schema_for!(rest::OfficeInfo)),
            "trends_report": s(schema_for!(rest::TrendsReport)),
        },
        "intake": {
            "office": s(schema_for!(intake::IntakeOffice)),
            "start_conversation": s(schema_for!(intake::StartConversation)),
            "conversation_started": s(schema_for!(intake::ConversationStarted)),
            "queue": s(schema_for!(Vec<intake::QueueEntry>)),
            "handoff": s(schema_for!(intake::Handoff)),
            "convert": s(schema_for!(intake::Convert)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in schema must match the types; regenerate with UPDATE_SCHEMA=1.
    #[test]
    fn schema_json_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.json");
        let fresh = serde_json::to_string_pretty(&generate()).expect("schema serialises") + "\n";
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &fresh).expect("write schema.json");
        }
        let current = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            current == fresh,
            "protocol/schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p protocol`"
        );
    }

    #[test]
    fn names_for_logs_are_serdes_names() {
        for code in [
            crate::ErrorCode::Unauthorized,
            crate::ErrorCode::NotFound,
            crate::ErrorCode::RateLimited,
            crate::ErrorCode::NoticeRequired,
            crate::ErrorCode::Internal,
        ] {
            assert_eq!(json!(code), json!(code.as_str()));
        }
        let requests = [
            json!({"type": "hello", "token": "t"}),
            json!({"type": "forward_update", "forward_id": uuid::Uuid::nil(), "body": "b"}),
            json!({"type": "acknowledge_notice"}),
            json!({"type": "leave"}),
            json!({"type": "suggest_redactions", "message_id": uuid::Uuid::nil()}),
        ];
        for r in requests {
            let parsed: crate::Request = serde_json::from_value(r.clone()).expect("parses");
            assert_eq!(r["type"], parsed.kind());
        }
        for c in crate::CloseCode::ALL {
            assert_eq!(crate::CloseCode::try_from(c.code()), Ok(c));
        }
        assert_eq!(crate::CloseCode::try_from(4999), Err(4999));
    }

    #[test]
    fn spliced_event_frames_parse_as_server_frames() {
        let event = crate::Event::JointOpened {
            by: uuid::Uuid::nil(),
        };
        let text = envelope::event_frame_text(42, &serde_json::to_string(&event).unwrap());
        let frame: envelope::ServerFrame = serde_json::from_str(&text).expect("parses");
        assert_eq!(frame, envelope::ServerFrame::Event { seq: 42, event });
    }

    #[test]
    fn ack_results_keep_their_wire_shape() {
        use crate::acks::*;
        let empty = serde_json::to_value(AckResult::default()).unwrap();
        assert_eq!(empty, json!({}));
        let left = serde_json::to_value(AckResult::Left(LeftAck { left: true })).unwrap();
        assert_eq!(left, json!({"left": true}));
        let back: AckResult = serde_json::from_value(json!({"open": false})).unwrap();
        assert_eq!(back, AckResult::Joint(JointAck { open: false }));
    }

    #[test]
    fn request_frames_round_trip() {
        let raw = r#"{"type":"send","req":7,"channel":"private:7f1c4c6e-0c1a-4a47-9a43-5c4f7f1f6a10","body":"hi","client_id":"c1"}"#;
        let frame: envelope::ClientFrame = serde_json::from_str(raw).expect("parses");
        assert_eq!(frame.req, Some(envelope::ReqId::Num(7)));
        match frame.request {
            crate::Request::Send { shareable, .. } => assert!(shareable),
            other => panic!("parsed as {other:?}"),
        }
        let hello: envelope::ClientFrame =
            serde_json::from_str(r#"{"type":"hello","token":"t","since":null}"#).expect("hello");
        assert!(matches!(hello.request, crate::Request::Hello(_)));
    }
}
