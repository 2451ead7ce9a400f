/* compat: refuse an eBPF socket filter \(SO_ATTACH_BPF\) is attached */
/*
 * sock-filter-ebpf.c - an eBPF socket filter (SO_ATTACH_BPF) cannot be read
 * back from the socket: the dump refuses it by name, and the program keeps
 * its filter.
 */
#include <linux/bpf.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"

static int fd = -1;

static int setup(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr = { 0 };
	int prog;

	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uintptr_t)insns;
	attr.insn_cnt = 2;
	attr.license = (uintptr_t) "GPL";
	prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (prog < 0) {
		printf("SKIP: BPF_PROG_LOAD: %s\n", strerror(errno));
		exit(77);
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof(prog))) {
		perror("SO_ATTACH_BPF");
		return -1;
	}
	close(prog); /* the socket holds the program */
	return 0;
}

static int check(char *why, size_t whylen)
{
	socklen_t n = 0;

	if (!getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n) || errno != EACCES)
		return FAILED("the eBPF filter is gone");
	return 0;
}
