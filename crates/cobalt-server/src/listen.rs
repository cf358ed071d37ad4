//! Serving connections with limits that hold whatever clients do (hyper's HTTP/1 server, as axum
//! uses it, with the settings axum's own `serve` does not expose):
//!
//! - a client has `header_timeout` to send its request line and headers; a connection that
//!   sends half a request line is closed then (slow-loris);
//! - at most `max_connections` connections are served at once, below the process's file
//!   descriptor limit, so that new connections wait in the kernel's queue rather than make
//!   `accept` fail; idle keep-alive connections count, and are closed by the header timeout;
//! - on SIGTERM (or Ctrl-C) the listener closes, requests in flight are finished, idle
//!   connections are closed, and after `shutdown_grace` whatever is left is dropped: shutdown
//!   ends in bounded time.
//!
//! A body's time is bounded by the request timeout (tower-http, in `app`), and a request
//! without a valid token is refused before its body is read (`guard`).

use crate::metrics::Metrics;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The limits of the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Longest time to receive a request's line and headers.
    pub header_timeout: Duration,
    /// Longest time shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains within the grace time.
///
/// # Errors
/// Never after the start: a failed `accept` (out of descriptors, say) is logged and retried.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        let metrics = Arc::clone(&metrics);
        metrics.open_connections.inc();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            metrics.open_connections.dec();
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("every connection closed"),
        () = tokio::time::sleep(limits.shutdown_grace) => tracing::warn!(
            grace_secs = limits.shutdown_grace.as_secs(),
            "shutdown grace elapsed: the connections left are dropped"
        ),
    }
    Ok(())
}
