//! The capture references: the public pcaps `tests/pcaps/public.sh` extracts, and tshark.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The public pcap/pcapng files (`$SPIDER_PCAPS`, default `/var/cache/spider/pcaps`), sorted.
pub fn public_pcaps() -> Vec<PathBuf> {
    let dir = std::env::var_os("SPIDER_PCAPS")
        .map_or_else(|| PathBuf::from("/var/cache/spider/pcaps"), PathBuf::from);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "no public pcaps in {} ({e}): run tests/pcaps/public.sh (.ci/run does)",
                dir.display()
            )
        })
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no pcaps", dir.display());
    files
}

/// One public pcap by file name.
pub fn public_pcap(name: &str) -> PathBuf {
    public_pcaps()
        .into_iter()
        .find(|path| path.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("public pcap {name} is missing"))
}

/// Runs `tshark -r FILE ARGS…` and returns its standard output (tshark's complaints about a
/// cut-short file go to stderr and do not fail it).
pub fn tshark(file: &Path, args: &[&str]) -> String {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .expect("tshark runs (apt install tshark; .ci/run does)");
    String::from_utf8(output.stdout).expect("tshark prints UTF-8")
}

/// tshark's field rows: one `Vec` of tab-separated values per line.
pub fn tshark_fields(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-Y", filter, "-T", "fields", "-E", "occurrence=f"];
    for field in fields {
        args.extend(["-e", field]);
    }
    tshark(file, &args)
        .lines()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}
