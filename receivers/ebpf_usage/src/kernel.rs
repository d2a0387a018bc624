//! The kernel programs: loaded and attached with aya, and drained without losing a count.
//!
//! Draining flips `control.generation`, waits for programs in flight to finish counting into the
//! old generation, then reads and deletes every entry of it: nothing is counted twice or lost
//! between reads. Both generations share one map (see `ebpf/usage.bpf.c` for why).

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::programs::{BtfTracePoint, CgroupAttachMode, CgroupSkb, CgroupSkbAttachType};
use aya::{Btf, Ebpf, EbpfLoader};

use crate::layout::{Control, FlowKey, FlowValue};

/// The compiled programs (`ebpf/usage.bpf.o`, rebuilt and checked by `ebpf/build.sh`).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../../../ebpf/usage.bpf.o");

/// How long programs that looked up the old map may still be writing to it.
const GRACE: Duration = Duration::from_millis(5);

/// The loaded programs and their maps.
pub struct Kernel {
    /// Keeps the programs attached; they detach when it is dropped.
    ebpf: Ebpf,
    flows: HashMap<MapData, FlowKey, FlowValue>,
    control: Array<MapData, Control>,
    overflow: PerCpuArray<MapData, u64>,
    generation: u32,
    capacity: u32,
}

/// What one program has cost since it was loaded, counted while the kernel's BPF statistics
/// are on (`aya::sys::enable_stats`, as the overhead benchmark turns them on).
#[derive(Debug, Clone)]
pub struct ProgramRuns {
    /// The program's name in the object.
    pub name: String,
    /// Times it ran.
    pub runs: u64,
    /// Time spent in it.
    pub time: Duration,
}

/// What one drain found.
pub struct Drained {
    /// Every entry of the idle generation.
    pub entries: Vec<(FlowKey, FlowValue)>,
    /// How full the map was (both generations): at 1, new flows are counted as overflow.
    pub fill: f64,
}

/// The step of loading, attaching or reading the programs that failed, and the kernel's (or
/// aya's) reason: a missing BTF, a refused load, a cgroup that is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {reason}")]
pub struct KernelError {
    /// What was being done.
    pub step: String,
    /// Why it failed.
    pub reason: String,
}

fn error(step: &str, error: impl std::fmt::Display) -> KernelError {
    KernelError {
        step: step.to_owned(),
        reason: error.to_string(),
    }
}

impl Kernel {
    /// Loads the programs with room for `capacity` entries a generation and attaches them to the
    /// cgroup v2 hierarchy at `cgroup` (all sockets below it, in every network namespace). Below
    /// the hierarchy's root, the send/receive programs are scoped to it as well.
    pub fn attach(cgroup: &Path, capacity: u32) -> Result<Self, KernelError> {
        let btf = Btf::from_sys_fs()
            .map_err(|e| error("reading kernel BTF (/sys/kernel/btf/vmlinux)", e))?;
        let scoped = u32::from(is_below_root(cgroup));
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("scoped", &scoped, true)
            .map_max_entries("flows", capacity.saturating_mul(2))
            .load(OBJECT)
            .map_err(|e| error("loading the programs", e))?;
        let cgroup_dir =
            File::open(cgroup).map_err(|e| error(&format!("opening {}", cgroup.display()), e))?;
        for (name, attach_type) in [
            ("count_egress", CgroupSkbAttachType::Egress),
            ("count_ingress", CgroupSkbAttachType::Ingress),
        ] {
            let program: &mut CgroupSkb = program(&mut ebpf, name)?;
            program.load().map_err(|e| error(name, e))?;
            // Single: AllowMultiple is refused on the v2 root here (ARCHITECTURE.md, "Kernel hooks").
            program
                .attach(&cgroup_dir, attach_type, CgroupAttachMode::Single)
                .map_err(|e| error(&format!("attaching {name} to {}", cgroup.display()), e))?;
        }
        for (name, tracepoint) in [
            ("count_send", "sock_send_length"),
            ("count_recv", "sock_recv_length"),
        ] {
            let program: &mut BtfTracePoint = program(&mut ebpf, name)?;
            program.load(tracepoint, &btf).map_err(|e| error(name, e))?;
            program
                .attach()
                .map_err(|e| error(&format!("attaching {name} to {tracepoint}"), e))?;
        }
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| error(&format!("map {name}"), "missing from the object"))
        };
        let flows = HashMap::try_from(take("flows")?).map_err(|e| error("flows", e))?;
        let control = Array::try_from(take("control")?).map_err(|e| error("control", e))?;
        let overflow =
            PerCpuArray::try_from(take("overflow")?).map_err(|e| error("overflow", e))?;
        Ok(Self {
            ebpf,
            flows,
            control,
            overflow,
            generation: 0,
            capacity,
        })
    }

    /// Switches the programs to the other generation and empties the one they were counting
    /// into.
    pub async fn drain(&mut self) -> Result<Drained, KernelError> {
        let idle = self.generation as u8;
        self.generation ^= 1;
        self.control
            .set(
                0,
                Control {
                    generation: self.generation,
                },
                0,
            )
            .map_err(|e| error("switching generations", e))?;
        tokio::time::sleep(GRACE).await;
        let map = &mut self.flows;
        // The live generation's entries are skipped by key, without reading their values.
        let keys: Vec<FlowKey> = map.keys().filter_map(Result::ok).collect();
        let fill = keys.len() as f64 / (2.0 * f64::from(self.capacity));
        let idle_keys: Vec<FlowKey> = keys
            .into_iter()
            .filter(|key| key.generation == idle)
            .collect();
        let mut entries = Vec::with_capacity(idle_keys.len());
        for key in idle_keys {
            if let Ok(value) = map.get(&key, 0) {
                entries.push((key, value));
            }
            map.remove(&key)
                .map_err(|e| error("emptying the flows map", e))?;
        }
        Ok(Drained { entries, fill })
    }

    /// Runs and time of each program (zero unless the kernel's BPF statistics were on).
    pub fn program_runs(&self) -> Vec<ProgramRuns> {
        self.ebpf
            .programs()
            .filter_map(|(name, program)| {
                let info = program.info().ok()?;
                Some(ProgramRuns {
                    name: name.to_owned(),
                    runs: info.run_count(),
                    time: info.run_time(),
                })
            })
            .collect()
    }

    /// New flows dropped so far because a map was full.
    pub fn overflowed(&self) -> u64 {
        self.overflow
            .get(&0, 0)
            .map(|per_cpu| per_cpu.iter().sum())
            .unwrap_or(0)
    }
}

/// Whether `cgroup` is a subtree rather than the whole hierarchy. Only the root cgroup has no
/// `cgroup.type`; the root of a cgroup namespace (a kind node's container) has one, so an agent
/// inside such a node is scoped to it.
fn is_below_root(cgroup: &Path) -> bool {
    cgroup.join("cgroup.type").exists()
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, KernelError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let program = ebpf
        .program_mut(name)
        .ok_or_else(|| error(&format!("program {name}"), "missing from the object"))?;
    program.try_into().map_err(|e| error(name, e))
}
