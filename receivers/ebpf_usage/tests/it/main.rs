//! Tests of the ebpf_usage receiver on the real kernel: network namespaces joined by a veth pair
//! stand for two hosts (or pods), known traffic flows between them, and the usage records must
//! carry exactly that traffic. They need root (CI runs as root).

mod full_map;
mod netns;
mod usage;
