/*
 * fd-socket-mcast.c - the multicast groups a datagram socket joined.
 *
 * No getsockopt() lists a socket's groups.  The network namespace's lists
 * do (/proc/PID/net/igmp and igmp6: every group some socket, or the stack
 * itself, joined, per interface), and MCAST_MSFILTER asked of one
 * (interface, group) answers for this socket alone: its filter mode and
 * sources, or EADDRNOTAVAIL when it is not a member.  So dump asks it of
 * every group listed; restore joins each group on the interface of the same
 * name (MCAST_JOIN_GROUP), sets its filter (MCAST_MSFILTER) and reads it
 * back.  An IPv6 socket may hold IPv4 groups too (for mapped traffic).
 */
#define LOG_TAG "fds"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "engine/fd-kinds.h"
#include "engine/fd-socket.h"

/* One (interface, group) of the namespace's lists. */
struct candidate {
	char dev[IF_NAMESIZE];
	int ifindex;
	struct sockaddr_storage group;
};

struct candidates {
	size_t nr, cap;
	struct candidate *list;
};

static int add_candidate(struct candidates *c, const char *dev, int ifindex, int family,
			 const void *addr)
{
	struct candidate *n;

	if (c->nr == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		n = realloc(c->list, c->cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->list = n;
	}
	n = &c->list[c->nr++];
	memset(n, 0, sizeof(*n));
	snprintf(n->dev, sizeof(n->dev), "%s", dev);
	n->ifindex = ifindex;
	n->group.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		memcpy(&((struct sockaddr_in *)&n->group)->sin_addr, addr, 4);
	else
		memcpy(&((struct sockaddr_in6 *)&n->group)->sin6_addr, addr, 16);
	return 0;
}

/*
 * /proc/PID/net/igmp: a line per interface ("1\tlo        :     1      V3")
 * followed by one per group ("\t\t\t\t010000E0     1 0:00000000\t\t0"), the
 * address as the hex of its network-order word.
 */
static int read_igmp(pid_t pid, struct candidates *c)
{
	char path[64], line[256], dev[IF_NAMESIZE] = "";
	int ifindex = 0, ret = 0;
	unsigned int word;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/igmp", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno; /* no IPv4 multicast in this kernel */
	while (!ret && fgets(line, sizeof(line), f)) {
		uint32_t s_addr;

		if (line[0] >= '0' && line[0] <= '9') {
			if (sscanf(line, "%d %15s", &ifindex, dev) != 2)
				ifindex = 0;
		} else if (line[0] == '\t' && ifindex > 0 && sscanf(line, " %x", &word) == 1) {
			s_addr = word;
			ret = add_candidate(c, dev, ifindex, AF_INET, &s_addr);
		}
	}
	fclose(f);
	return ret;
}

/* /proc/PID/net/igmp6: "1    lo              ff020000000000000000000000000001     1 ..." */
static int read_igmp6(pid_t pid, struct candidates *c)
{
	char path[64], line[256], dev[IF_NAMESIZE], hex[33];
	uint8_t addr[16];
	int ifindex, ret = 0, i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/igmp6", pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%d %15s %32[0-9a-f]", &ifindex, dev, hex) != 3 || strlen(hex) != 32)
			continue;
		for (i = 0; i < 16; i++) {
			unsigned int b;

			sscanf(hex + 2 * i, "%2x", &b);
			addr[i] = (uint8_t)b;
		}
		ret = add_candidate(c, dev, ifindex, AF_INET6, addr);
	}
	fclose(f);
	return ret;
}

static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *a = ss->ss_family == AF_INET ?
				(const void *)&((const struct sockaddr_in *)ss)->sin_addr :
				(const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	return inet_ntop(ss->ss_family, a, buf, (socklen_t)size) ? buf : "?";
}

static int level_of(int family)
{
	return family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
}

