//! Session tokens: which peer's session a frame arrived over.
//!
//! ractor_cluster hands a frame to the supervisor without saying which session it came
//! over, and a frame's `from` is only a claim. But what a node sends to a peer's supervisor
//! (its *gateway*) travels over that peer's authenticated session only (its proxy belongs to
//! that session), and an answer to a request comes back over the session it was asked on.
//! So:
//!
//! 1. When a peer's gateway appears (a new session), this node draws a random token, notes
//!    to whom it gave it, and hands it out in a `Token` frame to that gateway: only that peer
//!    receives it ([`TokenCommand::HandOut`]).
//! 2. The receiver cannot tell who sent a `Token` frame, so it asks the claimed sender, over
//!    the claimed sender's own gateway, to whom it issued that token
//!    ([`TokenCommand::Confirm`]). Only when the answer is "to you" does it use the token.
//! 3. Every frame and request carries the token its receiver issued; the receiver looks it
//!    up ([`Tokens::session_of`]), and acts on the frame only if it names the token's peer as
//!    its sender ([`crate::core::admission`]).
//!
//! Until a peer's token is confirmed, that peer's gateway is not *usable* (nothing but token
//! handouts and confirmations go to it), and a hello from that peer waits
//! ([`Tokens::handle_hello`]) until it is. Tokens issued to a peer are replaced when its
//! gateway is; the previous one stays valid ([`KEPT_PER_PEER`]), so frames in flight are not
//! refused.
//!
//! [`Tokens`] is the whole protocol, sans-IO: generic over the gateway's identity `G` (the
//! node uses the proxy's actor id, tests use numbers), randomness drawn through a closure the
//! caller passes, no clock (the confirmation timeout is [`Timing::CONFIRM_MS`], applied by
//! whoever carries out a [`TokenCommand::Confirm`]). Inputs are `handle_*` calls, outputs are
//! [`TokenCommand`]s drained with [`Tokens::poll_command`] and the [`SessionPlan`] that
//! [`Tokens::handle_sessions`] returns.
//!
//! [`Timing::CONFIRM_MS`]: crate::core::Timing::CONFIRM_MS

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::identity::{Incarnation, NodeName};
use super::membership::Hello;

/// A session token: a random number a node issues to one peer over that peer's session.
/// Frames and requests carrying it came from that peer.
pub type Token = u128;

/// No token: only a token's own handout and its confirmation are sent without one.
pub const NO_TOKEN: Token = 0;

/// Tokens issued per peer and still honoured (the newest, and the one before it).
pub const KEPT_PER_PEER: usize = 2;

/// Confirmations in flight at most (more `Token` frames wait for a new session); also the
/// most peers whose tokens wait for their gateway, and whose newest handout is tracked.
pub const MAX_CONFIRMING: usize = 64;

/// The token in a message's metadata ([`NO_TOKEN`] when there is none or it is malformed).
pub fn from_metadata(metadata: Option<&[u8]>) -> Token {
    metadata
        .and_then(|m| <[u8; 16]>::try_from(m).ok())
        .map_or(NO_TOKEN, Token::from_be_bytes)
}

/// `token` as message metadata (read back by [`from_metadata`]).
pub fn to_metadata(token: Token) -> Vec<u8> {
    token.to_be_bytes().to_vec()
}

/// What [`Tokens`] asks its executor to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCommand<G> {
    /// Send a `Token` frame carrying `token` (and no token of its own) to `to`'s gateway.
    HandOut {
        /// The peer.
        to: NodeName,
        /// The token issued to it.
        token: Token,
    },
    /// Ask `peer`, over its gateway `gateway` and within [`Timing::CONFIRM_MS`], to whom it
    /// issued `token` (`Request::Confirm`, sent without a token), then report the answer to
    /// [`Tokens::handle_answer`] with the same three values.
    ///
    /// [`Timing::CONFIRM_MS`]: crate::core::Timing::CONFIRM_MS
    Confirm {
        /// The peer that claims to have issued `token`.
        peer: NodeName,
        /// Its gateway the question goes to.
        gateway: G,
        /// The token.
        token: Token,
    },
}

