/*
 * fd-socket-opts.c - socket options: one table says which options a
 * snapshot keeps, which ones make a dump refuse, and how each one is read,
 * written and bounded (docs/sockets.md lists them with the reasons).
 *
 * Dump reads every option of the table that applies to the socket (by
 * family and protocol) on the pidfd_getfd() duplicate, and the same option
 * on a fresh socket of the same family, type and protocol made in the
 * target's network namespace.  An option whose value is the fresh socket's
 * is left to the kernel: a restore on a host whose sysctls differ gets that
 * host's default, as a cold start would.  One that differs is stored as
 * (level, name, value) or, for an option thaw cannot put back, refuses the
 * dump with its name.  Buffer sizes are stored when the program set them,
 * which SO_BUF_LOCK tells: a size it did not set is the kernel's to tune.
 *
 * Restore checks every stored option against the table (known, applicable
 * to the socket, inside its bounds) before making anything, then sets each
 * one that differs on the new socket, reads it back and fails naming the
 * option if the kernel gives back another value.  Options that bind() must
 * see (SO_REUSEADDR, SO_BINDTODEVICE, IP_FREEBIND ...) are set before bind,
 * the rest once the socket is bound, listening or connected and its queue
 * refilled (SO_PEEK_OFF, SO_PASSCRED and a filter must not see the refill).
 *
 * The same goes for what is not an option of the table: multicast groups
 * (fd-socket-mcast.c) and a classic BPF filter, read back with
 * SO_GET_FILTER, attached again and locked again (SO_LOCK_FILTER) after
 * everything else.  An eBPF filter cannot be read back: it refuses the dump.
 */
#define LOG_TAG "fds"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fd-socket.h"

/* Newer than the Debian 12 headers; the kernel answers ENOPROTOOPT where it lacks them. */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_RCVPRIORITY
#define SO_RCVPRIORITY 82
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif
#ifndef IPV6_FLOWINFO
#define IPV6_FLOWINFO 11 /* linux/in6.h */
#endif
#ifndef IPV6_FLOWINFO_SEND
#define IPV6_FLOWINFO_SEND 33
#endif
#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44
#endif
#ifndef TCP_RTO_MIN_US
#define TCP_RTO_MIN_US 45
#endif
#ifndef TCP_DELACK_MAX_US
#define TCP_DELACK_MAX_US 46
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOCK_SNDBUF_LOCK
#define SOCK_SNDBUF_LOCK 1 /* SO_BUF_LOCK's bits: linux/socket.h */
#define SOCK_RCVBUF_LOCK 2
#endif
#ifndef SOF_TIMESTAMPING_BIND_PHC
#define SOF_TIMESTAMPING_BIND_PHC (1 << 15)
#endif

enum opt_kind {
	K_INT, /* an int */
	K_BOOL, /* an int that reads 0 or 1 */
	K_LINGER, /* struct linger: l_linger when on, -1 - l_linger when off */
	K_TIMEO, /* struct timeval, in microseconds */
	K_U64, /* 64 bits (SO_MAX_PACING_RATE) */
	K_BUF, /* SO_SNDBUF/SO_RCVBUF: kept when SO_BUF_LOCK says the program set it */
	K_STR, /* a name: SO_BINDTODEVICE, TCP_CONGESTION, kept in the attrs' strings */
	K_BYTES, /* refusal only: compared byte for byte with the fresh socket's */
};

#define FAM_UNIX (1u << 0)
#define FAM_INET (1u << 1)
#define FAM_INET6 (1u << 2)
#define FAM_IP (FAM_INET | FAM_INET6)
#define FAM_ALL (FAM_UNIX | FAM_IP)

enum opt_on { ON_ANY, ON_TCP, ON_UDP };

#define O_BIND (1u << 0) /* bind() must see it: set before */
#define O_REFUSE (1u << 1) /* thaw cannot put it back: set, it refuses the dump */
#define O_CONN (1u << 2) /* follows a connection: not kept when one comes back reset */

struct sockopt {
	const char *label;
	int level, name;
	uint8_t kind; /* enum opt_kind */
	uint8_t families; /* FAM_* */
	uint8_t on; /* enum opt_on */
	uint8_t flags; /* O_* */
	int64_t min, max; /* what restore accepts; 0, 0: the kind's own range */
};

