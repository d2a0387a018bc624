"""Compares what `spider analyze` wrote for a capture with what tshark 4.0 makes of the same file.

    tshark_compare.py PCAP DIR

TCP streams: tshark numbers them in order of first packet and splits them on a new SYN, as
Spider numbers the sessions of a run, so stream N is the session of sequence N (the low 32 bits
of its id: session_id % 2^32). Per stream and direction, the packets and the TCP payload bytes
(tcp.len) must be equal, and the endpoints the same pair.
HTTP: tshark's requests (method, URI) and responses (status) per stream, with out-of-order
reassembly on, against Spider's exchanges, as multisets.
Hosts: the (address, name, source) associations of DNS answers, TLS server names and HTTP Host
headers, against Spider's `hosts`, as sets.
Prints JSON: counts, matches and the first mismatches. DuckDB reads the Parquet files.

Known differences, left out of the comparison and counted:
- "tunneled_streams": TCP inside a tunnel (L2TP, VXLAN, GRE, IP-in-IP). Spider decodes the outer
  IP header only, so such a frame is a UDP (or GRE) packet between the tunnel ends for it, while
  tshark follows the inner TCP.
- "cut_requests_unread", "cut_responses_unread": HTTP messages in frames the snap length cut
  (libtrace's traces keep 96 bytes a frame) that Spider does not report. tshark lists a request
  line cut mid-URI; Spider's reassembly sees a gap where the bytes are missing and reads no
  message from the rest of that segment, so as not to report a URI or status that is not the one
  sent. Messages in cut frames that Spider does report are compared like the others.
- "tls_requests": HTTP that tshark decrypts from TLS with secrets embedded in the capture
  (gopacket's test301).
"""
import collections
import ipaddress
import json
import pathlib
import subprocess
import sys

import duckdb

TSHARK = ["tshark", "-n", "-o", "tcp.reassemble_out_of_order:TRUE", "-o", "tcp.desegment_tcp_streams:TRUE"]


def tshark(pcap, display_filter, fields):
    command = TSHARK + ["-r", pcap, "-Y", display_filter, "-T", "fields", "-E", "occurrence=f"]
    for field in fields:
        command += ["-e", field]
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def table(root, name, columns):
    files = list(pathlib.Path(root, name).rglob("*.parquet"))
    if not files:
        return []
    con = duckdb.connect()
    return con.execute(
        f"SELECT {columns} FROM read_parquet('{root}/{name}/**/*.parquet', hive_partitioning = true)"
    ).fetchall()


