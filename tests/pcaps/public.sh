#!/usr/bin/env bash
# Public captures for the tests, from Debian packages (ARCHITECTURE.md, "Test peers"): python3-dpkt's examples
# and gopacket's test files. Extracted into DIR (default /var/cache/spider/pcaps).
set -euo pipefail
dir=${1:-/var/cache/spider/pcaps}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir"
cd "$work"
apt-get download python3-dpkt golang-github-google-gopacket-dev >/dev/null
for deb in *.deb; do dpkg-deb -x "$deb" x; done
cp x/usr/share/doc/python3-dpkt/examples/data/*.pcap "$dir/"
cp x/usr/share/gocode/src/github.com/google/gopacket/pcap/*.pcap "$dir/"
for order in le be; do
  for f in x/usr/share/gocode/src/github.com/google/gopacket/pcapgo/tests/$order/*.pcapng; do
    cp "$f" "$dir/gopacket-$order-$(basename "$f")"
  done
done
ls "$dir" | wc -l
