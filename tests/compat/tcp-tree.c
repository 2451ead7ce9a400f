/* compat: restore */
/*
 * tcp-tree.c - an established TCP connection between two processes of the
 * tree (the server end in a child), with bytes in flight both ways: the
 * child's bytes unread by the program, the program's bytes more than the
 * child's small receive buffer takes (the rest waits unsent).  Repair mode
 * ends only once both processes have their sockets, so nothing is sent to
 * an end not made yet.  After the restore the child reads every byte of the
 * program's and says whether each came once and in order, the program reads
 * the child's.  Before, the dump refused the connection.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "tcp-bytes.h"

#define S2C 3000

static int cli = -1, go[2] = { -1, -1 }, nr_checks;
static pid_t child;
static size_t c2s;

/* The child: sends its bytes, waits for the count of the program's, checks them, answers. */
static void serve(int srv)
{
	unsigned char buf[S2C];
	char why[256];
	size_t i, want;

	for (i = 0; i < S2C; i++)
		buf[i] = pattern(i, 1);
	if (send(srv, buf, S2C, 0) != S2C)
		_exit(1);
	if (read(go[0], &want, sizeof(want)) != sizeof(want))
		_exit(1); /* the program is gone */
	send(srv, read_all(srv, want, 2, why, sizeof(why), "to the child") ? "no" : "ok", 2, 0);
	_exit(0);
}

static int setup(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int lfd, srv, small = 4096, fl, inq = 0, tries;
	unsigned char buf[4096];
	size_t i;
	ssize_t n;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	cli = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || cli < 0 || bind(lfd, (struct sockaddr *)&a, len) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) ||
	    connect(cli, (struct sockaddr *)&a, len) || pipe(go)) {
		perror("connect");
		return -1;
	}
	srv = accept(lfd, NULL, NULL);
	if (srv < 0) {
		perror("accept");
		return -1;
	}
	child = fork();
	if (child < 0) {
		perror("fork");
		return -1;
	}
	if (child == 0) {
		close(cli);
		close(lfd);
		close(go[1]);
		serve(srv);
	}
	close(srv);
	close(lfd);
	close(go[0]);
	fl = fcntl(cli, F_GETFL);
	fcntl(cli, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(c2s + i, 2);
		n = send(cli, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		c2s += (size_t)n;
	}
	fcntl(cli, F_SETFL, fl);
	for (tries = 0; tries < 500 && inq < S2C; tries++) {
		usleep(10000);
		ioctl(cli, SIOCINQ, &inq);
	}
	return 0;
}

static int check(char *why, size_t whylen)
{
	int inq = -1, status;
	char verdict[2];

	if (ioctl(cli, SIOCINQ, &inq) || inq != S2C)
		return FAILED("%d bytes from the child queued, %d were sent", inq, S2C);
	if (++nr_checks < 2)
		return 0;
	if (write(go[1], &c2s, sizeof(c2s)) != sizeof(c2s))
		return FAILED("telling the child: %s", strerror(errno));
	if (read_all(cli, S2C, 1, why, whylen, "from the child"))
		return 1;
	if (recv(cli, verdict, 2, MSG_WAITALL) != 2 || memcmp(verdict, "ok", 2))
		return FAILED("the child did not get the %zu bytes sent it once and in order", c2s);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		return FAILED("the child failed");
	return 0;
}