/* the label is made here, where the name is still unexpanded */
#define OPT(lvl, fam, on, label, nm, k, fl, lo, hi) { label, lvl, nm, k, fam, on, fl, lo, hi }
#define SO_(nm, k, ...) OPT(SOL_SOCKET, FAM_ALL, ON_ANY, #nm, nm, k, __VA_ARGS__)
#define IP_(nm, k, ...) OPT(IPPROTO_IP, FAM_IP, ON_ANY, #nm, nm, k, __VA_ARGS__)
#define IP6_(nm, k, ...) OPT(IPPROTO_IPV6, FAM_INET6, ON_ANY, #nm, nm, k, __VA_ARGS__)
#define TCP_(nm, k, ...) OPT(IPPROTO_TCP, FAM_IP, ON_TCP, #nm, nm, k, __VA_ARGS__)
#define UDP_(nm, k, ...) OPT(IPPROTO_UDP, FAM_IP, ON_UDP, #nm, nm, k, __VA_ARGS__)
/* on/off flags */
#define SO_F(nm) SO_(nm, K_BOOL, 0, 0, 0)
#define IP_F(nm) IP_(nm, K_BOOL, 0, 0, 0)
#define IP6_F(nm) IP6_(nm, K_BOOL, 0, 0, 0)
#define TCP_F(nm) TCP_(nm, K_BOOL, 0, 0, 0)
#define UDP_F(nm) UDP_(nm, K_BOOL, 0, 0, 0)

/*
 * Every option thaw knows, in the order restore sets them: IP_TOS before
 * SO_PRIORITY (setting the TOS sets the priority too), SO_BUF_LOCK after the
 * sizes (setting a size locks it), SO_TIMESTAMPING_NEW after the old name.
 * docs/sockets.md explains the ones not here.
 */
