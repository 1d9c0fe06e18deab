//! A plain local ractor actor beside a distributed one, in one application: what adding
//! ractor-dist to an existing ractor app looks like.
//!
//! ```text
//! cargo run --example local_beside_distributed
//! ```
//!
//! `Logger` stays an ordinary `ractor::Actor`, spawned with `Actor::spawn` and reached
//! through its `ActorRef`; `Session` is a [`DistActor`], placed by name on the cluster and
//! reached through a `DistRef`. The call sites of both have the same shape
//! (`ractor_dist::{cast, call_t}` take either handle).
//!
//! The one change the plain actor needs: ractor_cluster turns on ractor's `cluster`
//! feature for the whole build, and then every message type must implement
//! `ractor::Message` itself. Without the derive on `LogMsg` below, the build fails with
//!
//! ```text
//! error[E0277]: the trait bound `LogMsg: Message` is not satisfied
//! help: the trait `serde_core::ser::Serialize` is not implemented for `LogMsg`
//!     = note: required for `LogMsg` to implement `BytesConvertable`
//! ```
//!
//! The serde hint is not the fix (the message would become a network message, and a reply
//! port does not serialize); `#[derive(RactorMessage)]` from ractor_cluster (a local-only
//! message, one line per message type) is.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{RactorClusterMessage, RactorMessage};
use ractor_dist::{call_t, cast, DistActor, DistConfig, DistNode, DistRef, Kinds};

/// A local-only message: never serialized, any payload type.
#[derive(RactorMessage)]
enum LogMsg {
    Line(String),
    Count(RpcReplyPort<usize>),
}

/// A plain ractor actor, as it was before ractor-dist was added.
struct Logger;

impl Actor for Logger {
    type Msg = LogMsg;
    type State = usize;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<LogMsg>, _: ()) -> Result<usize, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<LogMsg>,
        msg: LogMsg,
        lines: &mut usize,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LogMsg::Line(line) => {
                *lines += 1;
                println!("log: {line}");
            }
            LogMsg::Count(reply) => {
                let _ = reply.send(*lines);
            }
        }
        Ok(())
    }
}

/// A distributed message: sent over the network when its actor is on another node.
#[derive(RactorClusterMessage)]
enum SessionMsg {
    Event(String),
    #[rpc]
    Events(RpcReplyPort<u64>),
}

/// A per-user session, placed on the cluster by user id.
struct Session;

impl DistActor for Session {
    const KIND: &'static str = "session";
    type Msg = SessionMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: DistRef<SessionMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: DistRef<SessionMsg>,
        msg: SessionMsg,
        events: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Event(_) => *events += 1,
            SessionMsg::Events(reply) => {
                let _ = reply.send(*events);
            }
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (logger, logger_handle) = Actor::spawn(None, Logger, ()).await?;

    let config = DistConfig {
        seeds: vec![],
        ..DistConfig::new("solo", 47_130)
    };
    let node = DistNode::start(config, Kinds::new().with(Session)).await?;
    let session = node.spawn::<Session>("user-42", ()).await?;

    // The same macros for both handles.
    cast!(session, SessionMsg::Event("login".into()))?;
    cast!(logger, LogMsg::Line("user-42 logged in".into()))?;
    let events = call_t!(session, SessionMsg::Events, 1_000)?;
    let lines = call_t!(logger, LogMsg::Count, 1_000)?;
    println!("user-42 has {events} event(s); the logger wrote {lines} line(s)");
    anyhow::ensure!(events == 1 && lines == 1, "unexpected counts");

    node.shutdown().await?;
    logger.stop(None);
    tokio::time::timeout(Duration::from_secs(5), logger_handle).await??;
    Ok(())
}
