//! An interactive ractor-dist node hosting a `Counter` kind.
//!
//! ```text
//! cargo run --example node -- --name a --port 7101 --seed 127.0.0.1:7102 --cookie secret
//! ```
//!
//! It prints `ready <node-name>` once it listens, then answers each command read from stdin
//! with one line starting with `ok` or `error` (see `support/console.rs` for the protocol):
//! `spawn <name> [start]`, `add <name> <n>`, `get <name>`, `where <name>`, `stop <name>`,
//! `members`, `local`, `status`, `quit`.

#[path = "support/console.rs"]
#[allow(dead_code)]
mod console;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,ractor_dist=info".into()),
        )
        .init();
    let args = console::parse_args(std::env::args().skip(1))?;
    console::run(args).await?;
    // A read of stdin may still be pending in tokio's blocking pool (after SIGTERM, say);
    // it would keep the runtime from shutting down, so leave right away.
    std::process::exit(0)
}