static const struct sockopt opts[] = {
	IP_(IP_TOS, K_INT, 0, 0, 255),
	SO_(SO_REUSEADDR, K_BOOL, O_BIND, 0, 0),
	SO_(SO_REUSEPORT, K_BOOL, O_BIND, 0, 0),
	SO_(SO_BINDTODEVICE, K_STR, O_BIND, 0, 0),
	SO_F(SO_KEEPALIVE),
	SO_F(SO_BROADCAST),
	SO_F(SO_DEBUG),
	SO_F(SO_DONTROUTE),
	SO_F(SO_OOBINLINE),
	SO_(SO_PRIORITY, K_INT, 0, 0, 0),
	SO_(SO_MARK, K_INT, 0, 0, 0),
	SO_(SO_RCVLOWAT, K_INT, 0, 0, INT32_MAX),
	SO_(SO_RCVTIMEO_OLD, K_TIMEO, 0, 0, 0),
	SO_(SO_SNDTIMEO_OLD, K_TIMEO, 0, 0, 0),
	SO_(SO_LINGER, K_LINGER, 0, 0, 0),
	SO_(SO_SNDBUF, K_BUF, 0, 0, 0),
	SO_(SO_RCVBUF, K_BUF, 0, 0, 0),
	SO_(SO_BUF_LOCK, K_INT, 0, 0, 3),
	SO_F(SO_PASSCRED),
	SO_F(SO_PASSSEC),
	SO_F(SO_PASSPIDFD),
	SO_F(SO_PASSRIGHTS),
	SO_(SO_PEEK_OFF, K_INT, 0, -1, INT32_MAX),
	SO_F(SO_TIMESTAMP_OLD),
	SO_F(SO_TIMESTAMPNS_OLD),
	SO_F(SO_TIMESTAMP_NEW),
	SO_F(SO_TIMESTAMPNS_NEW),
	SO_(SO_TIMESTAMPING_OLD, K_INT, 0, 0, INT32_MAX),
	SO_(SO_TIMESTAMPING_NEW, K_INT, 0, 0, INT32_MAX),
	SO_F(SO_SELECT_ERR_QUEUE),
	SO_F(SO_WIFI_STATUS),
	SO_F(SO_NOFCS),
	SO_F(SO_RXQ_OVFL),
	SO_F(SO_ZEROCOPY),
	SO_(SO_INCOMING_CPU, K_INT, O_CONN, -1, INT32_MAX),
	SO_(SO_BUSY_POLL, K_INT, 0, 0, INT32_MAX),
	SO_F(SO_PREFER_BUSY_POLL),
	SO_(SO_BUSY_POLL_BUDGET, K_INT, 0, 0, UINT16_MAX),
	SO_(SO_MAX_PACING_RATE, K_U64, 0, 0, 0),
	SO_(SO_TXREHASH, K_INT, 0, 0, 255),
	SO_(SO_RESERVE_MEM, K_INT, 0, 0, INT32_MAX),
	SO_F(SO_RCVMARK),
	SO_F(SO_RCVPRIORITY),
	SO_(SO_TXTIME, K_BYTES, O_REFUSE, 0, 0),

	IP_(IP_FREEBIND, K_BOOL, O_BIND, 0, 0),
	IP_(IP_TRANSPARENT, K_BOOL, O_BIND, 0, 0),
	IP_(IP_BIND_ADDRESS_NO_PORT, K_BOOL, O_BIND, 0, 0),
	IP_(IP_LOCAL_PORT_RANGE, K_INT, O_BIND, 0, 0),
	IP_(IP_TTL, K_INT, 0, 1, 255),
	IP_(IP_MTU_DISCOVER, K_INT, 0, 0, 5),
	IP_(IP_MINTTL, K_INT, 0, 0, 255),
	IP_F(IP_RECVERR),
	IP_F(IP_RECVERR_RFC4884),
	IP_F(IP_PKTINFO),
	IP_F(IP_RECVTTL),
	IP_F(IP_RECVTOS),
	IP_F(IP_RECVOPTS),
	IP_F(IP_RETOPTS),
	IP_F(IP_RECVORIGDSTADDR),
	IP_F(IP_PASSSEC),
	IP_F(IP_RECVFRAGSIZE),
	IP_F(IP_CHECKSUM),
	IP_(IP_MULTICAST_TTL, K_INT, 0, 0, 255),
	IP_F(IP_MULTICAST_LOOP),
	IP_F(IP_MULTICAST_ALL),
	IP_(IP_MULTICAST_IF, K_INT, 0, 0, 0), /* the interface's address, as an int */
	IP_(IP_UNICAST_IF, K_INT, 0, 0, 0), /* an interface index in network order */
	IP_(IP_OPTIONS, K_BYTES, O_REFUSE, 0, 0),

	IP6_(IPV6_V6ONLY, K_BOOL, O_BIND, 0, 0),
	IP6_(IPV6_FREEBIND, K_BOOL, O_BIND, 0, 0),
	IP6_(IPV6_TRANSPARENT, K_BOOL, O_BIND, 0, 0),
	IP6_(IPV6_UNICAST_HOPS, K_INT, 0, -1, 255),
	IP6_(IPV6_MULTICAST_HOPS, K_INT, 0, -1, 255),
	IP6_F(IPV6_MULTICAST_LOOP),
	IP6_F(IPV6_MULTICAST_ALL),
	IP6_(IPV6_MULTICAST_IF, K_INT, 0, 0, INT32_MAX),
	IP6_(IPV6_UNICAST_IF, K_INT, 0, 0, 0),
	IP6_(IPV6_TCLASS, K_INT, 0, -1, 255),
	IP6_(IPV6_MTU_DISCOVER, K_INT, 0, 0, 5),
	IP6_(IPV6_MINHOPCOUNT, K_INT, 0, 0, 255),
	IP6_(IPV6_ADDR_PREFERENCES, K_INT, 0, 0, 0),
	IP6_F(IPV6_AUTOFLOWLABEL),
	IP6_F(IPV6_DONTFRAG),
	IP6_F(IPV6_FLOWINFO_SEND),
	IP6_F(IPV6_RECVPKTINFO),
	IP6_F(IPV6_RECVHOPLIMIT),
	IP6_F(IPV6_RECVHOPOPTS),
	IP6_F(IPV6_RECVRTHDR),
	IP6_F(IPV6_RECVDSTOPTS),
	IP6_F(IPV6_RECVTCLASS),
	IP6_F(IPV6_RECVPATHMTU),
	IP6_F(IPV6_RECVORIGDSTADDR),
	IP6_F(IPV6_RECVERR),
	IP6_F(IPV6_RECVERR_RFC4884),
	IP6_F(IPV6_RECVFRAGSIZE),
	IP6_F(IPV6_FLOWINFO),
	IP6_F(IPV6_2292PKTINFO),
	IP6_F(IPV6_2292HOPLIMIT),
	IP6_F(IPV6_2292HOPOPTS),
	IP6_F(IPV6_2292RTHDR),
	IP6_F(IPV6_2292DSTOPTS),
	IP6_(IPV6_HOPOPTS, K_BYTES, O_REFUSE, 0, 0),
	IP6_(IPV6_RTHDR, K_BYTES, O_REFUSE, 0, 0),
	IP6_(IPV6_RTHDRDSTOPTS, K_BYTES, O_REFUSE, 0, 0),
	IP6_(IPV6_DSTOPTS, K_BYTES, O_REFUSE, 0, 0),

	TCP_F(TCP_NODELAY),
	TCP_F(TCP_CORK),
	TCP_(TCP_KEEPIDLE, K_INT, 0, 1, 32767),
	TCP_(TCP_KEEPINTVL, K_INT, 0, 1, 32767),
	TCP_(TCP_KEEPCNT, K_INT, 0, 1, 127),
	TCP_(TCP_SYNCNT, K_INT, 0, 1, 127),
	TCP_(TCP_LINGER2, K_INT, 0, -1, INT32_MAX),
	TCP_(TCP_DEFER_ACCEPT, K_INT, 0, 0, INT32_MAX),
	TCP_(TCP_USER_TIMEOUT, K_INT, 0, 0, INT32_MAX),
	TCP_(TCP_CONGESTION, K_STR, 0, 0, 0),
	TCP_(TCP_NOTSENT_LOWAT, K_INT, 0, 0, 0),
	TCP_(TCP_FASTOPEN, K_INT, 0, 0, INT32_MAX),
	TCP_F(TCP_FASTOPEN_CONNECT),
	TCP_F(TCP_FASTOPEN_NO_COOKIE),
	TCP_F(TCP_THIN_LINEAR_TIMEOUTS),
	TCP_(TCP_SAVE_SYN, K_INT, 0, 0, 2),
	TCP_(TCP_TX_DELAY, K_INT, 0, 0, INT32_MAX),
	TCP_F(TCP_INQ),
	TCP_(TCP_RTO_MAX_MS, K_INT, 0, 0, INT32_MAX),
	TCP_(TCP_RTO_MIN_US, K_INT, 0, 0, INT32_MAX),
	TCP_(TCP_DELACK_MAX_US, K_INT, 0, 0, INT32_MAX),
	TCP_(TCP_MAXSEG, K_INT, O_CONN, 0, 65535),
	TCP_(TCP_WINDOW_CLAMP, K_INT, O_CONN, 0, INT32_MAX),
	TCP_(TCP_QUICKACK, K_BOOL, O_CONN, 0, 0),
	TCP_(TCP_REPAIR, K_INT, O_REFUSE, 0, 0),
	TCP_(TCP_ULP, K_BYTES, O_REFUSE, 0, 0),
	TCP_(TCP_FASTOPEN_KEY, K_BYTES, O_REFUSE, 0, 0),

	UDP_F(UDP_CORK),
	UDP_(UDP_SEGMENT, K_INT, 0, 0, 65535),
	UDP_F(UDP_GRO),
	UDP_F(UDP_NO_CHECK6_TX),
	UDP_F(UDP_NO_CHECK6_RX),
	UDP_(UDP_ENCAP, K_INT, O_REFUSE, 0, 0),
};

