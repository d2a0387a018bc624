//! Two network namespaces joined by a veth pair, with IPv4 and IPv6 addresses, removed on drop;
//! the traffic tool run inside them; and the root check privileged tests start with.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether privileged tests (namespaces, eBPF, raw capture) run: as root, yes; otherwise they
/// fail unless SPIDER_SKIP_PRIVILEGED is set, in which case the caller skips.
pub fn privileged() -> bool {
    // The effective uid, from /proc (no libc dependency).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(2) == Some("0"));
    if !root {
        assert!(
            std::env::var("SPIDER_SKIP_PRIVILEGED").is_ok(),
            "this test needs root (network namespaces, eBPF, packet capture): run it as root (CI does), or set SPIDER_SKIP_PRIVILEGED=1 to skip it"
        );
        eprintln!("skipped: not root and SPIDER_SKIP_PRIVILEGED is set");
    }
    root
}

/// Serializes the tests of one binary that attach kernel programs (an agent on the cgroup root
/// and agents on subtrees cannot attach at once); `None` (skip) only where unprivileged runs
/// are allowed.
pub async fn kernel_turn() -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if !privileged() {
        return None;
    }
    Some(KERNEL.lock().await)
}

/// [`kernel_turn`] for a test that is not async.
pub fn kernel_turn_blocking() -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if !privileged() {
        return None;
    }
    Some(KERNEL.blocking_lock())
}

static KERNEL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts a server that prints "ready" once listening, and waits for that line.
pub fn started(command: &mut Command, what: &str) -> Child {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "{what} did not start");
    child
}

/// Runs a command and fails the test if it fails.
pub fn run(args: &[&str]) {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Namespace `a` (the client side) and `b` (the server side), joined by veth `va` ↔ `vb`.
pub struct Pair {
    /// The client namespace.
    pub a: String,
    /// The server namespace.
    pub b: String,
    /// The veth end in `a`.
    pub va: String,
    /// The veth end in `b`.
    pub vb: String,
    /// IPv4 address in `a`.
    pub a4: IpAddr,
    /// IPv4 address in `b`.
    pub b4: IpAddr,
    /// IPv6 address in `a`.
    pub a6: IpAddr,
    /// IPv6 address in `b`.
    pub b6: IpAddr,
}

impl Pair {
    /// Creates both namespaces, the veth pair and the addresses (`10.231.x.0/24`, `fd00:231:x::/64`).
    pub fn create() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let subnet = (std::process::id() * 8 + n) % 250 + 1;
        let (a, b) = (format!("spa{tag}"), format!("spb{tag}"));
        let (va, vb) = (format!("v{a}"), format!("v{b}"));
        let pair = Self {
            va,
            vb,
            a4: format!("10.231.{subnet}.1").parse().unwrap(),
            b4: format!("10.231.{subnet}.2").parse().unwrap(),
            a6: format!("fd00:231:{subnet:x}::1").parse().unwrap(),
            b6: format!("fd00:231:{subnet:x}::2").parse().unwrap(),
            a,
            b,
        };
        let (va, vb) = (pair.va.clone(), pair.vb.clone());
        run(&["ip", "netns", "add", &pair.a]);
        run(&["ip", "netns", "add", &pair.b]);
        run(&[
            "ip", "link", "add", &va, "netns", &pair.a, "type", "veth", "peer", "name", &vb,
            "netns", &pair.b,
        ]);
        for (ns, dev, v4, v6) in [
            (&pair.a, &va, pair.a4, pair.a6),
            (&pair.b, &vb, pair.b4, pair.b6),
        ] {
            // IPv6 addresses skip duplicate address detection, so they are usable at once.
            for address in [format!("{v4}/24"), format!("{v6}/64 nodad")] {
                let mut args = vec!["ip", "-n", ns, "addr", "add", "dev", dev];
                args.extend(address.split(' '));
                run(&args);
            }
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }

    /// Turns segmentation and receive offloads off on both ends, so captures see wire-sized
    /// segments (as on a physical link) rather than 64 KiB super-packets.
    pub fn without_offloads(self) -> Self {
        for (ns, dev) in [(&self.a, &self.va), (&self.b, &self.vb)] {
            run(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                "off",
            ]);
        }
        self
    }

    /// Starts `traffic.py ARGS` in namespace `ns` and waits for "ready".
    pub fn serve(&self, ns: &str, args: &[&str]) -> Child {
        started(&mut traffic(ns, args), &format!("server {args:?}"))
    }

    /// Runs `traffic.py ARGS` in namespace `ns` to completion.
    pub fn client(&self, ns: &str, args: &[&str]) {
        let output = traffic(ns, args).output().unwrap();
        assert!(
            output.status.success(),
            "client {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn traffic(ns: &str, args: &[&str]) -> Command {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", ns, "python3"])
        .arg(crate::python_script("traffic.py"))
        .args(args);
    command
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.a]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.b]).status();
    }
}

/// Waits for a server to finish serving its one client.
pub fn finished(mut server: Child) {
    let status = server.wait().unwrap();
    assert!(status.success(), "server failed");
}

/// Network namespaces standing for the pods of one node, plugged in as a CNI plugin does it:
/// each pod's `eth0` is one end of a veth pair whose other end is on a bridge in the root
/// namespace, which holds the pods' gateway address. Everything is removed on drop.
pub struct PodNetwork {
    /// The bridge in the root namespace.
    pub bridge: String,
    /// The bridge's address, the pods' default gateway.
    pub gateway: IpAddr,
    /// The pods, in order of creation.
    pub pods: Vec<Pod>,
    tag: String,
    subnet: u32,
}

/// One "pod": a namespace with `eth0` and one IPv4 address.
pub struct Pod {
    /// Its network namespace.
    pub ns: String,
    /// Its veth end on the bridge, in the root namespace (where a node agent captures).
    pub host_veth: String,
    /// Its address.
    pub ip: IpAddr,
}

impl PodNetwork {
    /// Creates the bridge (`10.232.x.1/24`) and `pods` pods on it.
    pub fn create(pods: usize) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let subnet = (std::process::id() * 8 + n) % 250 + 1;
        let bridge = format!("sbr{tag}");
        run(&["ip", "link", "add", &bridge, "type", "bridge"]);
        let gateway: IpAddr = format!("10.232.{subnet}.1").parse().unwrap();
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{gateway}/24"),
            "dev",
            &bridge,
        ]);
        run(&["ip", "link", "set", &bridge, "up"]);
        let mut network = Self {
            bridge,
            gateway,
            pods: Vec::new(),
            tag,
            subnet,
        };
        for _ in 0..pods {
            network.add_pod();
        }
        network
    }

    /// Plugs in one more pod; returns it.
    pub fn add_pod(&mut self) -> &Pod {
        let index = self.pods.len();
        let ns = format!("spp{}p{index}", self.tag);
        let host_veth = format!("svh{}p{index}", self.tag);
        let ip: IpAddr = format!("10.232.{}.{}", self.subnet, index + 2)
            .parse()
            .unwrap();
        run(&["ip", "netns", "add", &ns]);
        run(&[
            "ip", "link", "add", &host_veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        run(&["ip", "link", "set", &host_veth, "master", &self.bridge]);
        run(&["ip", "link", "set", &host_veth, "up"]);
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ]);
        run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        run(&[
            "ip",
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            &self.gateway.to_string(),
        ]);
        self.pods.push(Pod { ns, host_veth, ip });
        self.pods.last().expect("just added")
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        for pod in &self.pods {
            let _ = Command::new("ip").args(["netns", "del", &pod.ns]).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}
