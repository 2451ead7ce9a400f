/*
 * tcp-client.c - holds a TCP connection to a peer outside the snapshot
 * (tests/integration/92-tcp-peer.sh), with bytes in flight both ways.
 *
 *   tcp-client PORT [LATE]
 *
 * Connects to 127.0.0.1:PORT, sends C2S bytes of the pattern (salt 2),
 * which the peer does not read ("sent N"; fewer if the peer's window closes
 * first: a program waiting for window probes its peer, and the peer's answer
 * in the gap between dump and restore would be reset), waits until the
 * peer's S2C bytes (salt 1) are queued unread, prints READY and waits for
 * SIGUSR1.  Then it reads the peer's bytes (and LATE more, which the peer
 * sends after the restore: 92-tcp-peer.sh), checks each arrived
 * once and in order, sends "ping", expects "pong", and prints PASS (or
 * FAIL: why).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define S2C 20000
#define C2S 32768

static unsigned char pattern(size_t i, int salt)
{
	return (unsigned char)((i * 7 + (size_t)salt) % 251);
}

static int fail(const char *why)
{
	printf("FAIL: %s: %s\n", why, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	unsigned char buf[4096], msg[4];
	size_t sent = 0, got = 0, want = S2C, i;
	sigset_t usr1;
	int fd, inq = 0, tries, sig;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || argc > 3)
		return 2;
	if (argc == 3)
		want += (size_t)atoi(argv[2]);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return fail("connect");
	while (sent < C2S) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(sent + i, 2);
		n = send(fd, buf, C2S - sent < sizeof(buf) ? C2S - sent : sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	printf("sent %zu\n", sent);
	for (tries = 0; tries < 500 && inq < S2C; tries++) {
		usleep(10000);
		ioctl(fd, SIOCINQ, &inq);
	}
	if (inq != S2C)
		return fail("the peer's bytes did not arrive");
	usleep(100000);
	printf("READY\n");
	do
		sig = sigwaitinfo(&usr1, NULL);
	while (sig < 0 && errno == EINTR);
	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 10000) != 1)
			return fail("the peer's bytes stopped");
		n = recv(fd, buf, want - got < sizeof(buf) ? want - got : sizeof(buf), 0);
		if (n <= 0)
			return fail("reading the peer's bytes");
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != pattern(got + i, 1)) {
				printf("FAIL: byte %zu from the peer is wrong\n", got + i);
				return 1;
			}
		got += (size_t)n;
	}
	if (recv(fd, buf, 1, MSG_DONTWAIT) >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		return fail("more bytes than the peer sent");
	if (send(fd, "ping", 4, 0) != 4)
		return fail("send ping");
	if (recv(fd, msg, 4, MSG_WAITALL) != 4 || memcmp(msg, "pong", 4))
		return fail("no pong");
	printf("PASS\n");
	return 0;
}
