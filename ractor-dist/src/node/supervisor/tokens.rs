//! Session tokens: which peer's session a frame arrived over.
//!
//! ractor_cluster hands a frame to the supervisor without saying which session it came
//! over, and a frame's `from` is only a claim. But what this node sends to a peer's
//! supervisor travels over that peer's authenticated session only (its proxy here belongs to
//! that session), and an answer to a request comes back over the session it was asked on.
//! So:
//!
//! 1. When a peer's supervisor appears (a new session), this node draws a random token,
//!    notes to whom it gave it, and sends it in a `Token` frame to that supervisor: only that
//!    peer receives it.
//! 2. The receiver cannot tell who sent a `Token` frame, so it asks the claimed sender, over
//!    the claimed sender's own session, to whom it issued that token (`Request::Confirm`).
//!    Only when the answer is "to you" does it use the token.
//! 3. Every frame and request carries the token its receiver issued; the receiver looks it
//!    up, and the core acts on the frame only if it names the token's peer as its sender
//!    (`core::admission`).
//!
//! Until a peer's token is confirmed, that peer's supervisor is not used (as while its
//! process group entry has not arrived yet). Tokens issued to a peer are replaced when its
//! session is; the previous one stays valid, so frames in flight are not refused.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorId, ActorRef};

use super::gateway::{fresh_token, Gateway, Token, NO_TOKEN};
use super::{SupervisorMsg, SupervisorState};
use crate::core::wire::{self, FrameBody, Req, Request, Response};
use crate::core::NodeName;
use crate::node::shared::Counters;

/// Tokens issued per peer and still honoured (the newest, and the one before it).
const KEPT_PER_PEER: usize = 2;

/// Confirmations in flight at most (more `Token` frames wait for a new session).
const MAX_CONFIRMING: usize = 64;

/// How long a confirmation may take.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// The tokens of one node (see the module docs).
#[derive(Default)]
pub(super) struct Tokens {
    /// Tokens issued by this node, with the peer each was issued to.
    issued: HashMap<Token, NodeName>,
    /// Per peer: the supervisor (proxy) the newest token went to, and the tokens honoured,
    /// newest first.
    by_peer: HashMap<NodeName, (ActorId, VecDeque<Token>)>,
    /// Tokens peers issued to this node and confirmed, with the supervisor they are for.
    held: HashMap<NodeName, (ActorId, Token)>,
    /// Confirmations asked and not answered yet.
    confirming: HashSet<(NodeName, Token)>,
    /// The newest token per peer to confirm once that peer's supervisor is known (it came
    /// before the process group told where the supervisor is, or its confirmation went
    /// unanswered over a session that closed).
    waiting: HashMap<NodeName, Token>,
    /// The token of the newest `Token` frame per peer.
    latest: HashMap<NodeName, Token>,
    /// Peers whose frames came with a token this node no longer honours: their newest
    /// token is sent again at the next tick.
    resend: HashSet<NodeName>,
}

impl Tokens {
    /// No tokens but `local`, the one local handles use to reach this node (`me`).
    pub(super) fn new(local: Token, me: NodeName) -> Self {
        Self {
            issued: HashMap::from([(local, me)]),
            ..Self::default()
        }
    }

    /// The peer a frame carrying `token` came from.
    pub(super) fn session_of(&self, token: Token) -> Option<&NodeName> {
        self.issued.get(&token)
    }

    /// `peer` answered whether it issued `token` to this node (`confirmed`; `None`: no
    /// answer) for its supervisor `gateway`.
    pub(super) fn handle_checked(
        &mut self,
        peer: NodeName,
        gateway: ActorId,
        token: Token,
        confirmed: Option<bool>,
    ) {
        self.confirming.remove(&(peer.clone(), token));
        match confirmed {
            Some(true) => {
                // A late confirmation of an older token does not replace the newest.
                let latest = self.latest.get(&peer);
                let newest_held = self
                    .held
                    .get(&peer)
                    .is_some_and(|(g, t)| *g == gateway && Some(t) == latest);
                if !newest_held || Some(&token) == latest {
                    self.held.insert(peer, (gateway, token));
                }
            }
            // Not answered: asked again over the peer's next supervisor.
            None => {
                self.waiting.entry(peer).or_insert(token);
            }
            Some(false) => {}
        }
    }

    /// Draws a token for `peer`, whose supervisor is `gateway`, unless that supervisor
    /// already has one. Returns the new token.
    fn issue(&mut self, peer: &NodeName, gateway: ActorId) -> Option<Token> {
        let entry = self
            .by_peer
            .entry(peer.clone())
            .or_insert_with(|| (gateway, VecDeque::new()));
        if entry.0 == gateway && !entry.1.is_empty() {
            return None;
        }
        let mut token = fresh_token();
        while self.issued.contains_key(&token) {
            token = fresh_token();
        }
        entry.0 = gateway;
        entry.1.push_front(token);
        while entry.1.len() > KEPT_PER_PEER {
            if let Some(old) = entry.1.pop_back() {
                self.issued.remove(&old);
            }
        }
        self.issued.insert(token, peer.clone());
        Some(token)
    }

    /// Forgets the tokens of peers without a session any more (a peer whose supervisor is
    /// briefly unknown, while a session is replaced, keeps its tokens).
    fn retain(&mut self, connected: &HashSet<&NodeName>) {
        let issued = &mut self.issued;
        self.by_peer.retain(|peer, (_, tokens)| {
            let keep = connected.contains(peer);
            if !keep {
                for token in tokens.iter() {
                    issued.remove(token);
                }
            }
            keep
        });
        self.held.retain(|peer, _| connected.contains(peer));
        self.waiting.retain(|peer, _| connected.contains(peer));
        self.latest.retain(|peer, _| connected.contains(peer));
        self.resend.retain(|peer| connected.contains(peer));
    }
}