/* The membership of fd in one group as an image record; 1 if fd is no member. */
static int probe(int fd, const struct candidate *cand, struct group_filter *gf, socklen_t gf_size,
		 struct image_sock_mcast *ret)
{
	socklen_t len = gf_size;
	char text[INET6_ADDRSTRLEN];
	uint32_t i;

	memset(gf, 0, gf_size);
	gf->gf_interface = (uint32_t)cand->ifindex;
	gf->gf_group = cand->group;
	gf->gf_numsrc = IMAGE_MAX_SOCK_MCAST_SRC;
	if (getsockopt(fd, level_of(cand->group.ss_family), MCAST_MSFILTER, gf, &len))
		return errno == EADDRNOTAVAIL || errno == EINVAL || errno == ENODEV ? 1 : -errno;
	if (gf->gf_numsrc > IMAGE_MAX_SOCK_MCAST_SRC)
		return -E2BIG;
	memset(ret, 0, sizeof(*ret));
	ret->dev = strdup(cand->dev);
	ret->group = strdup(addr_text(&cand->group, text, sizeof(text)));
	ret->is_include = gf->gf_fmode == MCAST_INCLUDE;
	ret->nr_sources = gf->gf_numsrc;
	ret->sources = calloc(gf->gf_numsrc + 1, sizeof(*ret->sources));
	if (!ret->dev || !ret->group || !ret->sources)
		return -ENOMEM;
	for (i = 0; i < gf->gf_numsrc; i++) {
		ret->sources[i].addr = strdup(addr_text(&gf->gf_slist[i], text, sizeof(text)));
		if (!ret->sources[i].addr)
			return -ENOMEM;
	}
	return 0;
}

static int cmp_mcast(const void *x, const void *y)
{
	const struct image_sock_mcast *a = x, *b = y;
	int c = strcmp(a->dev, b->dev);

	return c ? c : strcmp(a->group, b->group);
}

int sockmcast_dump(struct fd_dump_ctx *ctx, struct fd_probe *p, struct image_fd *out)
{
	struct image_sock_attrs *a = &out->sock.attrs;
	socklen_t gf_size = GROUP_FILTER_SIZE(IMAGE_MAX_SOCK_MCAST_SRC);
	struct candidates c = { 0 };
	struct group_filter *gf = NULL;
	int ret;
	size_t i;

	if (out->sock.family == AF_UNIX || out->sock.type != SOCK_DGRAM)
		return 0;
	ret = read_igmp(ctx->pid, &c);
	if (!ret && out->sock.family == AF_INET6)
		ret = read_igmp6(ctx->pid, &c);
	if (ret) {
		ret = fd_dump_error(ctx, p, ret, "listing the multicast groups of its network "
					  "namespace: %s", strerror(-ret));
		goto out;
	}
	gf = malloc(gf_size);
	a->mcast = calloc(c.nr + 1, sizeof(*a->mcast));
	if (!gf || !a->mcast) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < c.nr; i++) {
		ret = probe(p->local, &c.list[i], gf, gf_size, &a->mcast[a->nr_mcast]);
		if (ret == 1) {
			ret = 0;
			continue;
		}
		a->nr_mcast++; /* what probe() allocated is the image's to free */
		if (ret) {
			ret = fd_dump_error(ctx, p, ret, "multicast group %s on %s: %s",
					    a->mcast[a->nr_mcast - 1].group ?: "?", c.list[i].dev,
					    ret == -E2BIG ? "too many sources" : strerror(-ret));
			goto out;
		}
		if (a->nr_mcast > IMAGE_MAX_SOCK_MCAST) {
			ret = fd_dump_error(ctx, p, -E2BIG, "member of more than %d multicast groups",
					    IMAGE_MAX_SOCK_MCAST);
			goto out;
		}
	}
	/*
	 * A set, in an order of its own: the kernel lists the groups newest
	 * first, so joined in the order read, a restored socket's would read
	 * back reversed (restore --verify compares them in order).
	 */
	qsort(a->mcast, a->nr_mcast, sizeof(*a->mcast), cmp_mcast);