#define NR_OPTS (sizeof(opts) / sizeof(opts[0]))
#define OPT_BYTES 512 /* the most any K_BYTES option gives back that is compared */

/* The range a value of o may have, from its kind when the table says 0, 0. */
static void opt_bounds(const struct sockopt *o, int64_t *lo, int64_t *hi)
{
	*lo = o->min;
	*hi = o->max;
	if (*lo || *hi)
		return;
	switch (o->kind) {
	case K_BOOL:
		*hi = 1;
		break;
	case K_LINGER:
	case K_INT:
		*lo = o->kind == K_LINGER ? -1 - (int64_t)INT32_MAX : INT32_MIN;
		*hi = INT32_MAX;
		break;
	case K_BUF:
		*hi = INT32_MAX;
		break;
	case K_TIMEO:
		*hi = (int64_t)INT32_MAX * 1000000; /* more than the kernel keeps */
		break;
	default:
		*lo = INT64_MIN;
		*hi = INT64_MAX;
		break;
	}
}

static bool applies(const struct sockopt *o, int family, int type, int protocol)
{
	uint8_t fam = family == AF_UNIX ? FAM_UNIX : family == AF_INET ? FAM_INET : FAM_INET6;

	if (!(o->families & fam))
		return false;
	if (o->on == ON_TCP)
		return type == SOCK_STREAM && protocol == IPPROTO_TCP;
	if (o->on == ON_UDP)
		return type == SOCK_DGRAM && (protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE);
	return true;
}

/* The kernel has no such option for this socket: it is not part of its state. */
static bool not_here(int err)
{
	return err == -ENOPROTOOPT || err == -EOPNOTSUPP || err == -EINVAL;
}

/* Reads o on fd as one int64 (see enum opt_kind).  0 or -errno. */
static int opt_get(int fd, const struct sockopt *o, int64_t *ret)
{
	union {
		int i;
		struct linger lg;
		struct timeval tv;
		uint64_t u64;
	} v;
	socklen_t len;

	memset(&v, 0, sizeof(v));
	len = o->kind == K_LINGER ? sizeof(v.lg) :
	      o->kind == K_TIMEO  ? sizeof(v.tv) :
	      o->kind == K_U64	  ? sizeof(v.u64) :
				    sizeof(v.i);
	if (getsockopt(fd, o->level, o->name, &v, &len))
		return -errno;
	switch (o->kind) {
	case K_LINGER:
		*ret = v.lg.l_onoff ? v.lg.l_linger : -1 - (int64_t)v.lg.l_linger;
		break;
	case K_TIMEO:
		*ret = (int64_t)v.tv.tv_sec * 1000000 + v.tv.tv_usec;
		break;
	case K_U64:
		*ret = (int64_t)v.u64;
		break;
	case K_BOOL:
		*ret = v.i != 0;
		break;
	default:
		*ret = v.i;
		break;
	}
	return 0;
}

