//! The answers of the `cluster.local` zone, computed from the service table
//! for each question (Kubernetes' DNS specification, as CoreDNS's
//! `kubernetes` plugin serves it):
//!
//! - `<svc>.<ns>.svc.cluster.local`: A → the ClusterIP; headless → the ready
//!   endpoints; ExternalName → a CNAME;
//! - `<host>.<svc>.<ns>.svc.cluster.local`: A → the endpoint whose hostname
//!   (StatefulSet pods: `web-0`) or dashed address (`10-42-0-5`) is `<host>`;
//! - `_<port>._<proto>.<svc>.<ns>.svc.cluster.local` and `<svc>...` SRV → named ports;
//! - `<a-b-c-d>.<ns>.pod.cluster.local`: A → a.b.c.d;
//! - PTR of a ClusterIP → its Service's name.
//!
//! An unknown name in the zone is NXDOMAIN, a known name without records of
//! the asked type is NOERROR with no answer (so resolvers asking A and AAAA
//! do not give up on the name); other zones are REFUSED: there is no
//! upstream to forward to (an upstream setting could change that later).

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, CNAME, NS, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::agent::proxy::model::{Addressing, ServiceInfo};
use crate::agent::proxy::ServiceTable;

pub const ZONE: &str = "cluster.local";
/// Seconds answers may be cached (CoreDNS's default for the zone).
pub const TTL: u32 = 5;

/// What to send back for one question.
#[derive(Debug, Default)]
pub struct Answer {
    pub code: ResponseCode,
    /// We are the authority (the name is in `cluster.local`).
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The zone's SOA goes in the authority section (negative answers).
    pub soa: Option<Record>,
}

impl Answer {
    fn refused() -> Answer {
        Answer { code: ResponseCode::Refused, ..Answer::default() }
    }

    /// NXDOMAIN or an empty NOERROR, with the SOA for negative caching.
    fn negative(code: ResponseCode) -> Answer {
        Answer { code, authoritative: true, soa: Some(soa()), ..Answer::default() }
    }

    fn records(answers: Vec<Record>, additionals: Vec<Record>) -> Answer {
        if answers.is_empty() {
            return Answer::negative(ResponseCode::NoError);
        }
        Answer { code: ResponseCode::NoError, authoritative: true, answers, additionals, soa: None }
    }
}

fn zone() -> Name {
    Name::from_ascii("cluster.local.").unwrap_or_default()
}

fn soa() -> Record {
    let name = |s: &str| Name::from_ascii(s).unwrap_or_default();
    Record::from_rdata(zone(), TTL, RData::SOA(SOA::new(name("ns.dns.cluster.local."), name("hostmaster.cluster.local."), 1, 7200, 1800, 86400, TTL)))
}

/// `labels` joined under the zone, as a fully qualified name.
fn fqdn(labels: &[&str]) -> Name {
    Name::from_ascii(format!("{}.{ZONE}.", labels.join("."))).unwrap_or_default()
}

/// The answer to `qtype` questions about `name`.
pub fn resolve(table: &ServiceTable, name: &Name, qtype: RecordType) -> Answer {
    let labels: Vec<String> = name.iter().map(|l| String::from_utf8_lossy(l).to_ascii_lowercase()).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    match labels.as_slice() {
        [rest @ .., "cluster", "local"] => in_zone(table, name, rest, qtype),
        [rest @ .., "in-addr", "arpa"] => reverse(table, name, rest, qtype),
        _ => Answer::refused(),
    }
}

