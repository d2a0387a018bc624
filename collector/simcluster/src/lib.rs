//! A Kubernetes cluster simulated on this one kernel, as kind and k3d clusters are: several
//! nodes, their pods, Services in front of them, host-network pods and a host outside.
//!
//! - A **node** is a cgroup v2 subtree (what its agent's `cgroup_path` names) and an address on
//!   loopback in the root network namespace, which stands for the node's network.
//! - A **pod** is a network namespace routed from the root namespace the way Calico plugs pods
//!   in (a `/32` and a `/128` on `eth0`, a veth whose host end the pod's default routes point
//!   at: pods are dual-stack), and its processes run inside a cgroup below its node's. Pods on different nodes reach each other
//!   through the root namespace's routes.
//! - A **host-network pod** runs in the root namespace, in its node's cgroup, from its node's
//!   address.
//! - A **Service** is kube-proxy's iptables shape: DNAT rules in a chain that PREROUTING (pod
//!   clients) and OUTPUT (host clients) jump to, in iptables for an IPv4 ClusterIP and in
//!   ip6tables for an IPv6 one; a **NodePort** translates a node's address and
//!   port (external traffic policy `Local`: the client's address is kept).
//! - The **outside** host is a namespace routed the same way, in no node's cgroup.
//!
//! Every name a cluster makes derives from its tag and subnet, so everything is removed on drop
//! (namespaces, veths, cgroups, addresses, routes, rules), and [`Cluster::named`] first sweeps
//! what a crashed run of the same name left behind. [`Cluster::inventory_yaml`] describes it in
//! the static inventory's format; the test kit turns it into API objects for its fake server.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail, ensure};

/// Nodes a cluster holds at most: each takes one of the five `/24`s of its subnet.
pub const MAX_NODES: usize = 5;

/// Subnets tests draw from; higher ones are left for named clusters (the demo's).
const TEST_SUBNETS: u32 = 45;

/// Runs a command that must succeed.
fn run(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(args[0])
        .args(&args[1..])
        // Its own process group: a terminal's Ctrl-C is for the program that makes the cluster,
        // which then removes it, not for a half-run `ip`.
        .process_group(0)
        .output()
        .with_context(|| format!("cannot run {}", args[0]))?;
    ensure!(
        output.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// Runs a command whose failure is expected (removing what may not exist); whether it succeeded.
fn quietly(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

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
    /// Its address (on loopback in the root namespace: this kernel has no dummy interfaces).
    pub ip: IpAddr,
    /// Its cgroup: the `cgroup_path` of its agent.
    pub cgroup: PathBuf,
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

impl Workload {
    /// Workload `namespace/name` of `kind`.
    pub fn new(namespace: &str, kind: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }
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
    /// Its IPv6 address; `None` for a host-network pod (nodes are IPv4 only).
    pub ip6: Option<IpAddr>,
    /// Its network namespace; `None` for a host-network pod.
    pub netns: Option<String>,
    /// Its cgroup, below its node's.
    pub cgroup: PathBuf,
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
    names: Names,
    veths: u32,
    /// Held while the cluster lives: its tag's and its subnet's (released after the drop's sweep).
    _locks: Vec<std::fs::File>,
}

/// Another live cluster holds the tag or the subnet asked for.
#[derive(Debug)]
pub struct Taken(String);

impl std::fmt::Display for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a simulated cluster that is still running holds {} (another spider demo?)",
            self.0
        )
    }
}

impl std::error::Error for Taken {}

/// Where the clusters' locks are: one file per tag and per subnet, locked while it lives (a
/// crashed process's lock goes with it).
const LOCKS: &str = "/run/spider-simcluster";

/// Locks `name` for this process, or says who holds it.
fn lock(name: &str) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(LOCKS).with_context(|| format!("cannot create {LOCKS}"))?;
    let path = Path::new(LOCKS).join(format!("{name}.lock"));
    let file =
        std::fs::File::create(&path).with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Taken(name.to_owned()).into()),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(anyhow::Error::new(error).context(format!("cannot lock {}", path.display())))
        }
    }
}