static int opt_set(int fd, const struct sockopt *o, int64_t val)
{
	union {
		int i;
		struct linger lg;
		struct timeval tv;
		uint64_t u64;
	} v;
	socklen_t len = sizeof(v.i);
	int name = o->name;

	memset(&v, 0, sizeof(v));
	switch (o->kind) {
	case K_LINGER:
		v.lg.l_onoff = val >= 0;
		v.lg.l_linger = (int)(val >= 0 ? val : -1 - val);
		len = sizeof(v.lg);
		if (!v.lg.l_onoff && v.lg.l_linger) {
			/* off, with a time kept from when it was on: set the time, then off */
			v.lg.l_onoff = 1;
			if (setsockopt(fd, o->level, name, &v, len))
				return -errno;
			v.lg.l_onoff = 0;
		}
		break;
	case K_TIMEO:
		v.tv.tv_sec = val / 1000000;
		v.tv.tv_usec = val % 1000000;
		len = sizeof(v.tv);
		break;
	case K_U64:
		v.u64 = (uint64_t)val;
		len = sizeof(v.u64);
		break;
	case K_BUF:
		/* the kernel doubles what it is given; FORCE passes net.core.*mem_max */
		v.i = (int)(val / 2);
		name = o->name == SO_SNDBUF ? SO_SNDBUFFORCE : SO_RCVBUFFORCE;
		break;
	default:
		v.i = (int)val;
		break;
	}
	return setsockopt(fd, o->level, name, &v, len) ? -errno : 0;
}

/* A string option (K_STR) into buf; "" when unset. */
static int opt_get_str(int fd, const struct sockopt *o, char *buf, size_t size)
{
	socklen_t len = (socklen_t)size - 1;

	memset(buf, 0, size);
	return getsockopt(fd, o->level, o->name, buf, &len) ? -errno : 0;
}

static char **str_slot(struct image_sock_attrs *a, const struct sockopt *o)
{
	return o->name == SO_BINDTODEVICE && o->level == SOL_SOCKET ? &a->bind_dev :
								       &a->congestion;
}

static const char *str_value(const struct image_sock_attrs *a, const struct sockopt *o)
{
	return *str_slot((struct image_sock_attrs *)a, o);
}

/* ------------------------------------------------------------- dump */

/*
 * A fresh socket like the dumped one, in the target's network namespace
 * (per-namespace sysctls give some options their defaults).  fd or -errno.
 */
static int fresh_socket(pid_t pid, int family, int type, int protocol)
{
	struct stat theirs, ours;
	char path[64];
	int ns = -1, self = -1, fd, err;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if (!stat(path, &theirs) && !stat("/proc/self/ns/net", &ours) &&
	    theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) {
		fd = socket(family, type | SOCK_CLOEXEC, protocol);
		return fd < 0 ? -errno : fd;
	}
	ns = open(path, O_RDONLY | O_CLOEXEC);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns < 0 || self < 0 || setns(ns, CLONE_NEWNET)) {
		fd = -errno;
		goto out;
	}
	fd = socket(family, type | SOCK_CLOEXEC, protocol);
	err = fd < 0 ? -errno : 0;
	if (setns(self, CLONE_NEWNET)) {
		/* this thread would make every later socket in the wrong namespace */
		log_error("returning to thaw's network namespace: %s", strerror(errno));
		abort();
	}
	if (err)
		fd = err;
out:
	if (ns >= 0)
		close(ns);
	if (self >= 0)
		close(self);
	return fd;
}

/* K_STR and K_BYTES: what the program's socket has against a fresh one; 1 when they differ. */
static int differs_bytes(int fd, int ref, const struct sockopt *o, char *mine, size_t size)
{
	char theirs[OPT_BYTES];
	socklen_t a = (socklen_t)size - 1, b = sizeof(theirs) - 1;
	int err;

	memset(mine, 0, size);
	memset(theirs, 0, sizeof(theirs));
	if (getsockopt(fd, o->level, o->name, mine, &a))
		return -errno;
	err = getsockopt(ref, o->level, o->name, theirs, &b) ? -errno : 0;
	if (err)
		return a > 0 ? 1 : 0; /* a fresh socket cannot say: what is set differs */
	return a != b || memcmp(mine, theirs, a);
}

static int refuse(struct fd_dump_ctx *ctx, struct fd_probe *p, const struct sockopt *o,
		  const char *value)
{
	return fd_dump_error(ctx, p, -ENOTSUP, "socket option %s is set%s%s: thaw cannot restore it",
			     o->label, value ? " to " : "", value ? value : "");
}

