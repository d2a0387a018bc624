"""Known traffic for the tests: exact numbers of send calls and bytes each way, TCP or UDP.

    traffic.py tcp-server ADDR PORT REPLIES REPLY_SIZE EXPECT_BYTES [PAUSE_SECONDS]
    traffic.py tcp-client ADDR PORT MESSAGES SIZE EXPECT_BYTES [PAUSE_SECONDS [SOURCE_ADDR]]
    traffic.py udp-server ADDR PORT DATAGRAMS REPLY_SIZE
    traffic.py udp-client ADDR PORT DATAGRAMS SIZE
    traffic.py dns-client ADDR PORT NAME QUERIES [SOURCE_ADDR]
Servers print "ready" once listening and serve one client. The DNS client asks for NAME's A
record QUERIES times over one connected UDP socket, as resolvers do, and prints the bytes it
sent and received as JSON. A client given SOURCE_ADDR binds to it first (a host-network pod
speaking from its node's address). Every send is one send() call whose
whole buffer is accepted (checked), so the counts are exact.
"""
import json
import socket
import struct
import sys
import time


def family(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def send_exactly(sock, data, peer=None):
    sent = sock.sendto(data, peer) if peer else sock.send(data)
    assert sent == len(data), f"short send: {sent} of {len(data)}"


def receive(sock, total):
    got = 0
    while got < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit(f"peer closed after {got} of {total} bytes")
        got += len(chunk)


def tcp_server(address, port, replies, reply_size, expect, pause="0"):
    with socket.socket(family(address), socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, int(port)))
        server.listen(1)
        print("ready", flush=True)
        connection, _ = server.accept()
        with connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            receive(connection, int(expect))
            for _ in range(int(replies)):
                send_exactly(connection, b"r" * int(reply_size))
                time.sleep(float(pause))
            connection.shutdown(socket.SHUT_WR)
            while connection.recv(65536):
                pass


def tcp_client(address, port, messages, size, expect, pause="0", source=None):
    bind = (source, 0) if source else None
    with socket.create_connection((address, int(port)), timeout=30, source_address=bind) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(int(messages)):
            send_exactly(client, b"m" * int(size))
            time.sleep(float(pause))
        receive(client, int(expect))
        client.shutdown(socket.SHUT_WR)


def udp_server(address, port, datagrams, reply_size):
    with socket.socket(family(address), socket.SOCK_DGRAM) as server:
        server.bind((address, int(port)))
        print("ready", flush=True)
        for _ in range(int(datagrams)):
            _, peer = server.recvfrom(65536)
            send_exactly(server, b"a" * int(reply_size), peer)


def udp_client(address, port, datagrams, size):
    with socket.socket(family(address), socket.SOCK_DGRAM) as client:
        client.settimeout(10)
        for _ in range(int(datagrams)):
            send_exactly(client, b"q" * int(size), (address, int(port)))
            client.recvfrom(65536)


def dns_query(ident, name):
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)


def dns_client(address, port, name, queries, source=None):
    sent = received = 0
    with socket.socket(family(address), socket.SOCK_DGRAM) as client:
        client.settimeout(10)
        if source:
            client.bind((source, 0))
        client.connect((address, int(port)))
        for ident in range(int(queries)):
            query = dns_query(ident + 1, name)
            send_exactly(client, query)
            sent += len(query)
            received += len(client.recv(4096))
    print(json.dumps({"sent": sent, "received": received}))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"tcp-server": tcp_server, "tcp-client": tcp_client, "udp-server": udp_server, "udp-client": udp_client, "dns-client": dns_client}[command](*args)
