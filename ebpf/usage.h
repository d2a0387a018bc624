/* The layout shared by the kernel programs (usage.bpf.c) and their loader
 * (receivers/ebpf_usage/src/layout.rs mirrors it; both sides assert the sizes).
 *
 * A flow key is directional: data went from src to dst. Packet hooks record the direction in
 * which the packet crossed a local socket's cgroup hook; socket hooks record the send or receive
 * call of a local socket. Addresses are 16 bytes: IPv4 in the first 4, the rest zero.
 */
#ifndef SPIDER_USAGE_H
#define SPIDER_USAGE_H

enum flow_source {
	FLOW_EGRESS = 0,      /* a packet leaving a local socket (cgroup_skb/egress) */
	FLOW_INGRESS = 1,     /* a packet reaching a local socket (cgroup_skb/ingress) */
	FLOW_SOCKET_SEND = 2, /* a send call of a local socket; src is that socket */
	FLOW_SOCKET_RECV = 3, /* a receive call of a local socket; dst is that socket */
};

enum flow_flags {
	FLOW_SYN = 1, /* a SYN without ACK went src → dst: src is the client */
};

struct flow_key {
	__u8 src[16];
	__u8 dst[16];
	__u16 src_port; /* host byte order */
	__u16 dst_port;
	__u8 family;    /* 4 or 6 */
	__u8 protocol;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 source;    /* enum flow_source */
	__u8 generation; /* control.generation when counted: the drain the entry belongs to */
};

struct flow_value {
	__u64 packets;  /* wire packets (GSO/GRO aggregates count their segments) */
	__u64 bytes;    /* transport payload bytes */
	__u64 calls;    /* send or receive calls (socket sources) */
	__u64 first_ns; /* first sighting, CLOCK_MONOTONIC */
	__u32 flags;    /* enum flow_flags */
	__u32 pad;
};

struct control {
	__u32 generation; /* which generation programs count into: 0 or 1 */
};

#define FLOW_KEY_SIZE 40
#define FLOW_VALUE_SIZE 40

#endif
