//! The connection that listens for announced changes (`cache::CHANNEL`) and tells the cache.
//! It is a connection of its own, outside the pool: `LISTEN` belongs to a session, and a pooled
//! connection would take it to whoever is handed that connection next.

use super::cache::{CHANNEL, Cache};
use super::connect::Target;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, Socket};

/// How often the listener checks that its connection still answers: a server that vanished
/// without closing the connection must not leave a daemon trusting what it kept.
const PING_EVERY: Duration = Duration::from_secs(5);
/// The longest wait between attempts to listen again.
const MOST_BACKOFF: Duration = Duration::from_secs(10);

/// Listens for as long as `cache` is in use, connecting again whenever the connection breaks.
pub(super) fn spawn(target: Target, cache: &Arc<Cache>) {
    let cache = Arc::downgrade(cache);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        while cache.strong_count() > 0 {
            let listened = match target.tls.clone() {
                None => listen(&target, tokio_postgres::NoTls, &cache).await,
                Some(tls) => listen(&target, tls, &cache).await,
            };
            if let Some(cache) = cache.upgrade() {
                cache.deaf();
            }
            match listened {
                Ok(()) => backoff = Duration::from_millis(250),
                Err(error) => {
                    tracing::debug!(%error, "store: not listening for changes; settings and clients are read from the database");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MOST_BACKOFF);
        }
    });
}

/// One connection's life: `Ok` once it listened and then broke, `Err` if it never listened.
async fn listen<T>(target: &Target, tls: T, cache: &Weak<Cache>) -> Result<(), String>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut connection) = target.pg.connect(tls).await.map_err(|e| e.to_string())?;
    let announced = cache.clone();
    let mut driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(_)) => match announced.upgrade() {
                    Some(cache) => cache.forget(),
                    None => return,
                },
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let listening = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| e.to_string())?;
        match cache.upgrade() {
            Some(cache) => cache.listening(),
            None => return Ok(()),
        }
        loop {
            tokio::time::sleep(PING_EVERY).await;
            let ping = tokio::time::timeout(PING_EVERY, client.simple_query("")).await;
            if !matches!(ping, Ok(Ok(_))) || cache.strong_count() == 0 {
                return Ok(());
            }
        }
    };
    let outcome = tokio::select! {
        listened = listening => listened,
        _ = &mut driver => Ok(()),
    };
    driver.abort();
    outcome
}
