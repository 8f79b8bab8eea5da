//! The websocket side of the protocol as the benchmark speaks it: requests
//! are built from the `protocol` crate's types; incoming frames are read
//! through a lean borrowed view (only the fields the shuttle needs), so the
//! load generator spends its CPU on load rather than on parsing.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use futures_util::{SinkExt, StreamExt};
use protocol::requests::Decision;
use protocol::{Channel, ClientFrame, Hello, ParticipantId, ReqId, Request, RoomId};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use uuid::Uuid;

use crate::Error;

pub type Ws = WebSocketStream<TcpStream>;

/// An incoming frame, borrowed from the text it was parsed from.
#[derive(Debug, Deserialize)]
pub struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default, borrow)]
    pub event: Option<EventView<'a>>,
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct EventView<'a> {
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(default, borrow)]
    pub channel: Option<Cow<'a, str>>,
    #[serde(default)]
    pub author: Option<AuthorView>,
    #[serde(default, borrow)]
    pub body: Option<Cow<'a, str>>,
    #[serde(default)]
    pub relayed_from: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub forward_id: Option<Uuid>,
    #[serde(default)]
    pub revision: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct AuthorView {
    pub id: Uuid,
    pub role: protocol::Role,
}

pub fn parse(text: &str) -> Result<Frame<'_>, Error> {
    serde_json::from_str(text).map_err(|e| Error(format!("unreadable frame from the relay: {e}")))
}

fn frame(req: u64, request: Request) -> Message {
    let f = ClientFrame {
        req: Some(ReqId::Num(req)),
        idempotency_key: None,
        request,
    };
    Message::text(serde_json::to_string(&f).unwrap_or_default())
}

pub fn send(req: u64, channel: Channel, body: String) -> Message {
    frame(
        req,
        Request::Send {
            channel,
            body,
            client_id: format!("b{req}"),
            shareable: true,
        },
    )
}

pub fn forward(req: u64, source: Uuid, to: ParticipantId, body: String) -> Message {
    frame(
        req,
        Request::Forward {
            source_message_id: source,
            to: vec![to],
            body,
        },
    )
}

pub fn approve(req: u64, forward_id: Uuid, revision: u32) -> Message {
    frame(
        req,
        Request::Consent {
            forward_id,
            revision,
            decision: Decision::Approve,
            note: None,
        },
    )
}

/// The body of a party message: a token the receiver reads the send time
/// from, padded to `len` bytes.
pub fn body(sent_ns: u64, sender: usize, n: u64, len: usize) -> String {
    let mut b = format!("bench:{sent_ns}:{sender}:{n}:");
    while b.len() < len {
        b.push('x');
    }
    b
}

/// The send time (ns since the run's epoch) carried by a body, if it is a benchmark body.
pub fn sent_ns(body: &str) -> Option<u64> {
    let rest = &body[body.find("bench:")? + 6..];
    rest.split(':').next()?.parse().ok()
}

/// A websocket to `base` (`http://host:port`), from source address `src`
/// when the relay is on this machine's loopback.
pub async fn open(base: &str, src: Option<Ipv4Addr>) -> Result<Ws, Error> {
    let hostport = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let addr: SocketAddr = match hostport.parse() {
        Ok(a) => a,
        Err(_) => tokio::net::lookup_host(&hostport)
            .await?
            .next()
            .ok_or_else(|| Error(format!("cannot resolve {hostport}")))?,
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let (Some(src), IpAddr::V4(dst)) = (src, addr.ip()) {
        if dst.is_loopback() && src != Ipv4Addr::LOCALHOST {
            socket.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
        }
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(64 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{hostport}/ws"),
        stream,
        Some(config),
    )
    .await?;
    Ok(ws)
}

/// What `hello` returned.
pub struct Welcome {
    /// The newest `seq` in the participant's inbox.
    pub seq: u64,
}

/// Sends `hello` and waits for `welcome`.
pub async fn hello(
    ws: &mut Ws,
    token: &str,
    room: Option<RoomId>,
    since: Option<u64>,
) -> Result<Welcome, Error> {
    let hello = ClientFrame {
        req: None,
        idempotency_key: None,
        request: Request::Hello(Hello {
            token: token.to_string(),
            room_id: room,
            since,
        }),
    };
    ws.send(Message::text(serde_json::to_string(&hello)?))
        .await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let f = parse(t.as_str())?;
                if f.kind == "welcome" {
                    return Ok(Welcome {
                        seq: f.seq.unwrap_or(0),
                    });
                }
                return Err(Error(format!("expected welcome, got {}", t.as_str())));
            }
            Some(Ok(Message::Close(c))) => {
                return Err(Error(format!("relay refused hello: {c:?}")));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(Error("relay closed before welcome".into())),
        }
    }
}

/// Sends a request and waits for its ack, ignoring other frames.
pub async fn request(ws: &mut Ws, req: u64, request: Request) -> Result<(), Error> {
    ws.send(frame(req, request)).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str())?;
                if v["req"] == serde_json::json!(req) {
                    if v["type"] == "ack" {
                        return Ok(());
                    }
                    return Err(Error(format!("request refused: {}", t.as_str())));
                }
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(Error("relay closed the connection".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_carries_its_send_time_and_has_the_asked_length() {
        let b = body(123_456_789, 7, 42, 100);
        assert_eq!(b.len(), 100);
        assert_eq!(sent_ns(&b), Some(123_456_789));
        assert_eq!(sent_ns(&format!("relayed: {b}")), Some(123_456_789));
        assert_eq!(sent_ns("hello"), None);
    }

    #[test]
    fn relayed_message_frames_are_read() {
        let text = r#"{"type":"event","seq":4,"event":{"kind":"message","id":"6f1c1c32-5f7b-4c3a-9d0e-3f1b6e2a9c11","channel":"private:6f1c1c32-5f7b-4c3a-9d0e-3f1b6e2a9c12","author":{"id":"6f1c1c32-5f7b-4c3a-9d0e-3f1b6e2a9c13","role":"ombud","display_name":"O"},"body":"relayed: bench:5:0:1:x\"q","sent_at":"2025-01-01T00:00:00Z","relayed_from":{"message_id":"6f1c1c32-5f7b-4c3a-9d0e-3f1b6e2a9c14","forward_id":"6f1c1c32-5f7b-4c3a-9d0e-3f1b6e2a9c15"},"shareable":true}}"#;
        let f = parse(text).unwrap();
        assert_eq!(f.kind, "event");
        let e = f.event.unwrap();
        assert!(e.relayed_from.is_some());
        assert_eq!(sent_ns(e.body.as_deref().unwrap()), Some(5));
    }
}
