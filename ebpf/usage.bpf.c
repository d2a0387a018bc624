// SPDX-License-Identifier: GPL-2.0
/* Gocipher: counts, per directional pair of IP endpoints, the packets, payload bytes and
 * send/receive calls of TCP and UDP traffic of every local socket.
 *
 * - cgroup_skb ingress/egress on the cgroup v2 root see every packet of every local socket, in
 *   all network namespaces: packets, payload bytes, and the SYN that names the client.
 * - tp_btf sock_send_length/sock_recv_length fire once per send/receive call: exact message
 *   counts and the exact bytes the application wrote or read.
 *
 * Programs count into entries of the generation control.generation says (a field of the key);
 * user space flips the generation, waits for programs in flight, and drains the idle
 * generation's entries, so no count is lost. One map rather than one per generation: a lookup
 * whose map is chosen at run time cannot be inlined by the verifier and becomes an indirect call
 * (a retpoline where Spectre mitigations are on), which cost more than the rest of a run.
 *
 * Scope: the cgroup_skb programs fire only for sockets inside the cgroup they are attached to,
 * but the tracepoints fire for every socket of the kernel. When the loader sets `scoped` (the
 * agent counts one cgroup subtree: one kind/k3d node of several on one kernel), the packet
 * programs mark each socket they see in `in_scope` (socket-local storage), and the call
 * programs count only marked sockets. A socket's first packet passes a packet hook before its
 * first send or receive call returns (TCP's handshake; UDP sends synchronously and queues what
 * it receives through the ingress hook). The exception: data that rides on the handshake's last
 * ACK (or TCP Fast Open) is filtered on the listener, so an accepted socket's first receive
 * call may come before its own first packet and go uncounted. Linux clients send their first
 * data after the handshake, and Fast Open is off by default, so this is rare.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "usage.h"

_Static_assert(sizeof(struct flow_key) == FLOW_KEY_SIZE, "flow_key layout");
_Static_assert(sizeof(struct flow_value) == FLOW_VALUE_SIZE, "flow_value layout");

#define AF_INET 2
#define AF_INET6 10

/* The kernel types the socket hooks read; CO-RE relocates the fields to the running kernel. */
struct in6_addr___spider {
	union {
		__u32 u6_addr32[4];
	} in6_u;
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr___spider skc_v6_daddr;
	struct in6_addr___spider skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct inet_sock {
	__be16 inet_sport;
} __attribute__((preserve_access_index));

/* Both generations; sized by the loader (twice max_flows); 131072 is only the default. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct control);
} control SEC(".maps");

/* Set by the loader: 1 when only the sockets of the attached cgroup subtree are counted. */
const volatile __u32 scoped = 0;

/* Sockets the packet programs saw, so inside the scope (only kept when scoped). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} in_scope SEC(".maps");

/* New flows that found their map full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} overflow SEC(".maps");

static __always_inline __u8 current_generation(void)
{
	__u32 zero = 0;
	struct control *control_entry = bpf_map_lookup_elem(&control, &zero);
	return control_entry && control_entry->generation ? 1 : 0;
}

static __always_inline void count(struct flow_key *key, __u64 packets, __u64 bytes, __u64 calls, __u32 flags)
{
	key->generation = current_generation();
	struct flow_value *value = bpf_map_lookup_elem(&flows, key);
	if (!value) {
		struct flow_value fresh = {.first_ns = bpf_ktime_get_ns()};
		long error = bpf_map_update_elem(&flows, key, &fresh, BPF_NOEXIST);
		if (error && error != -17 /* EEXIST: another CPU created it */) {
			__u32 zero = 0;
			__u64 *full = bpf_map_lookup_elem(&overflow, &zero);
			if (full)
				*full += 1;
			return;
		}
		value = bpf_map_lookup_elem(&flows, key);
		if (!value)
			return;
	}
	/* Each atomic add costs; the callers pass constant zeros for what their source does not
	 * count (packets for calls, calls for packets), so those adds compile away. */
	if (packets)
		__sync_fetch_and_add(&value->packets, packets);
	if (bytes)
		__sync_fetch_and_add(&value->bytes, bytes);
	if (calls)
		__sync_fetch_and_add(&value->calls, calls);
	if (flags)
		__sync_fetch_and_or(&value->flags, flags);
}

/* Copies `size` bytes at `offset` of the packet into `to`: straight from the linear data when
 * it holds them, as it does for the headers of local sockets' packets (no helper call), else
 * through bpf_skb_load_bytes. */
static __always_inline int read_packet(struct __sk_buff *skb, __u32 offset, void *to, const __u32 size)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (offset <= 64 && data + offset + size <= data_end) {
		__builtin_memcpy(to, data + offset, size);
		return 0;
	}
	return bpf_skb_load_bytes(skb, offset, to, size);
}