out:
	free(gf);
	free(c.list);
	return ret;
}

/* ------------------------------------------------------------- restore */

/* The group's address into ss (family from the text); 0 or -EINVAL. */
static int parse_addr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int sockmcast_check(const struct image_fd *f)
{
	const struct image_sock_attrs *a = &f->sock.attrs;
	struct sockaddr_storage ss;
	uint32_t i;

	if (!a->nr_mcast)
		return 0;
	if (f->sock.family == AF_UNIX || f->sock.type != SOCK_DGRAM)
		return fd_restore_error(f, -EINVAL, "multicast groups on a socket that cannot join");
	for (i = 0; i < a->nr_mcast; i++)
		if (parse_addr(a->mcast[i].group, &ss) ||
		    (ss.ss_family == AF_INET6 && f->sock.family == AF_INET))
			return fd_restore_error(f, -EINVAL, "multicast group %s on this socket",
						a->mcast[i].group);
	return 0;
}

static int join(int fd, const struct image_fd *f, const struct image_sock_mcast *m,
		struct group_filter *gf, socklen_t gf_size)
{
	struct group_req req = { 0 };
	socklen_t len = gf_size;
	int ifindex = (int)if_nametoindex(m->dev), level;
	uint32_t i;

	if (!ifindex)
		return fd_restore_error(f, -ENODEV, "multicast group %s: no interface %s here",
					m->group, m->dev);
	req.gr_interface = (uint32_t)ifindex;
	if (parse_addr(m->group, &req.gr_group))
		return -EINVAL;
	level = level_of(req.gr_group.ss_family);
	if (setsockopt(fd, level, MCAST_JOIN_GROUP, &req, sizeof(req)))
		return fd_restore_error(f, -errno, "joining multicast group %s on %s: %s",
					m->group, m->dev, strerror(errno));
	if (!m->is_include && !m->nr_sources)
		return 0; /* any source: what joining gives */
	memset(gf, 0, gf_size);
	gf->gf_interface = (uint32_t)ifindex;
	gf->gf_group = req.gr_group;
	gf->gf_fmode = m->is_include ? MCAST_INCLUDE : MCAST_EXCLUDE;
	gf->gf_numsrc = m->nr_sources;
	for (i = 0; i < m->nr_sources; i++)
		if (parse_addr(m->sources[i].addr, &gf->gf_slist[i]))
			return fd_restore_error(f, -EINVAL, "multicast source %s", m->sources[i].addr);
	if (setsockopt(fd, level, MCAST_MSFILTER, gf, GROUP_FILTER_SIZE(m->nr_sources)))
		return fd_restore_error(f, -errno, "source filter of multicast group %s: %s",
					m->group, strerror(errno));
	/* read back: the kernel keeps at most net.ipv4.igmp_max_msf sources */
	gf->gf_numsrc = IMAGE_MAX_SOCK_MCAST_SRC;
	if (getsockopt(fd, level, MCAST_MSFILTER, gf, &len) || gf->gf_numsrc != m->nr_sources ||
	    gf->gf_fmode != (m->is_include ? MCAST_INCLUDE : MCAST_EXCLUDE))
		return fd_restore_error(f, -EIO, "source filter of multicast group %s reads back "
					"otherwise", m->group);
	return 0;
}

int sockmcast_apply(int fd, const struct image_fd *f)
{
	const struct image_sock_attrs *a = &f->sock.attrs;
	socklen_t gf_size = GROUP_FILTER_SIZE(IMAGE_MAX_SOCK_MCAST_SRC);
	struct group_filter *gf;
	uint32_t i;
	int ret = 0;

	if (!a->nr_mcast)
		return 0;
	gf = malloc(gf_size);
	if (!gf)
		return -ENOMEM;
	for (i = 0; !ret && i < a->nr_mcast; i++)
		ret = join(fd, f, &a->mcast[i], gf, gf_size);
	free(gf);
	return ret;
}