/// The answer to a [`TokenCommand::Confirm`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The issuer named the peer it issued the token to (`None`: no such token, or an
    /// answer that was not a token owner).
    Owner(Option<NodeName>),
    /// No answer: the session closed or the confirmation timed out.
    Lost,
}

/// What an [`Answer`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// The token was issued to this node: the peer's gateway may have become usable
    /// (reconcile the sessions, [`Tokens::handle_sessions`]).
    Confirmed,
    /// The claimed issuer did not issue the token to this node: count and log it; nothing
    /// changed.
    Refused,
    /// No answer: asked again over the peer's next gateway.
    Lost,
}

/// A hello this node cannot answer yet: its sender's gateway is not usable.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingHello {
    /// The sender (as admitted for its session).
    pub from: NodeName,
    /// The sender's incarnation, from the frame.
    pub incarnation: Incarnation,
    /// The hello.
    pub hello: Hello,
    /// The sender asked for a hello back.
    pub reply: bool,
}

/// What a session change decided (see [`Tokens::handle_sessions`]); token handouts and
/// confirmations are queued as commands beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionPlan<G> {
    /// The gateways frames may go to, with the token each carries: those of the peers
    /// whose token this node holds for that very gateway.
    pub usable: BTreeMap<NodeName, (G, Token)>,
    /// Peers whose usable gateway is new (none before, or another one).
    pub fresh: Vec<NodeName>,
    /// Hellos that waited for their sender's gateway and can be answered now, to hand to
    /// the membership after the session change.
    pub hellos: Vec<PendingHello>,
}

/// The session tokens of one node (see the module docs).
#[derive(Clone, Debug)]
pub struct Tokens<G> {
    /// This node.
    me: NodeName,
    /// Tokens issued by this node, with the peer each was issued to.
    issued: BTreeMap<Token, NodeName>,
    /// Per peer: the gateway the newest token went to, and the tokens honoured, newest
    /// first.
    by_peer: BTreeMap<NodeName, (G, VecDeque<Token>)>,
    /// Tokens peers issued to this node and confirmed, with the gateway they are for.
    held: BTreeMap<NodeName, (G, Token)>,
    /// Confirmations asked and not answered yet.
    confirming: BTreeSet<(NodeName, Token)>,
    /// The newest token per peer to confirm once that peer's gateway is known (it came
    /// before the transport told where the gateway is, or its confirmation went unanswered
    /// over a session that closed).
    waiting: BTreeMap<NodeName, Token>,
    /// The token of the newest `Token` frame per peer.
    latest: BTreeMap<NodeName, Token>,
    /// Peers whose frames came with a token this node no longer honours: their newest
    /// token is handed out again at the next tick.
    resend: BTreeSet<NodeName>,
    /// Every peer gateway the transport reports, token or not.
    gateways: BTreeMap<NodeName, G>,
    /// The usable gateways as of the last session change (less peers disconnected since).
    usable: BTreeMap<NodeName, (G, Token)>,
    /// Hellos waiting for their sender's gateway to become usable, newest per peer.
    hellos: BTreeMap<NodeName, PendingHello>,
    /// Commands not drained yet.
    commands: VecDeque<TokenCommand<G>>,
}

