//! Waiting for the signals that ask a process to stop (SIGTERM, Ctrl-C), for
//! [`crate::DistNode::run_until_signal`] and the console node.

/// Waits until the process receives SIGTERM or SIGINT (Ctrl-C) and returns its name. When
/// SIGTERM cannot be listened for (not on unix, or the handler cannot be installed), waits
/// for Ctrl-C alone; when no handler can be installed at all, logs it and never returns
/// (the signals then keep their default effect).
pub(crate) async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = ctrl_c() => "SIGINT",
            };
        }
    }
    ctrl_c().await
}

/// Waits for Ctrl-C; never returns if its handler cannot be installed.
async fn ctrl_c() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "SIGINT",
        Err(error) => {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending().await
        }
    }
}