impl SupervisorState {
    /// The transport's peer supervisors (`present`) of the peers with a session
    /// (`connected`): tokens go to new ones, and those whose token this node holds are
    /// returned, to send to.
    pub(super) fn gateways(
        &mut self,
        present: &HashMap<NodeName, ActorRef<SupervisorMsg>>,
        connected: &[(NodeName, String)],
    ) -> HashMap<NodeName, Gateway> {
        let names: HashSet<&NodeName> = connected.iter().map(|(n, _)| n).collect();
        self.tokens.retain(&names);
        for (peer, actor) in present {
            if let Some(token) = self.tokens.issue(peer, actor.get_id()) {
                tracing::debug!(%peer, "session token issued");
                let frame = self.frame(FrameBody::Token { token });
                let _ = actor.cast(SupervisorMsg::Frame(frame, NO_TOKEN));
            }
        }
        self.raw_gateways = present.clone();
        self.retry_tokens();
        present
            .iter()
            .filter_map(|(peer, actor)| match self.tokens.held.get(peer) {
                Some((gateway, token)) if *gateway == actor.get_id() => {
                    Some((peer.clone(), Gateway::new(actor.clone(), *token)))
                }
                _ => None,
            })
            .collect()
    }

    /// Asks again where a confirmation is due (at every session change and tick): for the
    /// tokens waiting for their issuer's supervisor, and for a held token whose issuer's
    /// supervisor changed (a session replaced by a newer one: the issuer still honours it,
    /// and a restarted issuer does not).
    pub(super) fn retry_tokens(&mut self) {
        for peer in std::mem::take(&mut self.tokens.resend) {
            let newest = self.tokens.by_peer.get(&peer).and_then(|(_, t)| t.front());
            if let (Some(token), Some(actor)) = (newest.copied(), self.raw_gateways.get(&peer)) {
                let frame = self.frame(FrameBody::Token { token });
                let _ = actor.cast(SupervisorMsg::Frame(frame, NO_TOKEN));
            }
        }
        let mut due = Vec::new();
        for (peer, actor) in &self.raw_gateways {
            if let Some(token) = self.tokens.waiting.get(peer) {
                due.push((peer.clone(), *token));
            } else if let Some((gateway, token)) = self.tokens.held.get(peer) {
                if *gateway != actor.get_id() {
                    due.push((peer.clone(), *token));
                }
            }
        }
        if due.is_empty() {
            return;
        }
        let Ok(myself) = self.shared.supervisor().cloned() else {
            return;
        };
        for (peer, token) in due {
            self.tokens.waiting.remove(&peer);
            self.confirm_token(&myself, peer, token);
        }
    }

    /// A `Token` frame from `from` (as it claims).
    pub(super) fn handle_token(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        from: NodeName,
        token: Token,
    ) {
        if self.tokens.latest.len() < MAX_CONFIRMING || self.tokens.latest.contains_key(&from) {
            self.tokens.latest.insert(from.clone(), token);
        }
        self.confirm_token(myself, from, token);
    }

    /// A frame claiming to come from `peer` carried no token this node honours: if `peer`
    /// has a session here, its newest token goes to it again (once per tick), in case it
    /// holds one this node dropped.
    pub(super) fn token_refused(&mut self, peer: &NodeName) {
        if self.raw_gateways.contains_key(peer) {
            self.tokens.resend.insert(peer.clone());
        }
    }

    /// Asks `from`, over its own session, whether it issued `token` to this node, and uses
    /// it if so.
    fn confirm_token(&mut self, myself: &ActorRef<SupervisorMsg>, from: NodeName, token: Token) {
        let Some(actor) = self.raw_gateways.get(&from).cloned() else {
            // Its supervisor is not known here yet: asked once it is.
            if self.tokens.waiting.len() < MAX_CONFIRMING {
                self.tokens.waiting.insert(from, token);
            }
            return;
        };
        let gateway = actor.get_id();
        if self.tokens.held.get(&from) == Some(&(gateway, token))
            || self.tokens.confirming.len() >= MAX_CONFIRMING
            || !self.tokens.confirming.insert((from.clone(), token))
        {
            return;
        }
        let bytes = wire::encode(&Req {
            from: self.shared.me.clone(),
            body: Request::Confirm { token },
        });
        let me = self.shared.me.clone();
        let shared = self.shared.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let answer = actor
                .call(
                    |port| SupervisorMsg::Request(bytes, NO_TOKEN, port),
                    Some(CONFIRM_TIMEOUT),
                )
                .await;
            let confirmed = match answer {
                Ok(CallResult::Success(bytes)) => {
                    let owner = match wire::decode::<Response>(&bytes, u64::MAX) {
                        Ok(Response::TokenOwner(owner)) => owner,
                        _ => None,
                    };
                    let confirmed = owner.as_ref() == Some(&me);
                    if !confirmed {
                        let n = Counters::bump(&shared.counters.frames_refused);
                        tracing::warn!(peer = %from, count = n, "refused a session token that peer did not issue to this node");
                    }
                    Some(confirmed)
                }
                // No answer (the session closed or timed out): asked again when the
                // sessions change.
                _ => None,
            };
            let _ = myself.cast(SupervisorMsg::TokenChecked {
                peer: from,
                gateway,
                token,
                confirmed,
            });
        });
    }

    /// Answers a `Request::Confirm`: to whom this node issued `token`.
    pub(super) fn token_owner(&self, token: Token) -> Response {
        Response::TokenOwner(self.tokens.session_of(token).cloned())
    }
}

#[cfg(test)]
mod tests;