static int dump_one(struct fd_dump_ctx *ctx, struct fd_probe *p, int ref, const struct sockopt *o,
		    int buf_lock, struct image_sock_attrs *a)
{
	char num[32], mine[OPT_BYTES];
	int64_t v, fresh, lo, hi;
	int err;

	if (o->kind == K_STR || o->kind == K_BYTES) {
		err = differs_bytes(p->local, ref, o, mine, o->kind == K_STR ? 64 : sizeof(mine));
		if (err < 0)
			return not_here(err) ? 0 : fd_dump_error(ctx, p, err, "getsockopt %s: %s",
								 o->label, strerror(-err));
		if (!err)
			return 0;
		if (o->flags & O_REFUSE)
			return refuse(ctx, p, o, NULL);
		if (!mine[0] || strlen(mine) >= 16)
			return refuse(ctx, p, o, mine);
		*str_slot(a, o) = strdup(mine);
		return *str_slot(a, o) ? 0 : -ENOMEM;
	}
	err = opt_get(p->local, o, &v);
	if (err)
		return not_here(err) ? 0 : fd_dump_error(ctx, p, err, "getsockopt %s: %s", o->label,
							 strerror(-err));
	if (o->kind == K_BUF) {
		/* a size the program set locks it; an unlocked one is the kernel's to tune */
		if (!(buf_lock & (o->name == SO_SNDBUF ? SOCK_SNDBUF_LOCK : SOCK_RCVBUF_LOCK)))
			return 0;
	} else if (!opt_get(ref, o, &fresh) && fresh == v) {
		return 0;
	}
	snprintf(num, sizeof(num), "%lld", (long long)v);
	opt_bounds(o, &lo, &hi);
	if ((o->flags & O_REFUSE) || v < lo || v > hi)
		return refuse(ctx, p, o, num);
	if ((o->name == SO_TIMESTAMPING_OLD || o->name == SO_TIMESTAMPING_NEW) &&
	    o->level == SOL_SOCKET && (v & SOF_TIMESTAMPING_BIND_PHC))
		return refuse(ctx, p, o, "a value with SOF_TIMESTAMPING_BIND_PHC");
	a->opts[a->nr_opts++] = (struct image_sock_opt){ o->level, o->name, v };
	return 0;
}

/*
 * A classic BPF filter (SO_ATTACH_FILTER) reads back with SO_GET_FILTER,
 * whose length is counted in instructions; an eBPF program attached with
 * SO_ATTACH_BPF has no classic form and answers EACCES.
 */
static int dump_filter(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_sock_attrs *a)
{
	struct sock_filter *insns;
	socklen_t n = 0, got;
	int64_t locked = 0;
	uint32_t i;
	int err;

	if (getsockopt(p->local, SOL_SOCKET, SO_GET_FILTER, NULL, &n)) {
		if (errno == EACCES)
			return fd_dump_error(ctx, p, -ENOTSUP, "an eBPF socket filter "
					     "(SO_ATTACH_BPF) is attached: thaw cannot read it back");
		return fd_dump_error(ctx, p, -errno, "SO_GET_FILTER: %s", strerror(errno));
	}
	if (!opt_get(p->local, &(struct sockopt){ .level = SOL_SOCKET, .name = SO_LOCK_FILTER },
		     &locked))
		a->is_filter_locked = locked != 0;
	if (!n)
		return 0;
	if (n > IMAGE_MAX_SOCK_FILTER)
		return fd_dump_error(ctx, p, -E2BIG, "a socket filter of %u instructions", n);
	insns = calloc(n, sizeof(*insns));
	a->filter = calloc(n, sizeof(*a->filter));
	if (!insns || !a->filter) {
		free(insns);
		return -ENOMEM;
	}
	got = n;
	err = getsockopt(p->local, SOL_SOCKET, SO_GET_FILTER, insns, &got) ? -errno : 0;
	if (err || got != n) {
		free(insns);
		return fd_dump_error(ctx, p, err ? err : -EAGAIN, "SO_GET_FILTER: %s",
				     err ? strerror(-err) : "the filter changed");
	}
	for (i = 0; i < n; i++)
		a->filter[i] = (uint64_t)insns[i].code << 48 | (uint64_t)insns[i].jt << 40 |
			       (uint64_t)insns[i].jf << 32 | insns[i].k;
	a->nr_filter = n;
	free(insns);
	return 0;
}

