//! How `trellis env wait` and `trellis app wait` follow one object: subscribe to
//! `/api/v1/stream` (filtered to it), read its state once subscribed, then judge each state the
//! stream carries, so nothing polls. A stream that breaks is reopened (and the state read again,
//! as changes may have been missed, as on a `resync` event); an object that does not exist yet is
//! looked for each second until it does; a server whose stream cannot be opened is polled each
//! second instead.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use tokio::time::{Instant, sleep, timeout_at};

use super::client::{Client, HttpError, is_not_found};

/// What a stream event says about the object followed.
pub enum Seen<T> {
    Changed(T),
    Deleted,
}

const RETRY: Duration = Duration::from_secs(1);

/// Follow until `judge` returns an exit code (`Some`), or `deadline` (`None`). `fetch` reads the
/// state (`None`: it does not exist); `from_event` picks the object's state out of an event
/// (name, data); `judge` sees each state (`None`: absent).
pub async fn follow<T>(
    c: &Client,
    query: &[(&str, &str)],
    deadline: Instant,
    mut fetch: impl AsyncFnMut() -> Result<Option<T>>,
    mut from_event: impl FnMut(&str, &str) -> Option<Seen<T>>,
    mut judge: impl FnMut(Option<&T>) -> Option<ExitCode>,
) -> Result<Option<ExitCode>> {
    let mut polling = false;
    loop {
        if Instant::now() >= deadline {
            return Ok(None);
        }
        if polling {
            if let Some(code) = judge(fetch().await?.as_ref()) {
                return Ok(Some(code));
            }
            pause(deadline).await;
            continue;
        }
        let opened = match timeout_at(deadline, c.stream(query, "following changes")).await {
            Ok(o) => o,
            Err(_) => return Ok(None),
        };
        match opened {
            Ok(mut events) => {
                // Subscribed: the state read now misses no later change.
                if let Some(code) = judge(fetch().await?.as_ref()) {
                    return Ok(Some(code));
                }
                loop {
                    let next = match timeout_at(deadline, events.next()).await {
                        Ok(n) => n,
                        Err(_) => return Ok(None),
                    };
                    let (name, data) = match next {
                        Ok(Some(ev)) => ev,
                        // Closed or broken: open it again.
                        Ok(None) | Err(_) => break,
                    };
                    let verdict = if name == "resync" {
                        judge(fetch().await?.as_ref())
                    } else {
                        match from_event(&name, &data) {
                            Some(Seen::Changed(t)) => judge(Some(&t)),
                            Some(Seen::Deleted) => judge(None),
                            None => None,
                        }
                    };
                    if let Some(code) = verdict {
                        return Ok(Some(code));
                    }
                }
                pause(deadline).await;
            }
            // The stream refuses to follow what does not exist (yet).
            Err(e) if is_not_found(&e) => {
                if let Some(code) = judge(fetch().await?.as_ref()) {
                    return Ok(Some(code));
                }
                pause(deadline).await;
            }
            Err(e) if e.downcast_ref::<HttpError>().is_some() => return Err(e),
            // No stream from this server (or a proxy in the way): poll.
            Err(_) => polling = true,
        }
    }
}

async fn pause(deadline: Instant) {
    let wake = (Instant::now() + RETRY).min(deadline);
    sleep(wake.saturating_duration_since(Instant::now())).await;
}
