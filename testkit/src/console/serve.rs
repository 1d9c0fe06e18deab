//! The console node's sockets besides stdin: the console protocol over TCP (`--console`),
//! HTTP probes (`--health`), and the client that attaches to a console (`--attach`).

use std::net::SocketAddr;
use std::time::Duration;

use ractor_dist::DistNode;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{answer, Failure, Stop};

/// How long a probe may take to send its request line.
const PROBE_READ: Duration = Duration::from_secs(2);

/// Listens on `addr` and serves the console protocol to every connection: a greeting
/// `ready <node>`, then one reply per line. `quit` and `leave` answer, then ask the node
/// to stop through `stop`.
///
/// # Errors
///
/// When `addr` cannot be bound.
pub(super) async fn console(
    addr: SocketAddr,
    node: DistNode,
    stop: mpsc::Sender<Stop>,
) -> Result<(), Failure> {
    let listener = TcpListener::bind(addr).await?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(session(stream, node.clone(), stop.clone()));
        }
    });
    Ok(())
}

/// One console connection, until it closes or stops the node.
async fn session(stream: TcpStream, node: DistNode, stop: mpsc::Sender<Stop>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    if write
        .write_all(format!("ready {}\n", node.name()).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let (reply, then) = answer(&node, line.trim()).await;
        if let Some(reply) = reply {
            if write
                .write_all(format!("{reply}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
        if let Some(then) = then {
            let _ = stop.send(then).await;
            return;
        }
    }
}

/// Listens on `addr` and answers HTTP probes: `GET /ready` with 200 while the node is
/// ready ([`DistNode::is_ready`]) and 503 otherwise, `GET /live` with 200, anything else
/// with 404. One request per connection.
///
/// # Errors
///
/// When `addr` cannot be bound.
pub(super) async fn health(addr: SocketAddr, node: DistNode) -> Result<(), Failure> {
    let listener = TcpListener::bind(addr).await?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let node = node.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(PROBE_READ, probe(stream, &node)).await;
            });
        }
    });
    Ok(())
}

/// Answers one probe.
async fn probe(mut stream: TcpStream, node: &DistNode) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    let mut len = 0;
    // The request line is enough; the rest of the request is not read.
    while len < buf.len() && !buf[..len].contains(&b'\n') {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let request = String::from_utf8_lossy(&buf[..len]);
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/ready" if node.is_ready() => ("200 OK", "ready"),
        "/ready" => ("503 Service Unavailable", "not ready"),
        "/live" => ("200 OK", "live"),
        _ => ("404 Not Found", "try /ready or /live"),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// `--attach ADDR`: copies stdin's lines to the console at `addr` and its lines to
/// stdout, until the console closes the connection (after stdin closed, once every
/// command was answered).
///
/// # Errors
///
/// When the console cannot be reached or the connection fails.
pub(super) async fn attach(addr: SocketAddr) -> Result<(), Failure> {
    let stream = TcpStream::connect(addr).await?;
    let (mut read, mut write) = stream.into_split();
    let to_node = async move {
        let mut stdin = tokio::io::stdin();
        let copied = tokio::io::copy(&mut stdin, &mut write).await;
        let _ = write.shutdown().await;
        copied
    };
    let from_node = async move {
        let mut stdout = tokio::io::stdout();
        let copied = tokio::io::copy(&mut read, &mut stdout).await;
        let _ = stdout.flush().await;
        copied
    };
    tokio::pin!(to_node, from_node);
    tokio::select! {
        copied = &mut from_node => {
            copied?;
            return Ok(());
        }
        copied = &mut to_node => copied?,
    };
    // stdin closed: the console answers what it got, then closes.
    from_node.await?;
    Ok(())
}
