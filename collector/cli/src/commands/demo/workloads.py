"""The living demo's workloads: small servers and clients that talk the way a cluster's pods do.

    workloads.py http PORT REPLY_BYTES [UPSTREAM ...]   an HTTP server; each request first calls
                                                        its upstreams (http://NAME:PORT/PATH or
                                                        tcp://NAME:PORT for the database)
    workloads.py db PORT                                a database: a 64-byte query, rows back
    workloads.py dns PORT NAME=IP ...                   a DNS server answering A queries
    workloads.py client SECONDS URL ...                 GETs each URL, then sleeps, forever
    workloads.py cron SECONDS URL ...                   one burst every SECONDS, on the clock

Names are resolved through the demo's DNS Service (SPIDER_DEMO_DNS) on every call, as pods
without a cache do, so DNS shows on the map. Servers listen on SPIDER_DEMO_BIND (a host-network
pod's node address; every address by default) and print "ready" once listening.
"""
import os
import random
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

DNS = os.environ.get("SPIDER_DEMO_DNS", "")
# A host-network pod listens on its node's address only.
BIND = os.environ.get("SPIDER_DEMO_BIND", "0.0.0.0")


def resolve(name):
    """The A record of NAME from the demo's DNS over a connected UDP socket."""
    try:
        socket.inet_aton(name)
        return name
    except OSError:
        pass
    query = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    query += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect((DNS, 53))
        sock.send(query)
        answer = sock.recv(512)
    if struct.unpack(">H", answer[6:8])[0] == 0:
        raise OSError(f"{name}: no such name")
    return socket.inet_ntoa(answer[-4:])


def call(upstream):
    """One call to an upstream; a failure is printed and the caller goes on."""
    parts = urlsplit(upstream)
    try:
        address = resolve(parts.hostname)
        if parts.scheme == "tcp":
            with socket.create_connection((address, parts.port), timeout=5) as sock:
                sock.sendall(b"SELECT".ljust(64, b" "))
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass  # the rows, to the end: closing with unread data would reset
        else:
            url = f"http://{address}:{parts.port}{parts.path or '/'}"
            body = b"x" * random.randrange(200, 2000) if parts.path.startswith("/upload") else None
            request = urllib.request.Request(url, data=body, headers={"Host": parts.hostname})
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
    except urllib.error.HTTPError:
        pass  # an answer all the same (the users ask for pages that do not exist)
    except Exception as error:  # a refused or cut connection: the loop goes on
        print(f"{upstream}: {error}", file=sys.stderr, flush=True)


def http(port, reply_bytes, *upstreams):
    size = int(reply_bytes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            for upstream in upstreams:
                call(upstream)
            body = b"o" * random.randrange(size // 2, size + 1)
            status = 404 if self.path.startswith("/missing") else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = handle_one
        do_POST = handle_one

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a client that went away: nothing to log for each request

    server = Server((BIND, int(port)), Handler)
    print("ready", flush=True)
    server.serve_forever()


def db(port):
    listener = socket.create_server((BIND, int(port)))
    print("ready", flush=True)

    def serve(conn):
        with conn:
            try:
                while len(conn.recv(64)) == 64:
                    conn.sendall(b"r" * random.randrange(500, 4000))
            except OSError:
                pass  # a client that went away

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def dns(port, *records):
    table = dict(record.split("=", 1) for record in records)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((BIND, int(port)))
    print("ready", flush=True)
    while True:
        query, peer = sock.recvfrom(512)
        labels, at = [], 12
        while at < len(query) and query[at]:
            labels.append(query[at + 1 : at + 1 + query[at]].decode(errors="replace"))
            at += 1 + query[at]
        question = query[12 : at + 5]
        address = table.get(".".join(labels))
        flags, answers = (0x8180, 1) if address else (0x8183, 0)
        reply = query[:2] + struct.pack(">HHHHH", flags, 1, answers, 0, 0) + question
        if address:
            reply += struct.pack(">HHHLH", 0xC00C, 1, 1, 30, 4) + socket.inet_aton(address)
        sock.sendto(reply, peer)


def client(seconds, *urls):
    while True:
        for url in urls:
            call(url)
        time.sleep(float(seconds) * random.uniform(0.5, 1.5))


def cron(seconds, *urls):
    """Wakes at the 5th second of every SECONDS of the clock, as a CronJob's schedule does."""
    period = float(seconds)
    while True:
        time.sleep(period - (time.time() - 5) % period)
        for _ in range(random.randrange(3, 8)):
            for url in urls:
                call(url)


if __name__ == "__main__":
    role, *arguments = sys.argv[1:]
    {"http": http, "db": db, "dns": dns, "client": client, "cron": cron}[role](*arguments)
