//! Test clients that speak the real protocol over real sockets: a small REST
//! client and a websocket client that keeps every frame it received, so
//! tests can assert on what a participant was (never) sent.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http", "ws", 1))
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("relay answers HTTP");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (status, v) = self.call(method, path, token, body).await;
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let v = self
            .ok(
                Method::POST,
                "/api/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        v["token"].as_str().expect("token").to_string()
    }

    pub async fn create_room(&self, token: &str, body: Value) -> String {
        let v = self
            .ok(Method::POST, "/api/rooms", Some(token), Some(body))
            .await;
        v["id"].as_str().expect("room id").to_string()
    }

    /// Invites a party: returns (party_id, invite_code).
    pub async fn invite(&self, token: &str, room: &str, name: &str) -> (String, String) {
        let body = json!({"display_name": name});
        let path = format!("/api/rooms/{room}/parties");
        let inv = self.ok(Method::POST, &path, Some(token), Some(body)).await;
        (
            inv["party_id"].as_str().expect("party_id").to_string(),
            inv["invite_code"]
                .as_str()
                .expect("invite_code")
                .to_string(),
        )
    }

    /// Spends an invite code: returns (party_id, party token).
    pub async fn join(&self, code: &str) -> (String, String) {
        let body = json!({"invite_code": code});
        let j = self.ok(Method::POST, "/api/join", None, Some(body)).await;
        (
            j["party_id"].as_str().expect("party_id").to_string(),
            j["token"].as_str().expect("token").to_string(),
        )
    }

    /// Invites a party and joins with its code: returns (party_id, party token).
    pub async fn add_joined_party(&self, token: &str, room: &str, name: &str) -> (String, String) {
        let (_, code) = self.invite(token, room, name).await;
        self.join(&code).await
    }
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_req: u64,
    pending: VecDeque<Value>,
    /// Every text frame received, raw, for leak assertions.
    pub received: Vec<String>,
    pub welcome: Value,
    /// The newest event `seq` seen.
    pub last_seq: u64,
    pub close: Option<(u16, String)>,
}

