//! A Kubernetes cluster simulated on this one kernel, as kind and k3d clusters are: several
//! nodes, their pods, Services in front of them, host-network pods and a host outside.
//!
//! - A **node** is a cgroup v2 subtree (what its agent's `cgroup_path` names) and an address on
//!   a dummy interface in the root network namespace, which stands for the node's network.
//! - A **pod** is a network namespace routed from the root namespace the way Calico plugs pods
//!   in (a `/32` on `eth0`, a veth whose host end the pod's default route points at), and its
//!   processes run inside a cgroup below its node's. Pods on different nodes reach each other
//!   through the root namespace's routes.
//! - A **host-network pod** runs in the root namespace, in its node's cgroup, from its node's
//!   address.
//! - A **Service** is kube-proxy's iptables shape: DNAT rules in a chain that PREROUTING (pod
//!   clients) and OUTPUT (host clients) jump to; a **NodePort** translates a node's address and
//!   port (external traffic policy `Local`: the client's address is kept).
//! - The **outside** host is a namespace routed the same way, in no node's cgroup.
//!
//! [`Cluster::objects`] gives the fake API server the nodes, pods, owners, Services and
//! EndpointSlices; everything is removed on drop (namespaces, cgroups, routes, rules).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use crate::kube_api;
use crate::netns::run;

/// The cgroup v2 hierarchy: `/sys/fs/cgroup/unified` on hybrid hosts, else `/sys/fs/cgroup`.
pub fn cgroup_root() -> PathBuf {
    let hybrid = PathBuf::from("/sys/fs/cgroup/unified");
    if hybrid.is_dir() {
        hybrid
    } else {
        PathBuf::from("/sys/fs/cgroup")
    }
}

/// One node.
pub struct Node {
    /// Its name.
    pub name: String,
    /// Its address (on a dummy interface in the root namespace).
    pub ip: IpAddr,
    /// Its cgroup: the `cgroup_path` of its agent.
    pub cgroup: PathBuf,
    range: String,
}

/// A workload's identity, as the logical map shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Its namespace.
    pub namespace: String,
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `CronJob`, `Job` or `Pod`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// One pod.
pub struct Pod {
    /// Its name.
    pub name: String,
    /// What runs it.
    pub workload: Workload,
    /// Index of its node in [`Cluster::nodes`].
    pub node: usize,
    /// Its address (its node's for a host-network pod).
    pub ip: IpAddr,
    /// Its network namespace; `None` for a host-network pod.
    pub netns: Option<String>,
    /// Its cgroup, below its node's.
    pub cgroup: PathBuf,
    host_veth: Option<String>,
}

/// A ClusterIP Service in front of one backend.
pub struct Service {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its ClusterIP.
    pub ip: IpAddr,
    /// Its port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// The pod that serves it (index in [`Cluster::pods`]) and the pod's port.
    pub backend: (usize, u16),
}

/// The host outside the cluster.
pub struct Outside {
    /// Its network namespace.
    pub netns: String,
    /// Its address.
    pub ip: IpAddr,
    host_veth: String,
}

/// The simulated cluster.
pub struct Cluster {
    /// The nodes, in order of creation.
    pub nodes: Vec<Node>,
    /// The pods, in order of creation.
    pub pods: Vec<Pod>,
    /// The Services.
    pub services: Vec<Service>,
    /// The outside host, once added.
    pub outside: Option<Outside>,
    tag: String,
    subnet: u32,
    chain: String,
    cgroup: PathBuf,
    services_range: String,
    /// The outside host's address, which the forwarding rules already name.
    outside_ip: IpAddr,
    veths: u32,
}

/// The address ranges the cluster uses, for `cluster_cidrs`: pods and nodes, Services. The
/// outside host is in neither.
pub fn cluster_cidrs(cluster: &Cluster) -> [String; 2] {
    [
        "10.233.0.0/16".to_owned(),
        format!("10.234.{}.0/24", cluster.subnet),
    ]
}

