/*
 * fd-socket.h - what fd-socket.c asks the kernel's sock_diag netlink
 * interface (fd-socket-diag.c): the facts about a socket that no
 * getsockopt() shows, read without touching the socket.
 */
#ifndef THAW_ENGINE_FD_SOCKET_H
#define THAW_ENGINE_FD_SOCKET_H

#include <stdbool.h>
#include <stdint.h>

struct sock_diag_info {
	bool has_peer; /* Unix: the kernel knows a peer (it may be closed: peer_ino 0) */
	uint64_t peer_ino;
	uint32_t backlog; /* listening: the listen() backlog (sk_max_ack_backlog) */
	uint32_t pending; /* listening: connections waiting to be accepted */
};

/* Unix socket by inode: peer and, when listening, backlog and pending. 0 or -errno. */
int sock_diag_unix(uint64_t ino, struct sock_diag_info *ret);
/* Listening TCP socket of family (AF_INET, AF_INET6) by inode. 0, -ENOENT or -errno. */
int sock_diag_tcp_listen(int family, uint64_t ino, struct sock_diag_info *ret);

#endif