impl Ws {
    pub async fn raw(url: &str) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects")
            .0
    }

    /// Connects, sends `hello`, and waits for `welcome` (panics on anything else).
    pub async fn connect(url: &str, hello: Value) -> Ws {
        match Ws::try_connect(url, hello).await {
            Ok(ws) => ws,
            Err((code, why)) => panic!("connection refused: {code} {why}"),
        }
    }

    /// Like `connect`, but returns the close code if the relay refuses.
    pub async fn try_connect(url: &str, mut hello: Value) -> Result<Ws, (u16, String)> {
        hello["type"] = json!("hello");
        let stream = Ws::raw(url).await;
        let mut ws = Ws {
            stream,
            next_req: 0,
            pending: VecDeque::new(),
            received: Vec::new(),
            welcome: Value::Null,
            last_seq: 0,
            close: None,
        };
        ws.send_raw(&hello.to_string()).await;
        match ws.next_frame().await {
            Some(f) if f["type"] == "welcome" => {
                ws.last_seq = hello["since"]
                    .as_u64()
                    .unwrap_or(0)
                    .min(f["seq"].as_u64().unwrap_or(0));
                ws.welcome = f;
                Ok(ws)
            }
            Some(other) => panic!("expected welcome, got {other}"),
            None => Err(ws.close.clone().unwrap_or((0, String::new()))),
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_message(&mut self, m: Message) {
        self.stream.send(m).await.expect("send");
    }

    /// Next frame from the socket (not the pending queue); None once closed.
    async fn read(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("relay answered in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    self.received.push(t.to_string());
                    let v: Value = serde_json::from_str(t.as_str()).expect("relay sends JSON");
                    if v["type"] == "event" {
                        let seq = v["seq"].as_u64().expect("events carry seq");
                        assert!(
                            seq > self.last_seq || v["event"]["kind"] == "room_closed",
                            "seq {seq} after {}",
                            self.last_seq
                        );
                        self.last_seq = seq;
                    }
                    return Some(v);
                }
                Some(Ok(Message::Close(frame))) => {
                    self.close = Some(
                        frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new())),
                    );
                    return None;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    self.close.get_or_insert((1006, String::new()));
                    return None;
                }
            }
        }
    }

    pub async fn next_frame(&mut self) -> Option<Value> {
        match self.pending.pop_front() {
            Some(v) => Some(v),
            None => self.read().await,
        }
    }

    /// Sends a request with a fresh `req` and waits for its answer, keeping other frames.
    pub async fn request(&mut self, frame: Value) -> Result<Value, (String, String)> {
        let text = frame.to_string();
        match self.try_request(frame).await {
            Some(answer) => answer,
            None => panic!(
                "connection closed before the answer to {text}: {:?}",
                self.close
            ),
        }
    }

    /// Like `request`, but `None` if the connection closes first (or cannot
    /// send), as a client that reconnects and retries needs.
    pub async fn try_request(
        &mut self,
        mut frame: Value,
    ) -> Option<Result<Value, (String, String)>> {
        self.next_req += 1;
        let req = self.next_req;
        frame["req"] = json!(req);
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .ok()?;
        loop {
            let v = self.read().await?;
            if v["req"] == json!(req) && (v["type"] == "ack" || v["type"] == "error") {
                return Some(if v["type"] == "ack" {
                    Ok(v["result"].clone())
                } else {
                    Err((
                        v["code"].as_str().unwrap_or("").to_string(),
                        v["message"].as_str().unwrap_or("").to_string(),
                    ))
                });
            }
            self.pending.push_back(v);
        }
    }

    pub async fn ok(&mut self, frame: Value) -> Value {
        let f = frame.to_string();
        self.request(frame)
            .await
            .unwrap_or_else(|e| panic!("{f} failed: {e:?}"))
    }

    pub async fn err(&mut self, frame: Value) -> String {
        let f = frame.to_string();
        match self.request(frame).await {
            Ok(v) => panic!("{f} should fail, got {v}"),
            Err((code, _)) => code,
        }
    }

    /// The next stored event (skipping acks and ephemeral frames).
    pub async fn next_event(&mut self) -> Value {
        loop {
            let v = self
                .next_frame()
                .await
                .expect("connection open while waiting for an event");
            if v["type"] == "event" {
                return v["event"].clone();
            }
        }
    }

    /// Waits for the next event of `kind`, skipping others.
    pub async fn event_of(&mut self, kind: &str) -> Value {
        loop {
            let e = self.next_event().await;
            if e["kind"] == kind {
                return e;
            }
        }
    }

    /// Reads until every event up to the welcome's `seq` (the replay) has arrived.
    pub async fn drain_replay(&mut self) {
        let head = self.welcome["seq"].as_u64().unwrap_or(0);
        while self.last_seq < head {
            self.next_frame().await.expect("replay arrives");
        }
        self.pending.retain(|v| v["type"] != "event");
    }

    /// Asserts that no stored event arrives within `d`.
    pub async fn no_event_within(&mut self, d: Duration) {
        if let Some(v) = self.pending.iter().find(|v| v["type"] == "event") {
            panic!("unexpected event {v}");
        }
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(d, self.stream.next()).await {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            self.received.push(t.to_string());
            assert!(v["type"] != "event", "unexpected event {v}");
        }
    }

    /// Reads until the relay closes the connection; returns the close code.
    pub async fn closed(&mut self) -> u16 {
        while self.read().await.is_some() {}
        self.close.as_ref().map(|c| c.0).unwrap_or(0)
    }

    pub fn saw(&self, needle: &str) -> bool {
        self.received.iter().any(|f| f.contains(needle))
    }

    /// Whether any frame holds `n` as a number of its own: its digits with
    /// no letter or digit either side, as in `"value":9100` or `9100 EUR`.
    /// Inside an id (`8f49100b`) or a longer number they are chance, not
    /// the number.
    pub fn saw_number(&self, n: u64) -> bool {
        let digits = n.to_string();
        self.received.iter().any(|f| {
            f.match_indices(&digits).any(|(at, _)| {
                let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
                !alnum(f[..at].chars().next_back()) && !alnum(f[at + digits.len()..].chars().next())
            })
        })
    }

    pub async fn close(mut self) {
        let _ = self
            .stream
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: WsCloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }

    /// Drops the TCP connection without a close handshake (a lost laptop).
    pub fn drop_abruptly(self) {
        drop(self.stream);
    }
}