/* Reads ports, payload length and flags of the transport header at `offset`. */
static __always_inline int transport(struct __sk_buff *skb, __u32 offset, __u8 protocol, struct flow_key *key,
				     __u64 *payload, __u32 *flags)
{
	if (protocol == IPPROTO_TCP) {
		struct tcphdr tcp;
		if (read_packet(skb, offset, &tcp, sizeof(tcp)))
			return -1;
		key->src_port = bpf_ntohs(tcp.source);
		key->dst_port = bpf_ntohs(tcp.dest);
		__u32 headers = offset + tcp.doff * 4;
		/* skb->len covers every segment of a GSO/GRO aggregate, headers counted once. */
		*payload = skb->len > headers ? skb->len - headers : 0;
		if (tcp.syn && !tcp.ack)
			*flags |= FLOW_SYN;
		return 0;
	}
	if (protocol == IPPROTO_UDP) {
		struct udphdr udp;
		if (read_packet(skb, offset, &udp, sizeof(udp)))
			return -1;
		key->src_port = bpf_ntohs(udp.source);
		key->dst_port = bpf_ntohs(udp.dest);
		__u16 length = bpf_ntohs(udp.len);
		*payload = length > sizeof(udp) ? length - sizeof(udp) : 0;
		return 0;
	}
	return -1;
}

static __always_inline void mark_in_scope(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return;
	sk = bpf_sk_fullsock(sk);
	if (sk)
		bpf_sk_storage_get(&in_scope, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
}

static __always_inline void count_packet(struct __sk_buff *skb, __u8 source)
{
	if (scoped)
		mark_in_scope(skb);
	struct flow_key key = {.source = source};
	__u32 offset;
	__u8 protocol;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (read_packet(skb, 0, &ip, sizeof(ip)))
			return;
		if (ip.frag_off & bpf_htons(0x1fff))
			return; /* a later fragment: no transport header */
		__builtin_memcpy(key.src, &ip.saddr, 4);
		__builtin_memcpy(key.dst, &ip.daddr, 4);
		key.family = 4;
		protocol = ip.protocol;
		offset = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (read_packet(skb, 0, &ip6, sizeof(ip6)))
			return;
		__builtin_memcpy(key.src, &ip6.saddr, 16);
		__builtin_memcpy(key.dst, &ip6.daddr, 16);
		key.family = 6;
		protocol = ip6.nexthdr; /* extension headers are not followed */
		offset = sizeof(ip6);
	} else {
		return;
	}
	key.protocol = protocol;
	__u64 payload = 0;
	__u32 flags = 0;
	if (transport(skb, offset, protocol, &key, &payload, &flags))
		return;
	__u64 segments = skb->gso_segs > 1 ? skb->gso_segs : 1;
	count(&key, segments, payload, 0, flags);
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	count_packet(skb, FLOW_EGRESS);
	return 1;
}

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
	count_packet(skb, FLOW_INGRESS);
	return 1;
}

/* Fills the key from a connected socket; `sending` puts the socket at src, else at dst. */
static __always_inline int socket_key(struct sock *sk, int sending, struct flow_key *key)
{
	__u16 family = sk->__sk_common.skc_family;
	__u16 protocol = sk->sk_protocol;
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
		return -1;
	__u8 *local = sending ? key->src : key->dst;
	__u8 *remote = sending ? key->dst : key->src;
	__u16 local_port = sk->__sk_common.skc_num;
	__u16 remote_port = bpf_ntohs(sk->__sk_common.skc_dport);
	if (remote_port == 0)
		return -1; /* unconnected (UDP sendto/recvfrom): the packet hooks count it */
	if (local_port == 0) {
		/* Closed under the call (a reset while sending): the kernel gave the port back, which
		 * zeroes skc_num, but the socket still holds it as its source port. */
		__be16 source = 0;
		if (bpf_core_read(&source, sizeof(source), &((struct inet_sock *)sk)->inet_sport))
			return -1;
		local_port = bpf_ntohs(source);
		if (local_port == 0)
			return -1;
	}
	if (family == AF_INET) {
		__be32 local_address = sk->__sk_common.skc_rcv_saddr;
		__be32 remote_address = sk->__sk_common.skc_daddr;
		__builtin_memcpy(local, &local_address, 4);
		__builtin_memcpy(remote, &remote_address, 4);
		key->family = 4;
	} else if (family == AF_INET6) {
		__u32 local_address[4], remote_address[4];
		for (int i = 0; i < 4; i++) {
			local_address[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			remote_address[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
		}
		__builtin_memcpy(local, local_address, 16);
		__builtin_memcpy(remote, remote_address, 16);
		key->family = 6;
	} else {
		return -1;
	}
	key->protocol = protocol;
	key->src_port = sending ? local_port : remote_port;
	key->dst_port = sending ? remote_port : local_port;
	return 0;
}

static __always_inline void count_call(struct sock *sk, int length, int sending)
{
	if (!sk || length <= 0)
		return;
	if (scoped && !bpf_sk_storage_get(&in_scope, sk, 0, 0))
		return; /* a socket outside this agent's cgroup subtree */
	struct flow_key key = {.source = sending ? FLOW_SOCKET_SEND : FLOW_SOCKET_RECV};
	if (socket_key(sk, sending, &key))
		return;
	count(&key, 0, length, 1, 0);
}

SEC("tp_btf/sock_send_length")
int count_send(unsigned long long *ctx)
{
	count_call((struct sock *)ctx[0], (int)ctx[1], 1);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int count_recv(unsigned long long *ctx)
{
	count_call((struct sock *)ctx[0], (int)ctx[1], 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
