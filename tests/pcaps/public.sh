#!/usr/bin/env bash
# Public captures for the tests, from Debian packages (ARCHITECTURE.md, "Test peers"), extracted into DIR
# (default /var/cache/spider/pcaps):
# - python3-dpkt's examples (BSD-3-Clause) and google/gopacket's test files (BSD-3-Clause);
# - gopacket/gopacket's newer pcapng tests (BSD-3-Clause): TLS with retransmissions, out-of-order and
#   missing segments, and embedded TLS secrets;
# - python3-libtrace's anonymised traces (GPL-3): HTTP cut at 96 bytes a frame by the snap length;
# - pcapfix's example (GPL-3+) and ruby-pcaprub's telnet session (LGPL-2).
# The GPL files are test data read by the tests, not linked into or shipped with Spider.
set -euo pipefail
dir=${1:-/var/cache/spider/pcaps}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir"
cd "$work"
apt-get download -o APT::Sandbox::User=root python3-dpkt golang-github-google-gopacket-dev golang-github-gopacket-gopacket-dev \
  python3-libtrace pcapfix ruby-pcaprub >/dev/null
for deb in *.deb; do dpkg-deb -x "$deb" x; done
cp x/usr/share/doc/python3-dpkt/examples/data/*.pcap "$dir/"
cp x/usr/share/gocode/src/github.com/google/gopacket/pcap/*.pcap "$dir/"
for order in le be; do
  for f in x/usr/share/gocode/src/github.com/google/gopacket/pcapgo/tests/$order/*.pcapng; do
    cp "$f" "$dir/gopacket-$order-$(basename "$f")"
  done
done
for test in test300 test301; do
  cp "x/usr/share/gocode/src/github.com/gopacket/gopacket/pcapgo/tests/le/$test.pcapng" "$dir/gopacket2-le-$test.pcapng"
done
for trace in anon-v4 anon-v6; do
  # Compressed twice over in the package.
  zcat "x/usr/share/doc/python3-libtrace/examples/$trace.pcap.gz" | zcat -f > "$dir/libtrace-$trace.pcap"
done
cp x/usr/share/doc/pcapfix/examples/test.pcap "$dir/pcapfix-test.pcap"
zcat x/usr/share/doc/ruby-pcaprub/examples/telnet-raw.pcap.gz > "$dir/pcaprub-telnet-raw.pcap"
ls "$dir" | wc -l