fn in_zone(table: &ServiceTable, name: &Name, labels: &[&str], qtype: RecordType) -> Answer {
    match labels {
        [] => match qtype {
            RecordType::SOA => Answer::records(vec![soa()], Vec::new()),
            RecordType::NS => Answer::records(vec![Record::from_rdata(zone(), TTL, RData::NS(NS(fqdn(&["ns", "dns"]))))], Vec::new()),
            _ => Answer::negative(ResponseCode::NoError),
        },
        // Names that exist because names below them do.
        ["svc"] | [_, "svc"] | ["pod"] | [_, "pod"] => Answer::negative(ResponseCode::NoError),
        [svc, ns, "svc"] => service(table, name, ns, svc, qtype),
        [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => named_port(table, name, ns, svc, &port[1..], &proto[1..], qtype),
        [host, svc, ns, "svc"] => endpoint(table, name, ns, svc, host, qtype),
        [dashed, _ns, "pod"] => match (dashed_ip(dashed), qtype) {
            (Some(ip), RecordType::A) => Answer::records(vec![Record::from_rdata(name.clone(), TTL, RData::A(A(ip)))], Vec::new()),
            (Some(_), _) => Answer::negative(ResponseCode::NoError),
            (None, _) => Answer::negative(ResponseCode::NXDomain),
        },
        _ => Answer::negative(ResponseCode::NXDomain),
    }
}

/// `10-42-0-5` → 10.42.0.5.
fn dashed_ip(label: &str) -> Option<Ipv4Addr> {
    label.replace('-', ".").parse().ok()
}

fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

fn a_record(name: &Name, ip: IpAddr) -> Option<Record> {
    match ip {
        IpAddr::V4(v4) => Some(Record::from_rdata(name.clone(), TTL, RData::A(A(v4)))),
        IpAddr::V6(_) => None,
    }
}

fn service(table: &ServiceTable, name: &Name, ns: &str, svc: &str, qtype: RecordType) -> Answer {
    let Some(info) = table.service(ns, svc) else { return Answer::negative(ResponseCode::NXDomain) };
    match (&info.addressing, qtype) {
        (Addressing::ExternalName(target), _) => match Name::from_ascii(format!("{target}.")) {
            Ok(target) => Answer::records(vec![Record::from_rdata(name.clone(), TTL, RData::CNAME(CNAME(target)))], Vec::new()),
            Err(_) => Answer { code: ResponseCode::ServFail, ..Answer::default() },
        },
        (Addressing::ClusterIp(ip), RecordType::A) => Answer::records(a_record(name, *ip).into_iter().collect(), Vec::new()),
        (Addressing::Headless, RecordType::A) => {
            Answer::records(table.ready_endpoints(ns, svc).iter().filter_map(|e| a_record(name, e.ip)).collect(), Vec::new())
        }
        (_, RecordType::SRV) => srv(table, &info, None),
        _ => Answer::negative(ResponseCode::NoError),
    }
}

fn named_port(table: &ServiceTable, name: &Name, ns: &str, svc: &str, port: &str, proto: &str, qtype: RecordType) -> Answer {
    let Some(info) = table.service(ns, svc) else { return Answer::negative(ResponseCode::NXDomain) };
    let Some(port) = info.ports.iter().find(|p| !p.name.is_empty() && p.name == port && p.protocol.srv_label() == proto) else {
        return Answer::negative(ResponseCode::NXDomain);
    };
    if qtype != RecordType::SRV {
        return Answer::negative(ResponseCode::NoError);
    }
    let mut answer = srv(table, &info, Some((&port.name, port.protocol)));
    // The owner of the records is the question's name.
    for r in &mut answer.answers {
        r.name = name.clone();
    }
    answer
}

/// SRV records of `info`'s named ports (or just `only`), owned by the Service's
/// name, with the A records of their targets as additionals.
fn srv(table: &ServiceTable, info: &ServiceInfo, only: Option<(&String, crate::agent::proxy::Protocol)>) -> Answer {
    let (ns, svc) = (info.key.namespace.as_str(), info.key.name.as_str());
    let owner = fqdn(&[svc, ns, "svc"]);
    let wanted = |p_name: &String, p_proto| !p_name.is_empty() && only.is_none_or(|(n, pr)| n == p_name && pr == p_proto);
    let mut answers = Vec::new();
    let mut additionals = Vec::new();
    match &info.addressing {
        Addressing::ClusterIp(ip) => {
            for p in info.ports.iter().filter(|p| wanted(&p.name, p.protocol)) {
                answers.push(Record::from_rdata(owner.clone(), TTL, RData::SRV(SRV::new(0, 100, p.port, owner.clone()))));
            }
            if !answers.is_empty() {
                additionals.extend(a_record(&owner, *ip));
            }
        }
        Addressing::Headless => {
            for e in table.ready_endpoints(ns, svc) {
                let host = e.hostname.clone().unwrap_or_else(|| dashed(e.ip));
                let target = fqdn(&[&host, svc, ns, "svc"]);
                let mut any = false;
                for (_, _, p_port) in e.ports.iter().filter(|(n, pr, _)| wanted(n, *pr)) {
                    answers.push(Record::from_rdata(owner.clone(), TTL, RData::SRV(SRV::new(0, 100, *p_port, target.clone()))));
                    any = true;
                }
                if any {
                    additionals.extend(a_record(&target, e.ip));
                }
            }
        }
        Addressing::ExternalName(_) => {}
    }
    Answer::records(answers, additionals)
}

fn endpoint(table: &ServiceTable, name: &Name, ns: &str, svc: &str, host: &str, qtype: RecordType) -> Answer {
    if table.service(ns, svc).is_none() {
        return Answer::negative(ResponseCode::NXDomain);
    }
    let found = table.ready_endpoints(ns, svc).into_iter().filter(|e| e.hostname.as_deref() == Some(host) || dashed(e.ip) == host).map(|e| e.ip).collect::<Vec<_>>();
    if found.is_empty() {
        return Answer::negative(ResponseCode::NXDomain);
    }
    match qtype {
        RecordType::A => Answer::records(found.iter().filter_map(|ip| a_record(name, *ip)).collect(), Vec::new()),
        _ => Answer::negative(ResponseCode::NoError),
    }
}

/// PTR of a ClusterIP (`d.c.b.a.in-addr.arpa`); other cluster addresses are
/// unknown names, the rest of the address space is not ours.
fn reverse(table: &ServiceTable, name: &Name, labels: &[&str], qtype: RecordType) -> Answer {
    let ip: Option<Ipv4Addr> = match labels {
        [d, c, b, a] => format!("{a}.{b}.{c}.{d}").parse().ok(),
        _ => None,
    };
    let ours = |ip: Ipv4Addr| ip.octets()[0] == 10 && matches!(ip.octets()[1], 42 | 43);
    let Some(ip) = ip.filter(|ip| ours(*ip)) else { return Answer::refused() };
    let Some(info) = table.service_at_cluster_ip(IpAddr::V4(ip)) else { return Answer::negative(ResponseCode::NXDomain) };
    if qtype != RecordType::PTR {
        return Answer::negative(ResponseCode::NoError);
    }
    let target = fqdn(&[&info.key.name, &info.key.namespace, "svc"]);
    Answer::records(vec![Record::from_rdata(name.clone(), TTL, RData::PTR(PTR(target)))], Vec::new())
}