def streams(pcap):
    """stream → {(ip, port): [packets, bytes]}, and the streams carried in a tunnel."""
    found = collections.defaultdict(dict)
    tunneled = set()
    rows = tshark(pcap, "tcp", ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.len", "frame.protocols"])
    for stream, ip4, ip6, port, length, protocols in rows:
        layers = protocols.split(":")
        if layers.count("ip") + layers.count("ipv6") > 1:
            tunneled.add(int(stream))
        end = (ip4 or ip6, int(port))
        counts = found[int(stream)].setdefault(end, [0, 0])
        counts[0] += 1
        counts[1] += int(length or 0)
    for stream in tunneled:
        del found[stream]
    return found, tunneled


def compare_sessions(pcap, root, theirs, tunneled):
    ours = {}
    for sid, cip, cport, sip, sport, cp, sp, cb, sb in table(
        root,
        "tcp_sessions",
        "session_id % 4294967296 AS stream, client_ip, client_port, server_ip, server_port, packets_to_server, "
        "packets_to_client, bytes_to_server, bytes_to_client",
    ):
        ours[sid] = {(cip, cport): [cp, cb], (sip, sport): [sp, sb]}
        ours[sid] = {end: counts for end, counts in ours[sid].items() if counts[0] > 0}
    mismatches = []
    matched = 0
    for stream, ends in sorted(theirs.items()):
        mine = ours.get(stream)
        if mine == ends:
            matched += 1
        elif len(mismatches) < 10:
            mismatches.append({"stream": stream, "tshark": str(ends), "spider": str(mine)})
    return {
        "tunneled_streams": len(tunneled),
        "streams": len(theirs),
        "sessions": len(ours),
        "sessions_matched": matched,
        "session_mismatches": mismatches,
    }


def http_messages(pcap, display_filter, fields, tunneled):
    """tshark's HTTP messages as keys (stream first), split into those read from whole frames and
    those from frames the snap length cut (see above)."""
    whole, cut = collections.Counter(), collections.Counter()
    for stream, *values, captured, length in tshark(pcap, display_filter, ["tcp.stream", *fields, "frame.cap_len", "frame.len"]):
        if int(stream) not in tunneled:
            (cut if int(captured) < int(length) else whole)[(int(stream), *values)] += 1
    return whole, cut


def compare_http(pcap, root, tunneled):
    # HTTP that tshark decrypts from TLS with a capture's embedded secrets is outside Spider's view.
    tls_requests = len(tshark(pcap, "http.request and tls", ["tcp.stream"]))
    requests, cut_requests = http_messages(
        pcap, "http.request and not tls", ["http.request.method", "http.request.uri"], tunneled
    )
    responses, cut_responses = http_messages(
        pcap, "http.response and not tls and not http.response.code < 200", ["http.response.code"], tunneled
    )
    responses = collections.Counter({(stream, int(code)): n for (stream, code), n in responses.items()})
    our_requests = collections.Counter()
    our_responses = collections.Counter()
    for sid, method, path, query, status in table(root, "http", "session_id % 4294967296 AS stream, method, path, query, status"):
        if method is not None:
            uri = path + ("?" + query if query is not None else "")
            our_requests[(sid, method, uri)] += 1
        if status is not None and status >= 200:
            our_responses[(sid, status)] += 1
    # A message from a cut frame that Spider read too is compared like any other; only those it
    # did not read are left out, and counted.
    # (tshark gives a status line cut before its code no code at all.)
    cut_response_count = sum(cut_responses.values())
    cut_responses = collections.Counter(
        {(stream, int(code)): n for (stream, code), n in cut_responses.items() if code.isdigit()}
    )
    requests += cut_requests & our_requests
    responses += cut_responses & our_responses
    return {
        "tls_requests": tls_requests,
        "cut_requests_unread": sum((cut_requests - our_requests).values()),
        "cut_responses_unread": cut_response_count - sum((cut_responses & our_responses).values()),
        "requests": sum(requests.values()),
        "requests_matched": sum((requests & our_requests).values()),
        "our_requests": sum(our_requests.values()),
        "responses": sum(responses.values()),
        "responses_matched": sum((responses & our_responses).values()),
        "our_responses": sum(our_responses.values()),
        "request_mismatches": [str(k) for k in list((requests - our_requests) + (our_requests - requests))[:10]],
        "response_mismatches": [str(k) for k in list((responses - our_responses) + (our_responses - responses))[:10]],
    }


def tshark_all(pcap, display_filter, fields):
    """Like tshark(), with every occurrence of a field, comma-separated."""
    command = TSHARK + ["-r", pcap, "-Y", display_filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for field in fields:
        command += ["-e", field]
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def host_name(name):
    """A name as Spider keeps it: lower case, no trailing dot, at most 253 bytes; else None."""
    name = name.rstrip(".").lower()
    return name if 0 < len(name) <= 253 else None


def is_address(text):
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


def http_host(host):
    """An HTTP Host header's name without its port; None for an address literal."""
    if host.startswith("["):
        return None
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return None if is_address(name) else host_name(name)


def compare_hosts(pcap, root, tunneled):
    """Host associations (address, name, source) as tshark reads them against Spider's hosts:
    DNS answers on port 53 (the name asked for, for every A and AAAA address), TLS ClientHello
    server names and HTTP Host headers (for the address the packet went to), leaving out the
    streams carried in a tunnel (see above)."""
    theirs = set()
    dns = "dns.flags.response == 1 and (udp.port == 53 or tcp.port == 53)"
    for name, a, aaaa in tshark_all(pcap, dns, ["dns.qry.name", "dns.a", "dns.aaaa"]):
        name = host_name(name.split(",")[0])
        for address in (a + "," + aaaa).split(","):
            if name and address:
                theirs.add((str(ipaddress.ip_address(address)), name, "dns"))
    sni = ["tcp.stream", "tls.handshake.extensions_server_name", "ip.dst", "ipv6.dst"]
    for stream, name, ip4, ip6 in tshark(pcap, "tls.handshake.type == 1", sni):
        if host_name(name) and int(stream) not in tunneled:
            theirs.add((ip4 or ip6, host_name(name), "sni"))
    host = ["tcp.stream", "http.host", "ip.dst", "ipv6.dst"]
    for stream, name, ip4, ip6 in tshark(pcap, "http.request and http.host and not tls", host):
        if http_host(name) and int(stream) not in tunneled:
            theirs.add((ip4 or ip6, http_host(name), "host"))
    ours = {(str(ip), name, source) for ip, name, source in table(root, "hosts", "ip, name, source")}
    return {
        "host_names": len(theirs),
        "host_names_matched": len(theirs & ours),
        "our_host_names": len(ours),
        "host_mismatches": [str(k) for k in sorted((theirs - ours) | (ours - theirs))[:10]],
    }


def main():
    pcap, root = sys.argv[1], sys.argv[2]
    theirs, tunneled = streams(pcap)
    result = compare_sessions(pcap, root, theirs, tunneled)
    result.update(compare_http(pcap, root, tunneled))
    result.update(compare_hosts(pcap, root, tunneled))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
