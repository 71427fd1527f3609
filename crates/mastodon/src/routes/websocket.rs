//! The streaming API over WebSocket, as web clients (Elk, Phanpy, through the `masto`
//! library) use it: `GET /api/v1/streaming` upgraded, the token in `?access_token=`, in
//! `Authorization`, or as the `Sec-WebSocket-Protocol` (which is echoed); streams chosen
//! with `?stream=` and with `{"type": "subscribe", "stream": "user"}` messages; each
//! event sent as `{"stream": ["user"], "event": "update", "payload": "<JSON text>"}`.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::streaming::{chirp_events, chirp_kinds, with_query_token};
use crate::error::MastoResult;
use crate::request::Req;
use crate::{Caller, MastodonState};

/// Events waiting to be sent to one socket; past it, the slowest stream waits.
const QUEUE: usize = 256;

/// The largest message a client may send: its messages are small commands.
const MAX_MESSAGE: usize = 4 * 1024;

/// What the subscriptions hand the socket: a message, or the news that one of Chirp's
/// streams ended (the socket is then closed, and the client reconnects).
enum Out {
    Text(String),
    Ended,
}

/// `GET /api/v1/streaming` (a WebSocket).
pub async fn websocket(
    State(s): State<MastodonState>,
    ws: WebSocketUpgrade,
    req: Req,
) -> MastoResult<Response> {
    let offered = req
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    let authorized = with_query_token(&req, offered.as_deref());
    // Refused before the upgrade: a client sees the 401 or 403 as an HTTP answer.
    let me = s.caller(&authorized, "read:statuses").await?;
    let first = req.params.get("stream").map(str::to_owned);
    let ws = ws.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE);
    let ws = match offered {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    Ok(ws.on_upgrade(move |socket| session(s, authorized, me, socket, first)))
}

#[derive(Deserialize)]
struct Command {
    #[serde(rename = "type")]
    kind: String,
    stream: String,
}

/// One socket: its subscriptions, each a task reading Chirp's streams into the queue.
async fn session(
    s: MastodonState,
    req: Req,
    me: Caller,
    mut socket: WebSocket,
    first: Option<String>,
) {
    let (tx, mut rx) = mpsc::channel::<Out>(QUEUE);
    let mut subscribed: HashMap<String, Vec<JoinHandle<()>>> = HashMap::new();
    if let Some(stream) = first {
        subscribe(&s, &req, &me, &tx, &mut subscribed, &stream).await;
    }
    loop {
        tokio::select! {
            _ = s.closing.cancelled() => {
                let close = axum::extract::ws::CloseFrame {
                    code: 1001,
                    reason: "the server is stopping".into(),
                };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            outgoing = rx.recv() => {
                let Some(Out::Text(text)) = outgoing else {
                    // One of Chirp's streams ended (NotificationService restarted, or
                    // let a slow reader go): 1011, and the client connects again.
                    let close = axum::extract::ws::CloseFrame {
                        code: 1011,
                        reason: "a stream ended; reconnect".into(),
                    };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    break;
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break };
                let Message::Text(text) = message else { continue };
                let Ok(cmd) = serde_json::from_str::<Command>(&text) else {
                    let error = json!({"error": "Unknown message"}).to_string();
                    if socket.send(Message::Text(error.into())).await.is_err() {
                        break;
                    }
                    continue;
                };
                match cmd.kind.as_str() {
                    "subscribe" => {
                        // The token again, as for any request: one revoked since the
                        // socket opened subscribes to nothing, and the access token of
                        // the user is a fresh one (the first may have expired).
                        match s.caller(&req, "read:statuses").await {
                            Ok(now) => subscribe(&s, &req, &now, &tx, &mut subscribed, &cmd.stream).await,
                            Err(e) => {
                                let error = json!({"error": e.error, "status": e.status.as_u16()});
                                if socket.send(Message::Text(error.to_string().into())).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    "unsubscribe" => {
                        for task in subscribed.remove(&cmd.stream).unwrap_or_default() {
                            task.abort();
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    for task in subscribed.into_values().flatten() {
        task.abort();
    }
}

async fn subscribe(
    s: &MastodonState,
    req: &Req,
    me: &Caller,
    tx: &mpsc::Sender<Out>,
    subscribed: &mut HashMap<String, Vec<JoinHandle<()>>>,
    stream: &str,
) {
    let refuse =
        |error: &str, status: u16| Out::Text(json!({"error": error, "status": status}).to_string());
    if subscribed.contains_key(stream) {
        return;
    }
    let kinds = match chirp_kinds(stream, me) {
        None => {
            let _ = tx.send(refuse("Unknown stream type", 400)).await;
            return;
        }
        Some(kinds) if kinds.is_empty() => {
            let _ = tx
                .send(refuse("This action is outside the authorized scopes", 403))
                .await;
            return;
        }
        Some(kinds) => kinds,
    };
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    for kind in kinds {
        let mut events = match chirp_events(s, req, me, kind).await {
            Ok(events) => events,
            Err(e) => {
                // None of it, then: what opened already lets go of its stream.
                for task in &tasks {
                    task.abort();
                }
                let _ = tx.send(refuse(&e.error, e.status.as_u16())).await;
                return;
            }
        };
        let (tx, name) = (tx.clone(), stream.to_owned());
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(batch)) = events.next().await {
                for (event, payload) in batch {
                    let message = json!({"stream": [name], "event": event, "payload": payload});
                    if tx.send(Out::Text(message.to_string())).await.is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Out::Ended).await;
        }));
    }
    subscribed.insert(stream.to_owned(), tasks);
}