impl Cluster {
    /// An empty cluster with its own rules chain and cgroup subtree.
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let subnet = (std::process::id() * 4 + n) % 50;
        let cgroup = cgroup_root().join(format!("spider-sim-{tag}"));
        std::fs::create_dir_all(&cgroup).expect("create the cluster's cgroup (cgroup v2, root)");
        // Pods reach each other and Services through the root namespace's routes.
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").expect("enable forwarding");
        // Service addresses are translated (host clients connect first, so they need a route;
        // one that is not translated ends on loopback, never off the machine).
        let services = format!("10.234.{subnet}.0/24");
        run(&["ip", "route", "add", &services, "dev", "lo"]);
        let chain = format!("SPIDER-SIM-{tag}");
        run(&["iptables", "-t", "nat", "-N", &chain]);
        for hook in ["PREROUTING", "OUTPUT"] {
            run(&["iptables", "-t", "nat", "-I", hook, "-j", &chain]);
        }
        // Forwarding between the cluster's own addresses only (a FORWARD policy of DROP, as
        // Docker sets, would cut pods off); anything else they send is dropped, so nothing of
        // the simulator is routed off the machine.
        let outside: IpAddr = format!("10.235.{subnet}.2").parse().unwrap();
        let filter = format!("SPIDER-SIM-{tag}");
        run(&["iptables", "-N", &filter]);
        // Every simulator's host-side veths are named `svs…`: traffic into them is the
        // simulators' own.
        run(&["iptables", "-A", &filter, "-o", "svs+", "-j", "ACCEPT"]);
        for from in ["10.233.0.0/16".to_owned(), format!("{outside}/32")] {
            run(&["iptables", "-A", &filter, "-s", &from, "-j", "DROP"]);
        }
        run(&["iptables", "-I", "FORWARD", "-j", &filter]);
        Self {
            nodes: Vec::new(),
            pods: Vec::new(),
            services: Vec::new(),
            outside: None,
            tag,
            subnet,
            chain,
            cgroup,
            services_range: services,
            outside_ip: outside,
            veths: 0,
        }
    }

    fn octet(&self) -> u32 {
        self.subnet * 5
    }

    /// Adds a node; returns its index.
    pub fn add_node(&mut self, name: &str) -> usize {
        let index = self.nodes.len();
        let ip: IpAddr = format!("10.233.{}.1", self.octet() + index as u32)
            .parse()
            .unwrap();
        // This kernel has no dummy interfaces: the node's address lives on loopback.
        run(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"]);
        // Whatever of the node's range has no pod is dropped, never routed off the machine.
        let range = format!("10.233.{}.0/24", self.octet() + index as u32);
        run(&["ip", "route", "add", "blackhole", &range]);
        let cgroup = self.cgroup.join(name);
        std::fs::create_dir_all(&cgroup).expect("create the node's cgroup");
        self.nodes.push(Node {
            name: name.to_owned(),
            ip,
            cgroup,
            range,
        });
        index
    }

    /// Plugs a namespace in with a routed `/32`; returns the host-side veth.
    fn plug(&mut self, netns: &str, ip: IpAddr) -> String {
        let host_veth = format!("svs{}v{}", self.tag, self.veths);
        self.veths += 1;
        run(&["ip", "netns", "add", netns]);
        run(&[
            "ip", "link", "add", &host_veth, "type", "veth", "peer", "name", "eth0", "netns", netns,
        ]);
        run(&["ip", "link", "set", &host_veth, "up"]);
        let mac = std::fs::read_to_string(format!("/sys/class/net/{host_veth}/address"))
            .expect("the host veth's address");
        for args in [
            vec!["addr", "add", &format!("{ip}/32"), "dev", "eth0"],
            vec!["link", "set", "lo", "up"],
            vec!["link", "set", "eth0", "up"],
            vec![
                "route",
                "add",
                "169.254.1.1",
                "dev",
                "eth0",
                "scope",
                "link",
            ],
            vec![
                "route",
                "add",
                "default",
                "via",
                "169.254.1.1",
                "dev",
                "eth0",
            ],
            vec![
                "neigh",
                "replace",
                "169.254.1.1",
                "lladdr",
                mac.trim(),
                "dev",
                "eth0",
            ],
        ] {
            let mut command = vec!["ip", "-n", netns];
            command.extend(args.iter().map(|s| &**s));
            run(&command);
        }
        run(&["ip", "route", "add", &format!("{ip}/32"), "dev", &host_veth]);
        host_veth
    }

    /// Adds a pod of `workload` on node `node` with its own network namespace; returns its index.
    pub fn add_pod(&mut self, node: usize, name: &str, workload: Workload) -> usize {
        let index = self.pods.len();
        let host = (self.pods.iter().filter(|p| p.node == node).count() + 2) as u32;
        let ip: IpAddr = format!("10.233.{}.{host}", self.octet() + node as u32)
            .parse()
            .unwrap();
        let netns = format!("ssp{}p{index}", self.tag);
        let host_veth = self.plug(&netns, ip);
        let cgroup = self.pod_cgroup(node, name);
        self.pods.push(Pod {
            name: name.to_owned(),
            workload,
            node,
            ip,
            netns: Some(netns),
            cgroup,
            host_veth: Some(host_veth),
        });
        index
    }

    /// Adds a host-network pod of `workload` on node `node`; returns its index.
    pub fn add_host_pod(&mut self, node: usize, name: &str, workload: Workload) -> usize {
        let index = self.pods.len();
        let cgroup = self.pod_cgroup(node, name);
        self.pods.push(Pod {
            name: name.to_owned(),
            workload,
            node,
            ip: self.nodes[node].ip,
            netns: None,
            cgroup,
            host_veth: None,
        });
        index
    }

    fn pod_cgroup(&self, node: usize, name: &str) -> PathBuf {
        let cgroup = self.nodes[node].cgroup.join(format!("pod-{name}"));
        std::fs::create_dir_all(&cgroup).expect("create the pod's cgroup");
        cgroup
    }

    /// Adds a ClusterIP Service `namespace/name` on `port`/`protocol` in front of `backend`'s
    /// `target_port`; returns its index.
    pub fn add_service(
        &mut self,
        namespace: &str,
        name: &str,
        port: u16,
        protocol: &'static str,
        backend: (usize, u16),
    ) -> usize {
        let index = self.services.len();
        let ip: IpAddr = format!("10.234.{}.{}", self.subnet, index + 10)
            .parse()
            .unwrap();
        self.translate(ip, port, protocol, backend);
        self.services.push(Service {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            ip,
            port,
            protocol,
            backend,
        });
        index
    }

    /// Opens NodePort `port`/`protocol` on `node` towards `backend`'s `target_port`
    /// (`externalTrafficPolicy: Local`: no masquerading).
    pub fn add_node_port(
        &mut self,
        node: usize,
        port: u16,
        protocol: &'static str,
        backend: (usize, u16),
    ) {
        self.translate(self.nodes[node].ip, port, protocol, backend);
    }

    fn translate(&self, ip: IpAddr, port: u16, protocol: &str, (pod, target): (usize, u16)) {
        let to = format!("{}:{target}", self.pods[pod].ip);
        run(&[
            "iptables",
            "-t",
            "nat",
            "-A",
            &self.chain,
            "-d",
            &format!("{ip}/32"),
            "-p",
            protocol,
            "--dport",
            &port.to_string(),
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ]);
    }

    /// Adds the host outside the cluster.
    pub fn add_outside(&mut self) -> &Outside {
        let ip = self.outside_ip;
        let netns = format!("sso{}", self.tag);
        let host_veth = self.plug(&netns, ip);
        self.outside = Some(Outside {
            netns,
            ip,
            host_veth,
        });
        self.outside.as_ref().expect("just added")
    }

    /// A command that runs as pod `pod`: inside its cgroup (joined before `ip netns exec`,
    /// which remounts /sys), in its network namespace unless it is a host-network pod.
    pub fn command_in(&self, pod: usize, program: &str, args: &[&str]) -> Command {
        let pod = &self.pods[pod];
        let mut command = Command::new("sh");
        let procs = pod.cgroup.join("cgroup.procs");
        let enter = match &pod.netns {
            Some(netns) => format!("exec ip netns exec {netns} \"$@\""),
            None => "exec \"$@\"".to_owned(),
        };
        command
            .arg("-c")
            .arg(format!("echo $$ > {} && {enter}", procs.display()))
            .arg("sh")
            .arg(program)
            .args(args);
        command
    }

    /// A command that runs on the outside host.
    pub fn command_outside(&self, program: &str, args: &[&str]) -> Command {
        let outside = self.outside.as_ref().expect("add_outside first");
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &outside.netns, program])
            .args(args);
        command
    }

    /// The cluster as the API server holds it: nodes, pods with their owners (ReplicaSets for
    /// Deployments), Services and their EndpointSlices.
    pub fn objects(&self) -> Vec<Value> {
        let mut objects = Vec::new();
        for node in &self.nodes {
            objects.push(kube_api::node(&node.name, &[&node.ip.to_string()]));
        }
        for pod in &self.pods {
            let w = &pod.workload;
            let owner = match w.kind.as_str() {
                "Deployment" => {
                    let replica_set = format!("{}-5d9c7", w.name);
                    objects.push(kube_api::replica_set(
                        &w.namespace,
                        &replica_set,
                        Some(&w.name),
                    ));
                    Some(("ReplicaSet".to_owned(), replica_set))
                }
                "Pod" => None,
                kind => Some((kind.to_owned(), w.name.clone())),
            };
            objects.push(kube_api::pod(
                &w.namespace,
                &pod.name,
                &self.nodes[pod.node].name,
                &[&pod.ip.to_string()],
                owner
                    .as_ref()
                    .map(|(kind, name)| (kind.as_str(), name.as_str())),
                pod.netns.is_none(),
            ));
        }
        for service in &self.services {
            objects.push(kube_api::service(
                &service.namespace,
                &service.name,
                &[&service.ip.to_string()],
            ));
            objects.push(kube_api::endpoint_slice(
                &service.namespace,
                &format!("{}-abcde", service.name),
                &service.name,
                &[&self.pods[service.backend.0].ip.to_string()],
            ));
        }
        objects
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

fn quietly(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Kills every process still in `cgroup` (servers of a test that failed), then removes it.
fn empty_cgroup(cgroup: &std::path::Path) {
    let _ = std::fs::write(cgroup.join("cgroup.kill"), "1");
    std::thread::sleep(std::time::Duration::from_millis(100));
    remove_cgroup(cgroup);
}

/// Removes `cgroup` and its children, moving what still runs there to the root first.
fn remove_cgroup(cgroup: &std::path::Path) {
    if let Ok(children) = std::fs::read_dir(cgroup) {
        for child in children.flatten() {
            if child.path().is_dir() {
                remove_cgroup(&child.path());
            }
        }
    }
    if let Ok(procs) = std::fs::read_to_string(cgroup.join("cgroup.procs")) {
        for pid in procs.lines() {
            let _ = std::fs::write(cgroup_root().join("cgroup.procs"), pid);
        }
    }
    let _ = std::fs::remove_dir(cgroup);
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pod in &self.pods {
            if let Some(netns) = &pod.netns {
                quietly(&["ip", "netns", "del", netns]);
            }
            if let Some(veth) = &pod.host_veth {
                quietly(&["ip", "link", "del", veth]);
            }
        }
        if let Some(outside) = &self.outside {
            quietly(&["ip", "netns", "del", &outside.netns]);
            quietly(&["ip", "link", "del", &outside.host_veth]);
        }
        for node in &self.nodes {
            quietly(&["ip", "addr", "del", &format!("{}/32", node.ip), "dev", "lo"]);
            quietly(&["ip", "route", "del", "blackhole", &node.range]);
        }
        quietly(&["ip", "route", "del", &self.services_range, "dev", "lo"]);
        for hook in ["PREROUTING", "OUTPUT"] {
            quietly(&["iptables", "-t", "nat", "-D", hook, "-j", &self.chain]);
        }
        quietly(&["iptables", "-t", "nat", "-F", &self.chain]);
        quietly(&["iptables", "-t", "nat", "-X", &self.chain]);
        quietly(&["iptables", "-D", "FORWARD", "-j", &self.chain]);
        quietly(&["iptables", "-F", &self.chain]);
        quietly(&["iptables", "-X", &self.chain]);
        empty_cgroup(&self.cgroup);
    }
}
