//! A webhook receiver (ACTUATORS.md 8): records every delivery with its headers, checks the
//! Standard Webhooks signature, and answers scripted statuses (then 204).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) timestamp: i64,
    pub(crate) signature_ok: bool,
    pub(crate) body: serde_json::Value,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) statuses: VecDeque<u16>,
}

#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) state: Arc<Mutex<State>>,
}

impl Receiver {
    pub(crate) async fn start(secret: &str) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let (s2, secret) = (state.clone(), secret.to_owned());
        let app = axum::Router::new().fallback(move |h: HeaderMap, b: Bytes| {
            let (s, secret) = (s2.clone(), secret.clone());
            async move {
                let get = |k: &str| {
                    h.get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let (id, ts) = (
                    get("webhook-id"),
                    get("webhook-timestamp").parse::<i64>().unwrap_or(0),
                );
                let raw = String::from_utf8_lossy(&b).into_owned();
                let expected = prescale::scaling::actuators::webhook::sign(&secret, &id, ts, &raw);
                let fresh = (chrono::Utc::now().timestamp() - ts).abs() <= 300;
                let signature_ok =
                    fresh && get("webhook-signature").split(' ').any(|s| s == expected);
                let mut st = s.lock().unwrap();
                st.deliveries.push(Delivery {
                    id,
                    timestamp: ts,
                    signature_ok,
                    body: serde_json::from_str(&raw).unwrap_or_default(),
                });
                let code = st.statuses.pop_front().unwrap_or(204);
                StatusCode::from_u16(code).unwrap().into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/scale", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().deliveries.clone()
    }
}