/// Every name and range a cluster of one tag and subnet uses: what it makes, and what a sweep
/// removes.
struct Names {
    tag: String,
    subnet: u32,
}

impl Names {
    /// The nat chain that PREROUTING and OUTPUT jump to, and the filter chain FORWARD jumps to.
    fn chain(&self) -> String {
        format!("SPIDER-SIM-{}", self.tag)
    }

    fn cgroup(&self) -> PathBuf {
        cgroup_root().join(format!("spider-sim-{}", self.tag))
    }

    fn outside_cgroup(&self) -> PathBuf {
        self.cgroup().join("outside")
    }

    fn services_range(&self) -> String {
        format!("10.234.{}.0/24", self.subnet)
    }

    fn services_range6(&self) -> String {
        format!("fd00:234:{:x}::/64", self.subnet)
    }

    /// The IPv6 `/64` of node `index`'s pods.
    fn node_range6(&self, index: usize) -> String {
        format!("fd00:233:{:x}::/64", self.node_octet(index))
    }

    fn outside_ip(&self) -> IpAddr {
        format!("10.235.{}.2", self.subnet)
            .parse()
            .expect("an address")
    }

    /// The third octet of node `index`'s `/24`.
    fn node_octet(&self, index: usize) -> u32 {
        self.subnet * MAX_NODES as u32 + index as u32
    }

    fn pod_netns(&self, index: usize) -> String {
        format!("ssp{}p{index}", self.tag)
    }

    fn outside_netns(&self) -> String {
        format!("sso{}", self.tag)
    }

    /// Every simulator's host-side veths are named `svs…` (the forwarding rule accepts them all).
    fn veth(&self, index: u32) -> String {
        format!("svs{}v{index}", self.tag)
    }

    /// Removes everything a cluster of these names may have made; what does not exist is skipped.
    fn sweep(&self) {
        let netns = self.pod_netns(0);
        let pods = netns.trim_end_matches('0');
        let listed = Command::new("ip").args(["netns", "list"]).output();
        let listed = listed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        for name in listed
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
        {
            if name.starts_with(pods) || name == self.outside_netns() {
                quietly(&["ip", "netns", "del", name]);
            }
        }
        // A veth goes with its peer's namespace; one whose namespace was never made stays.
        let veths = self.veth(0);
        let veths = veths.trim_end_matches('0');
        for link in std::fs::read_dir("/sys/class/net")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = link.file_name().to_string_lossy().into_owned();
            if name.starts_with(veths) {
                quietly(&["ip", "link", "del", &name]);
            }
        }
        for node in 0..MAX_NODES {
            let octet = self.node_octet(node);
            quietly(&[
                "ip",
                "addr",
                "del",
                &format!("10.233.{octet}.1/32"),
                "dev",
                "lo",
            ]);
            quietly(&[
                "ip",
                "route",
                "del",
                "blackhole",
                &format!("10.233.{octet}.0/24"),
            ]);
        }
        for node in 0..MAX_NODES {
            quietly(&[
                "ip",
                "-6",
                "route",
                "del",
                "blackhole",
                &self.node_range6(node),
            ]);
        }
        quietly(&["ip", "route", "del", &self.services_range(), "dev", "lo"]);
        quietly(&[
            "ip",
            "-6",
            "route",
            "del",
            &self.services_range6(),
            "dev",
            "lo",
        ]);
        let chain = self.chain();
        for tables in ["iptables", "ip6tables"] {
            for hook in ["PREROUTING", "OUTPUT"] {
                while quietly(&[tables, "-t", "nat", "-D", hook, "-j", &chain]) {}
            }
            quietly(&[tables, "-t", "nat", "-F", &chain]);
            quietly(&[tables, "-t", "nat", "-X", &chain]);
            while quietly(&[tables, "-D", "FORWARD", "-j", &chain]) {}
            quietly(&[tables, "-F", &chain]);
            quietly(&[tables, "-X", &chain]);
        }
        empty_cgroup(&self.cgroup());
    }
}

/// The address ranges the cluster uses, for `cluster_cidrs`: pods and nodes, Services, then
/// their IPv6 ranges. The outside host is in none.
pub fn cluster_cidrs(cluster: &Cluster) -> Vec<String> {
    vec![
        "10.233.0.0/16".to_owned(),
        cluster.names.services_range(),
        "fd00:233::/32".to_owned(),
        cluster.names.services_range6(),
    ]
}

