//! A tiny authoritative DNS server on 127.0.0.1 for discovery tests: A, AAAA and SRV
//! records that the test changes while nodes resolve them. UDP only, one question per
//! query, TTL 0; anything else is answered "not implemented". Dropping the server stops it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// One record of a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A service: priority, weight, port and target host.
    Srv {
        /// Lower is preferred.
        priority: u16,
        /// Higher is preferred among equal priorities.
        weight: u16,
        /// The port.
        port: u16,
        /// The target host name.
        target: String,
    },
}

impl Record {
    fn qtype(&self) -> u16 {
        match self {
            Record::A(_) => 1,
            Record::Aaaa(_) => 28,
            Record::Srv { .. } => 33,
        }
    }
}

type Zone = BTreeMap<String, Vec<Record>>;

/// The server (see the module docs).
pub struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    queries: Arc<Mutex<u64>>,
    task: JoinHandle<()>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsServer {
    /// Starts a server on a free UDP port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound.
    pub async fn start() -> std::io::Result<DnsServer> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let zone: Arc<Mutex<Zone>> = Arc::default();
        let queries: Arc<Mutex<u64>> = Arc::default();
        let (z, q) = (zone.clone(), queries.clone());
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                *q.lock().unwrap() += 1;
                let reply = {
                    let zone = z.lock().unwrap();
                    answer(&buf[..n], &zone)
                };
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Ok(DnsServer {
            addr,
            zone,
            queries,
            task,
        })
    }

    /// Where it listens (`--nameserver`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces every record of `name`.
    pub fn set(&self, name: &str, records: Vec<Record>) {
        self.zone.lock().unwrap().insert(key(name), records);
    }

    /// Queries answered so far.
    pub fn queries(&self) -> u64 {
        *self.queries.lock().unwrap()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the name at `at` (no compression in questions); returns it and the offset after.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(at)? as usize;
        at += 1;
        if len == 0 {
            return Some((labels.join("."), at));
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(msg.get(at..at + len)?).to_string());
        at += len;
    }
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// The response to one query, or `None` for garbage.
fn answer(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let id = &query[0..2];
    let flags = u16::from_be_bytes([query[2], query[3]]);
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    let (name, after) = read_name(query, 12)?;
    let question = query.get(12..after + 4)?;
    let qtype = u16::from_be_bytes([query[after], query[after + 1]]);
    let opcode = (flags >> 11) & 0xf;
    let records = zone.get(&key(&name));
    let (rcode, answers): (u16, Vec<&Record>) = if qdcount != 1 || opcode != 0 {
        (4, Vec::new()) // not implemented
    } else {
        match records {
            None => (3, Vec::new()), // no such name
            Some(rs) => (0, rs.iter().filter(|r| r.qtype() == qtype).collect()),
        }
    };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(id);
    // QR, the opcode, AA, RD as asked, RA, rcode.
    let reply_flags = 0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | 0x0080 | rcode;
    out.extend_from_slice(&reply_flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for record in answers {
        out.extend_from_slice(&[0xc0, 12]); // the question's name
        out.extend_from_slice(&record.qtype().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&0u32.to_be_bytes()); // TTL 0: ask again every time
        let mut data = Vec::new();
        match record {
            Record::A(ip) => data.extend_from_slice(&ip.octets()),
            Record::Aaaa(ip) => data.extend_from_slice(&ip.octets()),
            Record::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                data.extend_from_slice(&priority.to_be_bytes());
                data.extend_from_slice(&weight.to_be_bytes());
                data.extend_from_slice(&port.to_be_bytes());
                write_name(&mut data, target);
            }
        }
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}