impl<G: Copy + Ord> Tokens<G> {
    /// Records the sizes of its per-peer tables (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("tokens.issued", self.issued.len());
        f.add(
            "tokens.peers",
            self.by_peer.len() + self.held.len() + self.gateways.len() + self.usable.len(),
        );
        f.add(
            "tokens.pending",
            self.confirming.len()
                + self.waiting.len()
                + self.latest.len()
                + self.resend.len()
                + self.hellos.len(),
        );
    }

    /// No tokens but `local`, the one local handles use to reach this node (`me`).
    pub fn new(local: Token, me: NodeName) -> Self {
        Self {
            issued: BTreeMap::from([(local, me.clone())]),
            me,
            by_peer: BTreeMap::new(),
            held: BTreeMap::new(),
            confirming: BTreeSet::new(),
            waiting: BTreeMap::new(),
            latest: BTreeMap::new(),
            resend: BTreeSet::new(),
            gateways: BTreeMap::new(),
            usable: BTreeMap::new(),
            hellos: BTreeMap::new(),
            commands: VecDeque::new(),
        }
    }

    /// The peer a frame carrying `token` came from (`None`: a token this node does not
    /// honour). Also the answer to a peer's `Request::Confirm`.
    pub fn session_of(&self, token: Token) -> Option<&NodeName> {
        self.issued.get(&token)
    }

    /// The tokens honoured for `peer`, newest first.
    pub fn issued_to(&self, peer: &NodeName) -> impl Iterator<Item = Token> + '_ {
        self.by_peer
            .get(peer)
            .into_iter()
            .flat_map(|(_, t)| t.iter().copied())
    }

    /// The token `peer` issued to this node and confirmed, with the gateway it is for.
    pub fn held(&self, peer: &NodeName) -> Option<(G, Token)> {
        self.held.get(peer).copied()
    }

    /// Whether frames may go to `peer` (its gateway was usable at the last session change
    /// and it has not been disconnected since).
    pub fn is_usable(&self, peer: &NodeName) -> bool {
        self.usable.contains_key(peer)
    }

    /// The next command to carry out.
    pub fn poll_command(&mut self) -> Option<TokenCommand<G>> {
        self.commands.pop_front()
    }

    /// The transport's sessions changed: `present` holds the gateway of each peer it
    /// reports one for, `connected` the peers with a session. Forgets the peers without a
    /// session (a peer whose gateway is briefly unknown, while a session is replaced, keeps
    /// its tokens), issues a token to every new gateway (`draw` gives random tokens; one
    /// already issued or [`NO_TOKEN`] is drawn again), asks the confirmations due
    /// ([`Tokens::handle_tick`]), and returns which gateways are usable now.
    pub fn handle_sessions(
        &mut self,
        present: &BTreeMap<NodeName, G>,
        connected: &BTreeSet<NodeName>,
        draw: &mut impl FnMut() -> Token,
    ) -> SessionPlan<G> {
        self.retain(connected);
        for (peer, gateway) in present {
            if let Some(token) = self.issue(peer, *gateway, draw) {
                self.commands.push_back(TokenCommand::HandOut {
                    to: peer.clone(),
                    token,
                });
            }
        }
        self.gateways = present.clone();
        self.handle_tick();
        let usable: BTreeMap<NodeName, (G, Token)> = present
            .iter()
            .filter_map(|(peer, gateway)| match self.held.get(peer) {
                Some(&(g, token)) if g == *gateway => Some((peer.clone(), (g, token))),
                _ => None,
            })
            .collect();
        let fresh = usable
            .iter()
            .filter(|(peer, (g, _))| self.usable.get(*peer).is_none_or(|(old, _)| old != g))
            .map(|(peer, _)| peer.clone())
            .collect();
        self.usable = usable.clone();
        self.hellos.retain(|peer, _| connected.contains(peer));
        let ready: Vec<NodeName> = self
            .hellos
            .keys()
            .filter(|peer| self.usable.contains_key(*peer))
            .cloned()
            .collect();
        let hellos = ready
            .iter()
            .filter_map(|peer| self.hellos.remove(peer))
            .collect();
        SessionPlan {
            usable,
            fresh,
            hellos,
        }
    }

    /// `peer` was disconnected by this node: its gateway is not usable until the next
    /// session change says it is (then it counts as fresh).
    pub fn handle_disconnected(&mut self, peer: &NodeName) {
        self.usable.remove(peer);
    }

    /// Asks again where a confirmation is due (at every session change and tick): hands
    /// out again the newest token of the peers whose frames were refused, asks about the
    /// tokens waiting for their issuer's gateway, and about a held token whose issuer's
    /// gateway changed (a session replaced by a newer one: the issuer still honours it, and
    /// a restarted issuer does not).
    pub fn handle_tick(&mut self) {
        for peer in std::mem::take(&mut self.resend) {
            let newest = self.by_peer.get(&peer).and_then(|(_, t)| t.front());
            if let (Some(&token), true) = (newest, self.gateways.contains_key(&peer)) {
                self.commands
                    .push_back(TokenCommand::HandOut { to: peer, token });
            }
        }
        let mut due = Vec::new();
        for (peer, gateway) in &self.gateways {
            if let Some(&token) = self.waiting.get(peer) {
                due.push((peer.clone(), token));
            } else if let Some(&(held, token)) = self.held.get(peer) {
                if held != *gateway {
                    due.push((peer.clone(), token));
                }
            }
        }
        for (peer, token) in due {
            self.waiting.remove(&peer);
            self.confirm(peer, token);
        }
    }

    /// A `Token` frame from `from` (as it claims): asks `from` to confirm it.
    pub fn handle_token(&mut self, from: NodeName, token: Token) {
        if self.latest.len() < MAX_CONFIRMING || self.latest.contains_key(&from) {
            self.latest.insert(from.clone(), token);
        }
        self.confirm(from, token);
    }

    /// The answer of `peer`'s `gateway` to [`TokenCommand::Confirm`] about `token`.
    pub fn handle_answer(
        &mut self,
        peer: NodeName,
        gateway: G,
        token: Token,
        answer: Answer,
    ) -> Checked {
        self.confirming.remove(&(peer.clone(), token));
        match answer {
            Answer::Owner(Some(owner)) if owner == self.me => {
                // A late confirmation of an older token does not replace the newest.
                let latest = self.latest.get(&peer);
                let newest_held = self
                    .held
                    .get(&peer)
                    .is_some_and(|(g, t)| *g == gateway && Some(t) == latest);
                if !newest_held || Some(&token) == latest {
                    self.held.insert(peer, (gateway, token));
                }
                Checked::Confirmed
            }
            Answer::Owner(_) => Checked::Refused,
            Answer::Lost => {
                self.waiting.entry(peer).or_insert(token);
                Checked::Lost
            }
        }
    }

    /// A frame claiming to come from `peer` carried no token this node honours: if `peer`
    /// has a gateway, its newest token goes to it again (at the next tick, once per tick),
    /// in case it holds one this node dropped.
    pub fn handle_refused(&mut self, peer: &NodeName) {
        if self.gateways.contains_key(peer) {
            self.resend.insert(peer.clone());
        }
    }

    /// A hello from its sender: given back if it can be answered now (the sender's gateway
    /// is usable); otherwise it waits for a session change that makes it usable (the newest
    /// per peer), and is dropped if the sender's session closes first.
    pub fn handle_hello(&mut self, hello: PendingHello) -> Option<PendingHello> {
        if self.usable.contains_key(&hello.from) {
            return Some(hello);
        }
        self.hellos.insert(hello.from.clone(), hello);
        None
    }

    /// Asks `from`, over its own gateway, whether it issued `token` to this node: unless
    /// its gateway is not known yet (then it waits for it), the token is already held for
    /// that gateway, too many confirmations are in flight, or the same one is.
    fn confirm(&mut self, from: NodeName, token: Token) {
        let Some(&gateway) = self.gateways.get(&from) else {
            if self.waiting.len() < MAX_CONFIRMING {
                self.waiting.insert(from, token);
            }
            return;
        };
        if self.held.get(&from) == Some(&(gateway, token))
            || self.confirming.len() >= MAX_CONFIRMING
            || !self.confirming.insert((from.clone(), token))
        {
            return;
        }
        self.commands.push_back(TokenCommand::Confirm {
            peer: from,
            gateway,
            token,
        });
    }

    /// Draws a token for `peer`, whose gateway is `gateway`, unless that gateway already
    /// has one. Returns the new token.
    fn issue(
        &mut self,
        peer: &NodeName,
        gateway: G,
        draw: &mut impl FnMut() -> Token,
    ) -> Option<Token> {
        let entry = self
            .by_peer
            .entry(peer.clone())
            .or_insert_with(|| (gateway, VecDeque::new()));
        if entry.0 == gateway && !entry.1.is_empty() {
            return None;
        }
        let mut token = draw();
        while token == NO_TOKEN || self.issued.contains_key(&token) {
            token = draw();
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

    /// Forgets the tokens of peers without a session any more.
    fn retain(&mut self, connected: &BTreeSet<NodeName>) {
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

#[cfg(test)]
mod tests;