impl Cluster {
    /// An empty cluster of this test process, with its own rules chain and cgroup subtree, on the
    /// first test subnet no other cluster holds.
    pub fn new() -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // The `t` keeps (pid 1234, n 10) and (pid 12341, n 0) apart.
        let tag = format!("{}t{n}", std::process::id() % 100_000);
        let first = (std::process::id() * 4 + n) % TEST_SUBNETS;
        let mut refused = None;
        for offset in 0..TEST_SUBNETS {
            match Self::named(&tag, (first + offset) % TEST_SUBNETS) {
                Err(error) if error.is::<Taken>() => refused = Some(error),
                made => return made,
            }
        }
        Err(refused.expect("at least one subnet was tried"))
    }

    /// An empty cluster whose every name derives from `tag` (letters and digits, at most 9) and
    /// whose addresses from `subnet` (below 50). The tag and the subnet are locked for its
    /// lifetime (a [`Taken`] error if another live cluster holds either); what a crashed cluster
    /// of the same tag and subnet left is removed first.
    pub fn named(tag: &str, subnet: u32) -> anyhow::Result<Self> {
        ensure!(
            !tag.is_empty() && tag.len() <= 9 && tag.chars().all(|c| c.is_ascii_alphanumeric()),
            "a cluster tag is 1 to 9 letters or digits (interface names are short): {tag:?}"
        );
        ensure!(subnet < 50, "a cluster subnet is below 50: {subnet}");
        let locks = vec![
            lock(&format!("tag-{tag}"))?,
            lock(&format!("subnet-{subnet}"))?,
        ];
        let names = Names {
            tag: tag.to_owned(),
            subnet,
        };
        names.sweep();
        // From here on a failure drops the cluster, which sweeps what was made.
        let cluster = Self {
            nodes: Vec::new(),
            pods: Vec::new(),
            services: Vec::new(),
            outside: None,
            names,
            veths: 0,
            _locks: locks,
        };
        cluster.set_up()?;
        Ok(cluster)
    }

    fn set_up(&self) -> anyhow::Result<()> {
        let cgroup = self.names.cgroup();
        std::fs::create_dir_all(&cgroup).with_context(|| {
            format!(
                "cannot create the cgroup {} (cgroup v2, root)",
                cgroup.display()
            )
        })?;
        // Pods reach each other and Services through the root namespace's routes.
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").context("cannot enable forwarding")?;
        std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1")
            .context("cannot enable IPv6 forwarding")?;
        // Service addresses are translated (host clients connect first, so they need a route;
        // one that is not translated ends on loopback, never off the machine).
        run(&[
            "ip",
            "route",
            "add",
            &self.names.services_range(),
            "dev",
            "lo",
        ])?;
        run(&[
            "ip",
            "-6",
            "route",
            "add",
            &self.names.services_range6(),
            "dev",
            "lo",
        ])?;
        let chain = self.names.chain();
        let outside = format!("{}/32", self.names.outside_ip());
        for (tables, own) in [
            ("iptables", vec!["10.233.0.0/16", outside.as_str()]),
            ("ip6tables", vec!["fd00:233::/32"]),
        ] {
            run(&[tables, "-t", "nat", "-N", &chain])?;
            for hook in ["PREROUTING", "OUTPUT"] {
                run(&[tables, "-t", "nat", "-I", hook, "-j", &chain])?;
            }
            // Forwarding between the cluster's own addresses only (a FORWARD policy of DROP, as
            // Docker sets, would cut pods off); anything else they send is dropped, so nothing
            // of the simulator is routed off the machine.
            run(&[tables, "-N", &chain])?;
            run(&[tables, "-A", &chain, "-o", "svs+", "-j", "ACCEPT"])?;
            for from in own {
                run(&[tables, "-A", &chain, "-s", from, "-j", "DROP"])?;
            }
            run(&[tables, "-I", "FORWARD", "-j", &chain])?;
        }
        Ok(())
    }

    /// Adds a node; returns its index.
    pub fn add_node(&mut self, name: &str) -> anyhow::Result<usize> {
        let index = self.nodes.len();
        if index == MAX_NODES {
            bail!("a simulated cluster holds at most {MAX_NODES} nodes");
        }
        let octet = self.names.node_octet(index);
        let ip: IpAddr = format!("10.233.{octet}.1").parse()?;
        run(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"])?;
        // Whatever of the node's range has no pod is dropped, never routed off the machine.
        run(&[
            "ip",
            "route",
            "add",
            "blackhole",
            &format!("10.233.{octet}.0/24"),
        ])?;
        run(&[
            "ip",
            "-6",
            "route",
            "add",
            "blackhole",
            &self.names.node_range6(index),
        ])?;
        let cgroup = self.names.cgroup().join(name);
        std::fs::create_dir_all(&cgroup)
            .with_context(|| format!("cannot create the cgroup {}", cgroup.display()))?;
        self.nodes.push(Node {
            name: name.to_owned(),
            ip,
            cgroup,
        });
        Ok(index)
    }

    /// Plugs a namespace in with a routed `/32`, and a routed `/128` when it has an IPv6 address.
    fn plug(&mut self, netns: &str, ip: IpAddr, ip6: Option<IpAddr>) -> anyhow::Result<()> {
        let host_veth = self.names.veth(self.veths);
        self.veths += 1;
        run(&["ip", "netns", "add", netns])?;
        run(&[
            "ip", "link", "add", &host_veth, "type", "veth", "peer", "name", "eth0", "netns", netns,
        ])?;
        run(&["ip", "link", "set", &host_veth, "up"])?;
        let mac = std::fs::read_to_string(format!("/sys/class/net/{host_veth}/address"))
            .context("the host veth's address")?;
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
            run(&command)?;
        }
        run(&["ip", "route", "add", &format!("{ip}/32"), "dev", &host_veth])?;
        if let Some(ip6) = ip6 {
            // The host end answers as the pod's IPv6 gateway at a link-local address; no
            // duplicate detection, so the addresses work at once.
            run(&[
                "ip",
                "-6",
                "addr",
                "add",
                "fe80::1/64",
                "dev",
                &host_veth,
                "nodad",
            ])?;
            let address = format!("{ip6}/128");
            for args in [
                vec!["-6", "addr", "add", &address, "dev", "eth0", "nodad"],
                vec![
                    "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
                ],
            ] {
                let mut command = vec!["ip", "-n", netns];
                command.extend(args.iter().map(|s| &**s));
                run(&command)?;
            }
            run(&["ip", "-6", "route", "add", &address, "dev", &host_veth])?;
        }
        Ok(())
    }

    /// Adds a pod of `workload` on node `node` with its own network namespace; returns its index.
    pub fn add_pod(
        &mut self,
        node: usize,
        name: &str,
        workload: Workload,
    ) -> anyhow::Result<usize> {
        let host = self.pods.iter().filter(|p| p.node == node).count() + 2;
        ensure!(host < 255, "node {node} is full");
        let octet = self.names.node_octet(node);
        let ip: IpAddr = format!("10.233.{octet}.{host}").parse()?;
        let ip6: IpAddr = format!("fd00:233:{octet:x}::{host:x}").parse()?;
        let netns = self.names.pod_netns(self.pods.len());
        self.plug(&netns, ip, Some(ip6))?;
        self.push_pod(node, name, workload, (ip, Some(ip6)), Some(netns))
    }

    /// Adds a host-network pod of `workload` on node `node`; returns its index.
    pub fn add_host_pod(
        &mut self,
        node: usize,
        name: &str,
        workload: Workload,
    ) -> anyhow::Result<usize> {
        let ip = self.nodes[node].ip;
        self.push_pod(node, name, workload, (ip, None), None)
    }

    fn push_pod(
        &mut self,
        node: usize,
        name: &str,
        workload: Workload,
        (ip, ip6): (IpAddr, Option<IpAddr>),
        netns: Option<String>,
    ) -> anyhow::Result<usize> {
        let cgroup = self.pod_cgroup(node, name)?;
        self.pods.push(Pod {
            name: name.to_owned(),
            workload,
            node,
            ip,
            ip6,
            netns,
            cgroup,
        });
        Ok(self.pods.len() - 1)
    }

    fn pod_cgroup(&self, node: usize, name: &str) -> anyhow::Result<PathBuf> {
        let cgroup = self.nodes[node].cgroup.join(format!("pod-{name}"));
        std::fs::create_dir_all(&cgroup)
            .with_context(|| format!("cannot create the cgroup {}", cgroup.display()))?;
        Ok(cgroup)
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
    ) -> anyhow::Result<usize> {
        let ip = format!("10.234.{}.{}", self.names.subnet, self.services.len() + 10);
        self.push_service(namespace, name, ip.parse()?, port, protocol, backend)
    }

    /// Adds an IPv6 ClusterIP Service (a single-stack `IPv6` Service of a dual-stack cluster),
    /// translated by ip6tables to `backend`'s IPv6 address; returns its index.
    pub fn add_service_v6(
        &mut self,
        namespace: &str,
        name: &str,
        port: u16,
        protocol: &'static str,
        backend: (usize, u16),
    ) -> anyhow::Result<usize> {
        let ip = format!(
            "fd00:234:{:x}::{:x}",
            self.names.subnet,
            self.services.len() + 10
        );
        self.push_service(namespace, name, ip.parse()?, port, protocol, backend)
    }

    fn push_service(
        &mut self,
        namespace: &str,
        name: &str,
        ip: IpAddr,
        port: u16,
        protocol: &'static str,
        backend: (usize, u16),
    ) -> anyhow::Result<usize> {
        let index = self.services.len();
        ensure!(index < 240, "too many Services");
        self.translate(ip, port, protocol, backend)?;
        self.services.push(Service {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            ip,
            port,
            protocol,
            backend,
        });
        Ok(index)
    }

    /// Opens NodePort `port`/`protocol` on `node` towards `backend`'s `target_port`
    /// (`externalTrafficPolicy: Local`: no masquerading).
    pub fn add_node_port(
        &mut self,
        node: usize,
        port: u16,
        protocol: &'static str,
        backend: (usize, u16),
    ) -> anyhow::Result<()> {
        self.translate(self.nodes[node].ip, port, protocol, backend)
    }

    fn translate(
        &self,
        ip: IpAddr,
        port: u16,
        protocol: &str,
        (pod, target): (usize, u16),
    ) -> anyhow::Result<()> {
        let (tables, to, prefix) = match ip {
            IpAddr::V4(_) => ("iptables", format!("{}:{target}", self.pods[pod].ip), 32),
            IpAddr::V6(_) => {
                let backend = self.pods[pod]
                    .ip6
                    .context("an IPv6 Service needs a backend with an IPv6 address")?;
                ("ip6tables", format!("[{backend}]:{target}"), 128)
            }
        };
        run(&[
            tables,
            "-t",
            "nat",
            "-A",
            &self.names.chain(),
            "-d",
            &format!("{ip}/{prefix}"),
            "-p",
            protocol,
            "--dport",
            &port.to_string(),
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ])
    }

    /// Adds the host outside the cluster.
    pub fn add_outside(&mut self) -> anyhow::Result<&Outside> {
        let ip = self.names.outside_ip();
        let netns = self.names.outside_netns();
        let cgroup = self.names.outside_cgroup();
        std::fs::create_dir_all(&cgroup)
            .with_context(|| format!("cannot create the cgroup {}", cgroup.display()))?;
        self.plug(&netns, ip, None)?;
        Ok(self.outside.insert(Outside { netns, ip }))
    }

    /// A command that runs as pod `pod`: inside its cgroup, in its network namespace unless it is
    /// a host-network pod.
    pub fn command_in(&self, pod: usize, program: &str, args: &[&str]) -> Command {
        let pod = &self.pods[pod];
        joined(&pod.cgroup, pod.netns.as_deref(), program, args)
    }

    /// A command that runs on the outside host: in its namespace, and in a cgroup of the cluster
    /// that no node's holds (so no agent counts it as its own, and a sweep ends it).
    pub fn command_outside(&self, program: &str, args: &[&str]) -> Command {
        let outside = self.outside.as_ref().expect("add_outside first");
        joined(
            &self.names.outside_cgroup(),
            Some(&outside.netns),
            program,
            args,
        )
    }

    /// The cluster as a static inventory (the `k8s_attributes` processor's and the whisperer
    /// receiver's `source: static`), the outside host named `outside_name`; each workload's pods
    /// are labelled `app: <workload>`, as the test kit's API objects of it are.
    pub fn inventory_yaml(&self, outside_name: &str) -> String {
        let mut yaml = String::from("nodes:\n");
        for node in &self.nodes {
            let _ = writeln!(
                yaml,
                "  - {{ name: \"{}\", addresses: [\"{}\"] }}",
                node.name, node.ip
            );
        }
        yaml.push_str("workloads:\n");
        let mut workloads: Vec<&Workload> = Vec::new();
        for pod in &self.pods {
            if !workloads.contains(&&pod.workload) {
                workloads.push(&pod.workload);
            }
        }
        for workload in workloads {
            let _ = writeln!(
                yaml,
                "  - namespace: \"{}\"\n    kind: {}\n    name: \"{}\"\n    labels: {{ app: \"{}\" }}\n    pods:",
                workload.namespace, workload.kind, workload.name, workload.name
            );
            for pod in self.pods.iter().filter(|p| &p.workload == workload) {
                let ips: Vec<String> = pod.ips().iter().map(ToString::to_string).collect();
                let _ = writeln!(
                    yaml,
                    "      - {{ name: \"{}\", node: \"{}\", ips: {ips:?}, host_network: {} }}",
                    pod.name,
                    self.nodes[pod.node].name,
                    pod.netns.is_none()
                );
            }
        }
        yaml.push_str("services:\n");
        for service in &self.services {
            let _ = writeln!(
                yaml,
                "  - {{ namespace: \"{}\", name: \"{}\", cluster_ips: [\"{}\"], endpoints: [\"{}\"] }}",
                service.namespace,
                service.name,
                service.ip,
                self.backend_ip(service)
            );
        }
        yaml.push_str("external:\n");
        if let Some(outside) = &self.outside {
            let _ = writeln!(
                yaml,
                "  - {{ ip: \"{}\", name: \"{outside_name}\" }}",
                outside.ip
            );
        }
        yaml
    }
}

