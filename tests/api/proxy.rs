//! A TCP proxy the tests control, put between the service and something it depends on.
//! - In front of the database: `cut` is a database that went away (open connections dropped,
//!   new ones closed at once); `restore` brings it back.
//! - In front of the PSP: `hold` accepts a connection and keeps it open without forwarding a
//!   byte (the request never reaches the PSP); `until_answered` waits for the PSP's answer to
//!   have gone back to the service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinSet;

#[derive(Default)]
struct Shared {
    up: AtomicBool,
    hold: AtomicBool,
    held: AtomicUsize,
    answered: AtomicUsize,
    changed: Notify,
}

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    links: Arc<Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared::default());
        shared.up.store(true, Ordering::SeqCst);
        let links: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let (sh, links2) = (shared.clone(), links.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !sh.up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (upstream, sh) = (upstream.clone(), sh.clone());
                links2.lock().await.spawn(async move {
                    if sh.hold.load(Ordering::SeqCst) {
                        return hold(client, &sh).await;
                    }
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        forward(client, server, &sh).await;
                    }
                });
            }
        });
        Proxy {
            port,
            shared,
            links,
            accept,
        }
    }

    /// The upstream is gone: open connections are dropped, new ones closed at once.
    pub async fn cut(&self) {
        self.shared.up.store(false, Ordering::SeqCst);
        // Aborting a link drops both of its sockets: the peer sees the connection go.
        self.links.lock().await.shutdown().await;
    }

    pub fn restore(&self) {
        self.shared.up.store(true, Ordering::SeqCst);
    }

    /// New connections are accepted and kept open, and nothing they send is forwarded.
    pub fn hold(&self) {
        self.shared.hold.store(true, Ordering::SeqCst);
    }

    /// Waits until a held connection has sent its first bytes (a request is on its way).
    pub async fn until_held(&self) {
        self.until(|s| s.held.load(Ordering::SeqCst) > 0, "a held request")
            .await;
    }

    /// Waits until upstream has started to answer on `n` connections.
    pub async fn until_answered(&self, n: usize) {
        self.until(|s| s.answered.load(Ordering::SeqCst) >= n, "an answer")
            .await;
    }

    async fn until(&self, done: impl Fn(&Shared) -> bool, what: &str) {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                if done(&self.shared) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("the proxy saw {what} within 30 s"));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn hold(mut client: TcpStream, sh: &Shared) {
    let mut first = [0u8; 1];
    if matches!(client.peek(&mut first).await, Ok(n) if n > 0) {
        sh.held.fetch_add(1, Ordering::SeqCst);
        sh.changed.notify_waiters();
    }
    // Keep the connection open, unanswered, until the client goes away.
    let mut sink = [0u8; 4096];
    while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
}

async fn forward(client: TcpStream, server: TcpStream, sh: &Shared) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut counted = false;
        while let Ok(n) = sr.read(&mut buf).await {
            if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            if !counted {
                counted = true;
                sh.answered.fetch_add(1, Ordering::SeqCst);
                sh.changed.notify_waiters();
            }
        }
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}
