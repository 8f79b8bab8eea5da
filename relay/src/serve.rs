//! The accept loop: HTTP/1.1 with upgrades, one task per connection, and a
//! bound on how long a connection may take to say what it wants.
//!
//! `axum::serve` has no header-read or idle timeout, so a client that opens
//! a TCP connection and sends nothing, or dribbles a request's headers one
//! byte at a time, holds a socket and a task forever. Here hyper's
//! `header_read_timeout` closes a connection that has not sent a whole
//! request head within `RELAY_HTTP_TIMEOUT_SECS`: the first request, and
//! every later one on a kept-alive connection (so idle connections close
//! too). It stops applying once a request is read; an upgraded websocket
//! has its own hello timeout and pings.
//!
//! Each request carries `ConnectInfo<SocketAddr>` (the peer), as
//! `into_make_service_with_connect_info` would give it.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

/// Serves `router` on `listener` until `stop` is cancelled, then lets
/// requests in flight finish (connections close once idle) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    http_timeout: Duration,
    stop: CancellationToken,
) {
    let conns = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Frames are batched and flushed by the writer; Nagle would only hold
        // the last one back for the client's delayed ACK (about 40 ms).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move { Ok::<_, Infallible>(router.call(req).await.unwrap_or_else(|e| match e {})) }
        });
        let stop = stop.clone();
        conns.spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(http_timeout)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    conns.close();
    conns.wait().await;
}