impl Pod {
    /// Its addresses: IPv4, then IPv6 when it has one.
    pub fn ips(&self) -> Vec<IpAddr> {
        std::iter::once(self.ip).chain(self.ip6).collect()
    }
}

impl Cluster {
    /// The address a Service translates to: its backend's of the Service's family.
    pub fn backend_ip(&self, service: &Service) -> IpAddr {
        let pod = &self.pods[service.backend.0];
        match service.ip {
            IpAddr::V6(_) => pod.ip6.unwrap_or(pod.ip),
            IpAddr::V4(_) => pod.ip,
        }
    }
}

/// A command run inside `cgroup` (joined before `ip netns exec`, which remounts /sys), in network
/// namespace `netns` if any.
fn joined(cgroup: &Path, netns: Option<&str>, program: &str, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    // Its own process group: a terminal's Ctrl-C stops the agents first, then the cluster ends
    // the workloads.
    command.process_group(0);
    let procs = cgroup.join("cgroup.procs");
    let enter = match netns {
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

/// Kills every process still in `cgroup` (servers of a test that failed, the demo's workloads),
/// then removes it.
fn empty_cgroup(cgroup: &Path) {
    if !cgroup.is_dir() {
        return;
    }
    // Killed processes take a moment to go; a cgroup still populated cannot be removed, and what
    // were moved out of it would escape every later sweep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let _ = std::fs::write(cgroup.join("cgroup.kill"), "1");
        let events = std::fs::read_to_string(cgroup.join("cgroup.events")).unwrap_or_default();
        if !events.lines().any(|line| line == "populated 1") || std::time::Instant::now() > deadline
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    remove_cgroup(cgroup);
}

/// Removes `cgroup` and its children, moving what still runs there to the root first.
fn remove_cgroup(cgroup: &Path) {
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
        self.names.sweep();
    }
}