int sockopts_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	struct image_sock_attrs *a = &out->sock.attrs;
	int ref, err = 0, buf_lock = 0;
	int64_t lock;
	size_t i;

	ref = fresh_socket(ctx->pid, out->sock.family, out->sock.type, out->sock.protocol);
	if (ref < 0)
		return fd_dump_error(ctx, p, ref, "a fresh socket to compare options with: %s",
				     strerror(-ref));
	a->opts = calloc(NR_OPTS, sizeof(*a->opts));
	if (!a->opts) {
		err = -ENOMEM;
		goto out;
	}
	if (!opt_get(p->local, &(struct sockopt){ .level = SOL_SOCKET, .name = SO_BUF_LOCK }, &lock))
		buf_lock = (int)lock;
	for (i = 0; !err && i < NR_OPTS; i++) {
		const struct sockopt *o = &opts[i];

		if (!applies(o, out->sock.family, out->sock.type, out->sock.protocol))
			continue;
		if ((o->flags & O_CONN) && out->sock.state == IMAGE_SOCK_RESET)
			continue;
		/*
		 * A connection's MSS comes back with it (fd-socket-tcp.c), not as
		 * user_mss; its repair mode is the dump's own (fd-socket-tcp.c
		 * refuses the program's); an accepted one's multicast TTL (hops) and interface are
		 * the SYN's, which no stream socket can be given (EINVAL) nor use.
		 * Its IPV6_V6ONLY changes nothing once it has its peer, and cannot
		 * be kept: binding its address, as restore must, sets it.
		 */
		if (out->sock.state == IMAGE_SOCK_TCP &&
		    ((o->level == IPPROTO_TCP && (o->name == TCP_MAXSEG || o->name == TCP_REPAIR)) ||
		     (o->level == IPPROTO_IPV6 && o->name == IPV6_V6ONLY)))
			continue;
		/*
		 * The same holds for a connection that comes back reset (--tcp-close:
		 * one the program accepted and still holds, say in CLOSE_WAIT).
		 */
		if ((out->sock.state == IMAGE_SOCK_TCP || out->sock.state == IMAGE_SOCK_RESET) &&
		    ((o->level == IPPROTO_IP &&
		      (o->name == IP_MULTICAST_TTL || o->name == IP_MULTICAST_IF)) ||
		     (o->level == IPPROTO_IPV6 &&
		      (o->name == IPV6_MULTICAST_HOPS || o->name == IPV6_MULTICAST_IF))))
			continue;
		err = dump_one(ctx, p, ref, o, buf_lock, a);
	}
	if (!err)
		err = sockmcast_dump(ctx, p, out);
	if (!err)
		err = dump_filter(ctx, p, a);
out:
	close(ref);
	return err;
}

/* ------------------------------------------------------------- restore */

static const struct sockopt *find_opt(int level, int name)
{
	size_t i;

	for (i = 0; i < NR_OPTS; i++)
		if (opts[i].level == level && opts[i].name == name)
			return &opts[i];
	return NULL;
}

static const struct image_sock_opt *stored(const struct image_fd *f, const struct sockopt *o)
{
	const struct image_sock_attrs *a = &f->sock.attrs;
	uint32_t i;

	for (i = 0; i < a->nr_opts; i++)
		if (a->opts[i].level == o->level && a->opts[i].name == o->name)
			return &a->opts[i];
	return NULL;
}

int sockopts_check(const struct image_fd *f)
{
	const struct image_sock_attrs *a = &f->sock.attrs;
	const char *bad = NULL;
	int64_t lo, hi;
	uint32_t i;

	for (i = 0; i < a->nr_opts; i++) {
		const struct image_sock_opt *s = &a->opts[i];
		const struct sockopt *o = find_opt(s->level, s->name);

		if (!o || o->kind == K_STR || (o->flags & O_REFUSE))
			return fd_restore_error(f, -EINVAL, "socket option %d/%d is not one thaw "
						"restores", s->level, s->name);
		if (!applies(o, f->sock.family, f->sock.type, f->sock.protocol))
			return fd_restore_error(f, -EINVAL, "socket option %s does not apply to this "
						"socket", o->label);
		opt_bounds(o, &lo, &hi);
		if (s->value < lo || s->value > hi)
			return fd_restore_error(f, -EINVAL, "socket option %s: %lld is outside "
						"[%lld, %lld]", o->label, (long long)s->value,
						(long long)lo, (long long)hi);
	}
	if (a->bind_dev && (!a->bind_dev[0] || strchr(a->bind_dev, '/')))
		bad = "SO_BINDTODEVICE";
	if (a->congestion && (!a->congestion[0] || f->sock.family == AF_UNIX ||
			      f->sock.type != SOCK_STREAM))
		bad = "TCP_CONGESTION";
	if (bad)
		return fd_restore_error(f, -EINVAL, "socket option %s: bad value", bad);
	if (a->nr_filter > IMAGE_MAX_SOCK_FILTER)
		return fd_restore_error(f, -EINVAL, "a socket filter of %u instructions",
					a->nr_filter);
	return sockmcast_check(f);
}

