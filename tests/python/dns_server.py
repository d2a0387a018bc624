"""A small DNS server for the cluster simulator: answers every question with one A record.

    dns_server.py ADDR PORT ANSWER_IP QUERIES
Prints "ready" once listening, answers QUERIES queries (each with one datagram), then exits.
"""
import socket
import struct
import sys


def answer(query, address):
    """The response to `query`: its id and question, one A record of `address`, TTL 30."""
    (ident,) = struct.unpack("!H", query[:2])
    end = 12
    while query[end] != 0:
        end += 1 + query[end]
    question = query[12 : end + 5]
    header = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0)
    record = struct.pack("!HHHLH", 0xC00C, 1, 1, 30, 4) + socket.inet_aton(address)
    return header + question + record


def main(addr, port, answer_ip, queries):
    with socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind((addr, int(port)))
        print("ready", flush=True)
        for _ in range(int(queries)):
            query, peer = server.recvfrom(4096)
            server.sendto(answer(query, answer_ip), peer)


if __name__ == "__main__":
    main(*sys.argv[1:])
