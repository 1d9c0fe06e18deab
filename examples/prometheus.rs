//! ractor-dist's metrics in Prometheus: install an exporter as the `metrics` recorder, and
//! serve its text on `/metrics`.
//!
//! ```text
//! cargo run --example prometheus            # one node: scrapes itself once, checks, exits
//! cargo run --example prometheus -- --serve # keeps serving http://127.0.0.1:9000/metrics until Ctrl-C
//! ```
//!
//! ractor-dist records through the [`metrics`](https://docs.rs/metrics) facade; any
//! exporter works. This one uses `metrics-exporter-prometheus` without its HTTP server
//! (`default-features = false`) and answers scrapes with a few lines of tokio; with its
//! default features, `PrometheusBuilder::new().with_http_listener(addr).install()` serves
//! them itself. The metrics are listed in GUIDE.md, section 8.

use std::time::Duration;

use anyhow::{ensure, Context};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::{call_t, cast, DistActor, DistConfig, DistNode, DistRef, Kinds};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(RactorClusterMessage)]
enum CounterMsg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
}

struct Counter;

impl DistActor for Counter {
    const KIND: &'static str = "counter";
    type Msg = CounterMsg;
    type State = i64;
    type Arguments = i64;

    async fn pre_start(&self, _: DistRef<CounterMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        _: DistRef<CounterMsg>,
        msg: CounterMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CounterMsg::Add(d) => *n += d,
            CounterMsg::Get(reply) => {
                let _ = reply.send(*n);
            }
        }
        Ok(())
    }
}

/// Answers every connection with the current metrics (any path).
async fn serve(listener: TcpListener, metrics: PrometheusHandle) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request).await;
            let body = metrics.render();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
        });
    }
}

/// One scrape, as Prometheus makes it.
async fn scrape(addr: std::net::SocketAddr) -> anyhow::Result<String> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await?;
    let (_, body) = answer.split_once("\r\n\r\n").context("no HTTP body")?;
    Ok(body.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keep_serving = std::env::args().any(|a| a == "--serve");
    // Installed before the node starts, so that it records from the start.
    let metrics = PrometheusBuilder::new().install_recorder()?;
    let listener = TcpListener::bind(if keep_serving {
        "127.0.0.1:9000"
    } else {
        "127.0.0.1:0"
    })
    .await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, metrics));

    let config = DistConfig {
        seeds: vec![],
        ..DistConfig::new("metrics-example", 47_311)
    };
    let node = DistNode::start(config, Kinds::new().with(Counter)).await?;
    for i in 0..3 {
        let counter = node.spawn::<Counter>(format!("c{i}"), 0).await?;
        cast!(counter, CounterMsg::Add(i))?;
        ensure!(call_t!(counter, CounterMsg::Get, 1_000)? == i);
    }

    if keep_serving {
        println!("serving http://{addr}/metrics; Ctrl-C to stop");
        node.run_until_signal().await?;
        return Ok(());
    }
    // Gauges are published every heartbeat interval: scrape until the three are counted.
    let hosted = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("ractor_dist_hosted_actors"))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(addr).await?;
        if hosted(&text).as_deref() == Some("3") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("{text}");
    let node_label = format!("node=\"{}\"", node.name());
    for wanted in [
        "ractor_dist_hosted_actors",
        "ractor_dist_members",
        "ractor_dist_ready",
        "ractor_dist_call_seconds",
    ] {
        ensure!(
            text.lines()
                .any(|l| l.starts_with(wanted) && l.contains(&node_label)),
            "{wanted} missing from the scrape"
        );
    }
    let hosted = hosted(&text).context("no hosted_actors sample")?;
    ensure!(hosted == "3", "3 actors hosted, the scrape says {hosted}");
    node.shutdown().await?;
    println!("ok: {addr} served ractor-dist's metrics");
    Ok(())
}