/* Sets o to val unless it already is, and reads it back. */
static int apply_one(int fd, const struct image_fd *f, const struct sockopt *o, int64_t val)
{
	int64_t now;
	int err;

	err = opt_get(fd, o, &now);
	if (!err && now == val)
		return 0;
	err = opt_set(fd, o, val);
	if (err)
		return fd_restore_error(f, err, "setting socket option %s to %lld: %s", o->label,
					(long long)val, strerror(-err));
	err = opt_get(fd, o, &now);
	if (err)
		return fd_restore_error(f, err, "reading socket option %s back: %s", o->label,
					strerror(-err));
	if (now != val)
		return fd_restore_error(f, -EIO, "socket option %s set to %lld reads back %lld",
					o->label, (long long)val, (long long)now);
	return 0;
}

static int apply_str(int fd, const struct image_fd *f, const struct sockopt *o, const char *val)
{
	char now[64];
	int err;

	if (!opt_get_str(fd, o, now, sizeof(now)) && !strcmp(now, val))
		return 0;
	if (setsockopt(fd, o->level, o->name, val, (socklen_t)strlen(val)))
		return fd_restore_error(f, -errno, "setting socket option %s to \"%s\": %s", o->label,
					val, strerror(errno));
	err = opt_get_str(fd, o, now, sizeof(now));
	if (err || strcmp(now, val))
		return fd_restore_error(f, err ? err : -EIO, "socket option %s set to \"%s\" reads "
					"back \"%s\"", o->label, val, err ? strerror(-err) : now);
	return 0;
}

/* The filter as the image has it, as the kernel takes it. */
static void filter_insns(const struct image_sock_attrs *a, struct sock_filter *insns)
{
	uint32_t i;

	for (i = 0; i < a->nr_filter; i++) {
		insns[i].code = (uint16_t)(a->filter[i] >> 48);
		insns[i].jt = (uint8_t)(a->filter[i] >> 40);
		insns[i].jf = (uint8_t)(a->filter[i] >> 32);
		insns[i].k = (uint32_t)a->filter[i];
	}
}

/*
 * Attaches the filter (the kernel checks the program as it did for the
 * program), reads it back, then locks it if it was: once locked, nothing
 * can attach.
 */
static int apply_filter(int fd, const struct image_fd *f)
{
	const struct image_sock_attrs *a = &f->sock.attrs;
	struct sock_filter *insns = NULL, *back = NULL;
	struct sock_fprog prog;
	socklen_t n;
	int on = 1, ret = 0;

	if (a->nr_filter) {
		insns = calloc(a->nr_filter, sizeof(*insns));
		back = calloc(a->nr_filter, sizeof(*back));
		if (!insns || !back) {
			ret = -ENOMEM;
			goto out;
		}
		filter_insns(a, insns);
		prog = (struct sock_fprog){ .len = (unsigned short)a->nr_filter, .filter = insns };
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog))) {
			ret = fd_restore_error(f, -errno, "attaching its socket filter (%u "
					       "instructions): %s", a->nr_filter, strerror(errno));
			goto out;
		}
		n = a->nr_filter;
		if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, back, &n) || n != a->nr_filter ||
		    memcmp(back, insns, n * sizeof(*back))) {
			ret = fd_restore_error(f, -EIO, "its socket filter reads back otherwise");
			goto out;
		}
	}
	if (a->is_filter_locked && setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &on, sizeof(on)))
		ret = fd_restore_error(f, -errno, "SO_LOCK_FILTER: %s", strerror(errno));
out:
	free(insns);
	free(back);
	return ret;
}

int sockopts_apply(int fd, const struct image_fd *f, enum sockopt_phase phase)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < NR_OPTS; i++) {
		const struct sockopt *o = &opts[i];
		const struct image_sock_opt *s;
		const char *str;

		if (phase != SOCKOPT_ALL && !(o->flags & O_BIND) != (phase == SOCKOPT_AFTER_BIND))
			continue;
		if (o->kind == K_STR) {
			str = str_value(&f->sock.attrs, o);
			if (str && applies(o, f->sock.family, f->sock.type, f->sock.protocol))
				err = apply_str(fd, f, o, str);
			continue;
		}
		s = stored(f, o);
		if (s)
			err = apply_one(fd, f, o, s->value);
	}
	if (!err && phase != SOCKOPT_BEFORE_BIND)
		err = sockmcast_apply(fd, f);
	if (!err && phase != SOCKOPT_BEFORE_BIND)
		err = apply_filter(fd, f);
	return err;
}

bool sockopts_value(const struct image_fd *f, int level, int name, int64_t *ret)
{
	const struct sockopt *o = find_opt(level, name);
	const struct image_sock_opt *s = o ? stored(f, o) : NULL;

	if (s)
		*ret = s->value;
	return s != NULL;
}
