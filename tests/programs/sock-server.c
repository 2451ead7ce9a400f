/*
 * sock-server.c - a server with the sockets thaw must carry over a restore.
 *
 *   sock-server --port4 P --port6 P --unix PATH --abstract NAME [--connect4 PORT]
 *
 * Listens on TCP 127.0.0.1:P (SO_REUSEADDR, TCP_NODELAY, non-blocking), on
 * TCP [::1]:P (IPV6_V6ONLY), on the Unix socket PATH and the abstract name
 * NAME; holds a UDP socket bound to 127.0.0.1:P, a stream socketpair with
 * bytes queued both ways and a datagram socketpair with three messages
 * queued; one epoll set watches the four listeners.  Each connection gets one
 * line, "pong TOKEN N", TOKEN fixed at start, N counting requests.
 * --connect4 PORT also holds a TCP connection to 127.0.0.1:PORT; the loop
 * then reports what a read on it returns ("conn: reset" for ECONNRESET).
 * Port 0 takes any free port.  After READY it serves until SIGUSR1, then checks that every socket, queue
 * and option is as it was set up, prints PASS or FAIL lines and exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1;
static int failures;
static unsigned long token, served;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			printf("FAIL: " __VA_ARGS__);                                              \
			printf("\n");                                                              \
			fflush(stdout);                                                            \
		}                                                                                  \
	} while (0)

static void die(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static int opt(int fd, int level, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len))
		return -1;
	return v;
}

static void set_opt(int fd, int level, int name)
{
	int one = 1;

	if (setsockopt(fd, level, name, &one, sizeof(one)))
		die("setsockopt");
}

static int tcp_listen(int family, int port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	if (fd < 0)
		die("socket");
	set_opt(fd, SOL_SOCKET, SO_REUSEADDR);
	set_opt(fd, IPPROTO_TCP, TCP_NODELAY);
	if (family == AF_INET6)
		set_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY);
	if (family == AF_INET6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6)) :
				 bind(fd, (struct sockaddr *)&a4, sizeof(a4)))
		die("bind tcp");
	if (listen(fd, 77))
		die("listen");
	return fd;
}

static int unix_listen(const char *name, int abstract)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket unix");
	if (abstract) {
		snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "%s", name);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	} else {
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", name);
		unlink(name);
		len = sizeof(un);
	}
	if (bind(fd, (struct sockaddr *)&un, len) || listen(fd, 5))
		die("bind/listen unix");
	return fd;
}

static void serve(int lfd)
{
	char line[128];
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int n;

	if (c < 0)
		return;
	served++;
	n = snprintf(line, sizeof(line), "pong %lx %lu\n", token, served);
	if (write(c, line, (size_t)n) < 0)
		perror("write");
	close(c);
}

int main(int argc, char **argv)
{
	int port4 = -1, port6 = -1, cport = 0, i, ep, t4, t6, ux, ab, udp, sp[2], dg[2], conn = -1;
	const char *upath = NULL, *aname = NULL;
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev;
	char buf[256];
	ssize_t n;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port4"))
			port4 = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--port6"))
			port6 = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--unix"))
			upath = argv[i + 1];
		else if (!strcmp(argv[i], "--abstract"))
			aname = argv[i + 1];
		else if (!strcmp(argv[i], "--connect4"))
			cport = atoi(argv[i + 1]);
	}
	if (port4 < 0 || port6 < 0 || !upath || !aname) {
		fprintf(stderr, "usage: sock-server --port4 P --port6 P --unix PATH --abstract NAME "
				"[--connect4 PORT]\n");
		return 2;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	token = ((unsigned long)rand() << 16) ^ (unsigned long)rand();
	signal(SIGUSR1, on_usr1);
	signal(SIGPIPE, SIG_IGN);

	t4 = tcp_listen(AF_INET, port4);
	t6 = tcp_listen(AF_INET6, port6);
	ux = unix_listen(upath, 0);
	ab = unix_listen(aname, 1);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	a4.sin_port = htons(port4);
	if (udp < 0 || bind(udp, (struct sockaddr *)&a4, sizeof(a4)))
		die("udp");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg))
		die("socketpair");
	if (write(sp[0], "to-one", 6) != 6 || write(sp[0], "+more", 5) != 5 ||
	    write(sp[1], "to-zero", 7) != 7)
		die("queue stream");
	if (send(dg[1], "m1", 2, 0) != 2 || send(dg[1], "msg-2", 5, 0) != 5 ||
	    send(dg[1], "third", 5, 0) != 5)
		die("queue dgram");
	if (cport) {
		conn = socket(AF_INET, SOCK_STREAM, 0);
		a4.sin_port = htons(cport);
		if (conn < 0 || connect(conn, (struct sockaddr *)&a4, sizeof(a4)))
			die("connect");
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	int lfds[4] = { t4, t6, ux, ab };
	for (i = 0; i < 4; i++) {
		ev.events = EPOLLIN;
		ev.data.u64 = 1000 + (unsigned)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfds[i], &ev))
			die("epoll_ctl");
	}
	if (conn >= 0) {
		ev.events = EPOLLIN;
		ev.data.u64 = 2000;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conn, &ev))
			die("epoll_ctl conn");
	}
	printf("READY\n");
	fflush(stdout);

	while (!got_usr1) {
		int nr = epoll_wait(ep, &ev, 1, 100);

		if (nr <= 0)
			continue;
		if (ev.data.u64 == 2000) {
			n = read(conn, buf, sizeof(buf));
			printf("conn: %s\n", n < 0 && errno == ECONNRESET ? "reset" :
					     n == 0			 ? "eof" :
									   "data");
			fflush(stdout);
			epoll_ctl(ep, EPOLL_CTL_DEL, conn, NULL);
			continue;
		}
		if (ev.data.u64 < 1000 || ev.data.u64 > 1003)
			CHECK(0, "epoll data %llx", (unsigned long long)ev.data.u64);
		else
			serve(lfds[ev.data.u64 - 1000]);
	}

	/* the checks after restore */
	CHECK(opt(t4, SOL_SOCKET, SO_ACCEPTCONN) == 1, "tcp4 not listening");
	CHECK(opt(t4, SOL_SOCKET, SO_REUSEADDR) == 1, "tcp4 lost SO_REUSEADDR");
	CHECK(opt(t4, IPPROTO_TCP, TCP_NODELAY) == 1, "tcp4 lost TCP_NODELAY");
	CHECK(fcntl(t4, F_GETFL) & O_NONBLOCK, "tcp4 lost O_NONBLOCK");
	CHECK(!(fcntl(t4, F_GETFD) & FD_CLOEXEC), "tcp4 gained FD_CLOEXEC");
	CHECK(opt(t6, IPPROTO_IPV6, IPV6_V6ONLY) == 1, "tcp6 lost IPV6_V6ONLY");
	CHECK(fcntl(ux, F_GETFD) & FD_CLOEXEC, "unix lost FD_CLOEXEC");
	CHECK(opt(udp, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM, "udp type");
	{
		struct sockaddr_in got;
		socklen_t len = sizeof(got);

		CHECK(!getsockname(udp, (struct sockaddr *)&got, &len) &&
			      (!port4 || ntohs(got.sin_port) == port4),
		      "udp not bound to %d", port4);
	}
	n = recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n == 11 && !memcmp(buf, "to-one+more", 11), "stream pair end 1 read %zd", n);
	n = recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n == 7 && !memcmp(buf, "to-zero", 7), "stream pair end 0 read %zd", n);
	CHECK(write(sp[1], "x", 1) == 1 && recv(sp[0], buf, 1, 0) == 1 && buf[0] == 'x',
	      "stream pair no longer connected");
	n = recv(dg[0], buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n == 2 && !memcmp(buf, "m1", 2), "dgram 1: %zd", n);
	n = recv(dg[0], buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n == 5 && !memcmp(buf, "msg-2", 5), "dgram 2: %zd", n);
	n = recv(dg[0], buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n == 5 && !memcmp(buf, "third", 5), "dgram 3: %zd", n);
	n = recv(dg[0], buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n < 0 && errno == EAGAIN, "dgram: a fourth message");
	unlink(upath);
	printf(failures ? "FAILED\n" : "PASS\n");
	fflush(stdout);
	return failures ? 1 : 0;
}
