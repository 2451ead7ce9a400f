/*
 * cmd-inspect.c - `thaw inspect DIR [--json]`: what a snapshot holds, for
 * people.
 *
 * Loads the snapshot with image_read() (so a damaged snapshot is reported
 * exactly as restore would report it) and prints it section by section:
 * host, process, threads, memory map, totals, fds, files, shmem objects and
 * the sizes of the snapshot's own files.  --json prints the manifest as
 * stored plus a "summary" object with the totals, for scripts.
 */
#define LOG_TAG "inspect"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <jansson.h>

#include <openssl/crypto.h>

#include "base/keyfile.h"
#include "base/log.h"
#include "cli/cli.h"
#include "image/image.h"

#define PAGE IMAGE_PAGE_SIZE

static const char *const snapshot_files[] = { "manifest.json", "manifest.crc", "manifest.sig",
					      "pages.idx",     "pages.img",    "data.img" };

static void usage(FILE *out)
{
	fprintf(out, "usage: thaw inspect DIR [--json] [--no-verify] [--key-file FILE]\n"
		     "\n"
		     "Show what the snapshot in DIR holds: host, process, threads, memory map,\n"
		     "file descriptors, files and the sizes of the snapshot's files.  The\n"
		     "snapshot is fully validated first, and every byte of it is read and\n"
		     "checked (SHA-256 of its files, crc of every page run and blob): a\n"
		     "damaged one is an error (exit 1).\n"
		     "\n"
		     "Options:\n"
		     "  --json       print the manifest plus a \"summary\" object with totals\n"
		     "  --no-verify  skip reading every byte (the manifest and index are still\n"
		     "               checked)\n"
		     "  --key-file F the snapshot must be signed with this key (thaw dump\n"
		     "               --key-file): exit 1 if it is unsigned or signed otherwise\n"
		     "  --help       show this help\n"
		     "\n"
		     "Exit status:\n"
		     "  0 shown, and every byte checked; 1 the snapshot cannot be read, or is\n"
		     "  damaged, or not signed with the key; 2 usage error.\n");
}

/* "1.5 MiB": buf must hold 32 bytes */
static const char *human(uint64_t bytes, char *buf)
{
	return cli_human(bytes, buf);
}

/*
 * Paths and names come from the snapshot, which may be hostile: control
 * characters are shown escaped so that they cannot drive the terminal.
 * Four buffers in turn, so one printf may show several strings.
 */
static const char *printable(const char *s)
{
	static char bufs[4][4 * IMAGE_MAX_PATH + 1];
	static unsigned next;
	char *buf = bufs[next++ % 4], *p = buf;

	if (!s)
		return "-";
	for (; *s && p < buf + sizeof(bufs[0]) - 5; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	*p = '\0';
	return buf;
}

static const char *signal_name(int sig, char *buf)
{
	const char *abbrev = sig < 32 ? sigabbrev_np(sig) : NULL;

	if (abbrev)
		snprintf(buf, 16, "SIG%s", abbrev);
	else
		snprintf(buf, 16, "SIG%d", sig);
	return buf;
}

/* The syscalls threads are usually frozen in; others print as numbers. */
static const char *syscall_name(int64_t nr)
{
	static const struct {
		int nr;
		const char *name;
	} names[] = {
		{ 0, "read" },		  { 1, "write" },	      { 7, "poll" },
		{ 17, "pread64" },	  { 18, "pwrite64" },	      { 19, "readv" },
		{ 20, "writev" },	  { 23, "select" },	      { 34, "pause" },
		{ 35, "nanosleep" },	  { 43, "accept" },	      { 44, "sendto" },
		{ 45, "recvfrom" },	  { 46, "sendmsg" },	      { 47, "recvmsg" },
		{ 61, "wait4" },	  { 72, "fcntl" },	      { 128, "rt_sigtimedwait" },
		{ 130, "rt_sigsuspend" }, { 202, "futex" },	      { 230, "clock_nanosleep" },
		{ 232, "epoll_wait" },	  { 247, "waitid" },	      { 270, "pselect6" },
		{ 271, "ppoll" },	  { 281, "epoll_pwait" },     { 288, "accept4" },
		{ 299, "recvmmsg" },	  { 441, "epoll_pwait2" },    { 449, "futex_waitv" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].nr == nr)
			return names[i].name;
	return NULL;
}

static const char *fd_flags(const struct image_fd *f, char *buf, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} bits[] = {
		{ O_APPEND, "append" }, { O_NONBLOCK, "nonblock" }, { O_DIRECT, "direct" },
		{ O_NOATIME, "noatime" }, { O_PATH, "path" },
	};
	static const char *const modes[] = { "r", "w", "rw", "?" };
	size_t i, n;

	n = (size_t)snprintf(buf, len, "%s", modes[f->flags & O_ACCMODE]);
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]) && n < len; i++)
		if (f->flags & bits[i].bit)
			n += (size_t)snprintf(buf + n, len - n, ",%s", bits[i].name);
	/* O_SYNC includes the O_DSYNC bit */
	if ((f->flags & O_SYNC) == O_SYNC && n < len)
		n += (size_t)snprintf(buf + n, len - n, ",sync");
	else if ((f->flags & O_DSYNC) && n < len)
		n += (size_t)snprintf(buf + n, len - n, ",dsync");
	if (f->cloexec && n < len)
		snprintf(buf + n, len - n, ",cloexec");
	return buf;
}

static const char *file_path(const struct image *img, int32_t idx)
{
	if (idx < 0 || (uint32_t)idx >= img->nr_files)
		return "-";
	return printable(img->files[idx].path);
}

static void print_header(const struct image *img, const char *dir)
{
	const struct image_host *h = &img->host;
	char date[64] = "?", b1[32], b2[32], b3[32];
	time_t secs = (time_t)(img->proc.dumped_at_ns / 1000000000ull);
	struct tm tm;

	if (gmtime_r(&secs, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("snapshot %s\n", dir);
	printf("  format       thaw-snapshot version %u\n", img->version);
	printf("  dumped       %s, from host pid %d\n", date, img->proc.host_pid);
	printf("\nhost\n");
	printf("  kernel       %.*s\n", (int)sizeof(h->kernel_release), h->kernel_release);
	printf("  xsave        %u bytes, xcr0 0x%" PRIx64 "\n", h->xsave_size, h->xcr0);
	printf("  vdso         [vvar] %s, [vvar_vclock] %s, [vdso] %s, crc 0x%08x\n",
	       human(h->vvar_size, b1), human(h->vvar_vclock_size, b2), human(h->vdso_size, b3),
	       h->vdso_crc);
}

static void print_gpu(const struct image *img)
{
	const struct image_gpu *g = &img->gpu;
	char b1[32];
	uint32_t i;

	if (!img->has_gpu)
		return;
	printf("\ngpu (CUDA checkpoint)\n");
	printf("  driver       %s (CUDA %d.%d)\n", printable(g->driver), g->cuda_version / 1000,
	       g->cuda_version % 1000 / 10);
	for (i = 0; i < g->nr_devs && i < IMAGE_MAX_GPUS; i++)
		printf("  gpu %-8u %s, %s, compute %u.%u\n", i, printable(g->devs[i].name),
		       human(g->devs[i].memory_bytes, b1), g->devs[i].cc_major, g->devs[i].cc_minor);
	printf("  pid %-8d %s of device state saved in host memory\n", img->proc.pid,
	       human(g->device_bytes, b1));
	if (g->uvm_socket_fd >= 0)
		printf("  uvm socket   fd %d (recreated at restore)\n", g->uvm_socket_fd);
	if (g->weights_tid)
		printf("  weights      %s in %u allocations saved by thaw (thread %d, fds %d/%d)\n",
		       human(g->weights_bytes, b1), g->weights_segments, g->weights_tid,
		       g->weights_req_fd, g->weights_rep_fd);
}

static void print_posix_timers(const struct image *img)
{
	static const char *const notify[IMAGE_TIMER_NOTIFY_COUNT] = { "signal", "none", "thread",
								      "thread" };
	uint32_t i;

	for (i = 0; i < img->nr_posix_timers; i++) {
		const struct image_posix_timer *t = &img->posix_timers[i];
		char to[32] = "";

		if (t->notify == IMAGE_TIMER_THREAD_ID)
			snprintf(to, sizeof(to), " to tid %d", t->tid);
		printf("  %-12s id %d clock %d, %s %d%s value 0x%" PRIx64 ", ", i ? "" : "posix timers",
		       t->id, t->clockid, notify[t->notify], t->signo, to, t->sigval);
		if (!t->value_ns)
			printf("disarmed\n");
		else
			printf("next in %" PRIu64 " ns%s, %s%" PRIu64 " ns\n", t->value_ns,
			       t->deadline_ns ? " (keeps its wall-clock deadline)" : "",
			       t->interval_ns ? "every " : "once, interval ", t->interval_ns);
	}
}

static void print_process(const struct image *img)
{
	static const char *const rlimit_names[IMAGE_NR_RLIMITS] = {
		"cpu",	   "fsize", "data",	  "stack",    "core", "rss",	"nproc",  "nofile",
		"memlock", "as",    "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
	};
	static const char *const itimer_names[3] = { "real", "virtual", "prof" };
	const struct image_proc *p = &img->proc;
	char name[16], comm[sizeof(p->comm) + 1] = { 0 };
	bool any = false;
	int i;

	memcpy(comm, p->comm, sizeof(p->comm));
	printf("\nprocess\n");
	printf("  pid %d  ppid %d  pgid %d  sid %d\n", p->pid, p->ppid, p->pgid, p->sid);
	printf("  comm         %s\n", printable(comm));
	printf("  exe          %s\n", file_path(img, p->exe));
	printf("  cwd          %s\n", printable(p->cwd));
	printf("  umask        %04o\n", p->umask);
	if (p->personality)
		printf("  personality  0x%x\n", p->personality);
	printf("  attributes   oom_score_adj %d  coredump_filter 0x%x%s%s%s%s\n",
	       img->attrs.oom_score_adj, img->attrs.coredump_filter,
	       img->attrs.thp_disable ? "  THP disabled" : "",
	       img->attrs.is_child_subreaper ? "  child subreaper" : "",
	       img->attrs.membarrier ? "  membarrier registered" : "",
	       img->attrs.mdwe ? "  MDWE" : "");
	printf("  dumpable     %u", img->creds.dumpable);
	if (img->nr_seccomp_filters)
		printf("  seccomp filters %u", img->nr_seccomp_filters);
	printf("\n");
	printf("  brk          0x%" PRIx64 "-0x%" PRIx64 "\n", p->mm.start_brk, p->mm.brk);
	for (i = 0; i < IMAGE_NR_RLIMITS; i++) {
		const struct image_rlimit *r = &p->rlimits[i];
		char cur[24], max[24];

		if (r->cur == UINT64_MAX && r->max == UINT64_MAX)
			continue;
		snprintf(cur, sizeof(cur), r->cur == UINT64_MAX ? "unlimited" : "%" PRIu64, r->cur);
		snprintf(max, sizeof(max), r->max == UINT64_MAX ? "unlimited" : "%" PRIu64, r->max);
		printf("  %-12s %-10s soft %s, hard %s\n", any ? "" : "rlimits", rlimit_names[i], cur,
		       max);
		any = true;
	}
	any = false;
	for (i = 0; i < IMAGE_NR_SIGNALS; i++) {
		const struct image_sigaction *s = &p->sigactions[i];

		if (!s->handler)
			continue; /* SIG_DFL */
		signal_name(i + 1, name);
		if (s->handler == 1)
			printf("  %-12s %-10s ignored\n", any ? "" : "signals", name);
		else
			printf("  %-12s %-10s handler 0x%" PRIx64 "  flags 0x%" PRIx64
			       "  mask 0x%" PRIx64 "\n",
			       any ? "" : "signals", name, s->handler, s->flags, s->mask);
		any = true;
	}
	for (i = 0; i < 3; i++)
		if (p->itimers[i].value_us || p->itimers[i].interval_us)
			printf("  itimer       %-10s next in %" PRIu64 " us, %s%" PRIu64 " us\n",
			       itimer_names[i], p->itimers[i].value_us,
			       p->itimers[i].interval_us ? "every " : "once, interval ",
			       p->itimers[i].interval_us);
	if (p->pending_shared.len)
		printf("  pending      signals queued to the process: %" PRIu64 "\n",
		       p->pending_shared.len / 128);
	print_posix_timers(img);
}

/* What the restored thread may do: ids, groups, capability sets and the rest. */
static void print_thread_creds(const struct image_creds *c)
{
	uint32_t i;

	printf("  %-7s uid %u/%u/%u fs %u  gid %u/%u/%u fs %u  groups", "", c->uid, c->euid,
	       c->suid, c->fsuid, c->gid, c->egid, c->sgid, c->fsgid);
	for (i = 0; i < c->nr_groups && i < 16; i++)
		printf("%c%u", i ? ',' : ' ', c->groups[i]);
	if (c->nr_groups > 16)
		printf(",... (%u)", c->nr_groups);
	if (!c->nr_groups)
		printf(" none");
	printf("\n  %-7s caps eff 0x%" PRIx64 " prm 0x%" PRIx64 " inh 0x%" PRIx64 " bnd 0x%" PRIx64
	       " amb 0x%" PRIx64 "  securebits 0x%x%s",
	       "", c->cap_eff, c->cap_prm, c->cap_inh, c->cap_bnd, c->cap_amb, c->securebits,
	       c->no_new_privs ? "  no_new_privs" : "");
	if (c->nr_seccomp)
		printf("  seccomp filters %u", c->nr_seccomp);
	printf("\n");
}

/* What differs from a thread nobody tuned: scheduling, CPUs, I/O priority, prctls. */
static void print_thread_attrs(const struct image_thread_attrs *a)
{
	static const char *const policies[] = { "other", "fifo", "rr",	   "batch",
						"iso",	 "idle", "deadline", "ext" };
	uint32_t i;

	if (a->policy || a->nice || a->sched_flags)
		printf("  %-7s sched %s", "", a->policy < 8 ? policies[a->policy] : "?");
	else if (!a->ioprio && !a->nr_cpus && !a->pdeathsig && !a->mce_kill && !a->tsc_sigsegv &&
		 !a->cpuid_faulting && !a->mpol_mode && !a->slice_ns)
		return;
	else
		printf("  %-7s sched other", "");
	if (a->rt_priority)
		printf("/%u", a->rt_priority);
	if (a->dl_runtime)
		printf(" %" PRIu64 "/%" PRIu64 "/%" PRIu64 " ns", a->dl_runtime, a->dl_deadline,
		       a->dl_period);
	printf(" nice %d", a->nice);
	if (a->sched_flags & IMAGE_SCHED_FLAG_RESET_ON_FORK)
		printf(" reset-on-fork");
	if (a->slice_ns)
		printf(" slice %" PRIu64 " ns", a->slice_ns);
	if (a->ioprio)
		printf("  ioprio %u/%u", a->ioprio >> 13, a->ioprio & 7);
	for (i = 0; i < a->nr_cpus; i++)
		printf("%s%u", i ? "," : "  cpus ", a->cpus[i]);
	if (a->mpol_mode)
		printf("  mempolicy %u", a->mpol_mode);
	for (i = 0; i < a->nr_mpol_nodes; i++)
		printf("%s%u", i ? "," : " nodes ", a->mpol_nodes[i]);
	if (a->pdeathsig)
		printf("  pdeathsig %d", a->pdeathsig);
	if (a->tsc_sigsegv)
		printf("  rdtsc faults");
	if (a->cpuid_faulting)
		printf("  cpuid faults");
	printf("\n");
}

static void print_threads(const struct image *img)
{
	uint32_t i;

	printf("\nthreads (%u)\n", img->nr_threads);
	printf("  %-7s %-16s %-16s %-22s %-14s %-14s %s\n", "TID", "COMM", "STATE", "SYSCALL",
	       "RIP", "RSP", "SIGMASK");
	for (i = 0; i < img->nr_threads; i++) {
		const struct image_thread *t = &img->threads[i];
		char sys[32] = "-", comm[sizeof(t->comm) + 1] = { 0 };

		memcpy(comm, t->comm, sizeof(t->comm));

		if (t->syscall_nr >= 0) {
			const char *name = syscall_name(t->syscall_nr);

			if (name)
				snprintf(sys, sizeof(sys), "%s (%" PRId64 ")", name, t->syscall_nr);
			else
				snprintf(sys, sizeof(sys), "%" PRId64, t->syscall_nr);
		}
		printf("  %-7d %-16.16s %-16s %-22s 0x%012" PRIx64 " 0x%012" PRIx64 " 0x%" PRIx64
		       "\n",
		       t->tid, printable(comm), image_thread_state_name(t->state), sys, t->regs.rip,
		       t->regs.rsp, t->sigmask);
		printf("  %-7s", "");
		if (t->rseq_abi)
			printf(" rseq 0x%" PRIx64 " (len %u)", t->rseq_abi, t->rseq_len);
		if (t->robust_list)
			printf("  robust list 0x%" PRIx64, t->robust_list);
		if (t->altstack_size && !(t->altstack_flags & 2 /* SS_DISABLE */))
			printf("  altstack 0x%" PRIx64 "+%" PRIu64, t->altstack_sp, t->altstack_size);
		if (t->pending.len)
			printf("  pending signals: %" PRIu64, t->pending.len / 128);
		printf("  xsave %" PRIu64 " bytes\n", t->xsave.len);
		print_thread_attrs(&t->attrs);
		print_thread_creds(&t->creds);
	}
}

static void print_memory(const struct image *img)
{
	uint64_t mapped = 0, dumped = 0, zero = 0, file = 0, run_pages = 0, zero_run_pages = 0;
	char size[32], b1[32], b2[32];
	uint64_t i;

	printf("\nmemory map (%u VMAs)\n", img->nr_vmas);
	printf("  %-25s  %10s %-5s %-12s %8s %8s %8s  %s\n", "RANGE", "SIZE", "PROT", "KIND",
	       "DUMPED", "ZERO", "FILE", "NAME");
	for (i = 0; i < img->nr_vmas; i++) {
		const struct image_vma *v = &img->vmas[i];
		const char *name = v->name && v->name[0] ? printable(v->name) :
							   file_path(img, v->file);
		char prot[5] = { v->prot & 1 ? 'r' : '-', v->prot & 2 ? 'w' : '-',
				 v->prot & 4 ? 'x' : '-', v->flags & IMAGE_VMA_MAYSHARE ? 's' : 'p',
				 0 };

		printf("  %012" PRIx64 "-%012" PRIx64 "  %10s %-5s %-12s %8" PRIu64 " %8" PRIu64
		       " %8" PRIu64 "  %s\n",
		       v->start, v->end, human(v->end - v->start, size), prot,
		       image_vma_kind_name(v->kind), v->pages_dumped, v->pages_zero, v->pages_file,
		       name);
		mapped += v->end - v->start;
		dumped += v->pages_dumped;
		zero += v->pages_zero;
		file += v->pages_file;
	}
	for (i = 0; i < img->nr_runs; i++) {
		if (img->runs[i].flags & IMAGE_RUN_ZERO)
			zero_run_pages += img->runs[i].npages;
		else
			run_pages += img->runs[i].npages;
	}
	printf("\ntotals\n");
	printf("  mapped       %s\n", human(mapped, b1));
	printf("  dumped       %" PRIu64 " pages, %s in pages.img (%" PRIu64 " runs)\n", run_pages,
	       human(run_pages * PAGE, b1), img->nr_runs);
	if (zero_run_pages)
		printf("  zero runs    %" PRIu64 " pages that must read as zero\n", zero_run_pages);
	printf("  zero pages   %" PRIu64 " (%s, not stored)\n", zero, human(zero * PAGE, b1));
	printf("  file pages   %" PRIu64 " (%s, come back from their files)\n", file,
	       human(file * PAGE, b2));
	if (dumped != run_pages)
		printf("  note         VMAs count %" PRIu64 " dumped pages, the index holds %" PRIu64
		       "\n",
		       dumped, run_pages);
	if (img->nr_guards) {
		printf("\nguard regions (%u)\n", img->nr_guards);
		for (i = 0; i < img->nr_guards; i++)
			printf("  %012" PRIx64 "-%012" PRIx64 "  %10s\n", img->guards[i].start,
			       img->guards[i].end, human(img->guards[i].end - img->guards[i].start, b1));
	}
}

/* A sockaddr of the image as people write it: 127.0.0.1:80, [::1]:80, /path, @abstract. */
static void print_sockaddr(int family, const uint8_t *addr, uint32_t len)
{
	char host[INET6_ADDRSTRLEN];
	struct sockaddr_in6 in6;
	struct sockaddr_in in4;
	uint32_t i, off = offsetof(struct sockaddr_un, sun_path);

	if (family == AF_INET && len >= sizeof(in4)) {
		memcpy(&in4, addr, sizeof(in4));
		inet_ntop(AF_INET, &in4.sin_addr, host, sizeof(host));
		printf("%s:%u", host, ntohs(in4.sin_port));
	} else if (family == AF_INET6 && len >= sizeof(in6)) {
		memcpy(&in6, addr, sizeof(in6));
		inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
		printf("[%s]:%u", host, ntohs(in6.sin6_port));
	} else if (family == AF_UNIX && len > off) {
		for (i = off; i < len && (i == off || addr[i]); i++)
			putchar(i == off && !addr[i] ? '@' : isprint(addr[i]) ? addr[i] : '?');
	} else {
		printf("-");
	}
}

static void print_socket(const struct image_fd *f)
{
	static const char *const states[] = { "unbound", "bound", "listening", "pair end",
					      "reset", "waiting to be accepted", "connected" };
	const char *fam = f->sock.family == AF_UNIX  ? "unix" :
			  f->sock.family == AF_INET  ? "inet" :
			  f->sock.family == AF_INET6 ? "inet6" :
						       "?";
	const char *type = f->sock.type == SOCK_STREAM ? "stream" :
			   f->sock.type == SOCK_DGRAM  ? "dgram" :
							 "seqpacket";

	printf("%s %s %s ", fam, type,
	       f->sock.state < sizeof(states) / sizeof(states[0]) ? states[f->sock.state] : "?");
	print_sockaddr(f->sock.family, f->sock.addr, f->sock.addr_len);
	if (f->sock.peer_len) {
		printf(" -> ");
		print_sockaddr(f->sock.family, f->sock.peer, f->sock.peer_len);
	}
	if (f->sock.state == IMAGE_SOCK_LISTEN)
		printf(", backlog %u", f->sock.backlog);
	if (f->sock.state == IMAGE_SOCK_PAIR)
		printf(", peer socket:[%" PRIu64 "]", f->sock.peer_ino);
	if (f->sock.state == IMAGE_SOCK_PENDING)
		printf(" on socket:[%" PRIu64 "]", f->sock.peer_ino);
	if (f->sock.attrs.nr_pending)
		printf(", %u waiting to be accepted", f->sock.attrs.nr_pending);
	if (f->sock.queue.len)
		printf(", %" PRIu64 " bytes queued", f->sock.queue.len);
	if (f->sock.state == IMAGE_SOCK_TCP)
		printf(", %" PRIu64 " bytes to send (%u unsent), %" PRIu64 " to read",
		       f->sock.attrs.tcp.send_queue.len, f->sock.attrs.tcp.unsent,
		       f->sock.attrs.tcp.recv_queue.len);
}

static void print_fd_details(const struct image *img, const struct image_fd *f)
{
	char b1[32], name[16];
	uint32_t i;

	switch (f->kind) {
	case IMAGE_FD_FILE:
	case IMAGE_FD_DIR:
	case IMAGE_FD_CHR:
		printf("%s  pos %" PRIu64, file_path(img, f->file), f->pos);
		break;
	case IMAGE_FD_INHERIT:
		printf("thaw restore's fd %d", f->inherit.from);
		break;
	case IMAGE_FD_FIFO:
		printf("%s  ", file_path(img, f->file));
		/* fall through */
	case IMAGE_FD_PIPE:
		printf("pipe:[%" PRIu64 "] %s end, capacity %s", f->pipe.ino,
		       f->pipe.is_write_end ? "write" : "read", human(f->pipe.capacity, b1));
		if (f->pipe.data.len)
			printf(", %" PRIu64 " bytes buffered", f->pipe.data.len);
		break;
	case IMAGE_FD_EVENTFD:
		printf("count %" PRIu64 "%s", f->eventfd.count,
		       f->eventfd.is_semaphore ? ", semaphore" : "");
		break;
	case IMAGE_FD_EPOLL:
		printf("%u watches", f->epoll.nr_watches);
		for (i = 0; i < f->epoll.nr_watches && i < 8; i++)
			printf("%s fd %d (events 0x%x, data 0x%" PRIx64 ")", i ? "," : ":",
			       f->epoll.watches[i].tfd, f->epoll.watches[i].events,
			       f->epoll.watches[i].data);
		if (f->epoll.nr_watches > 8)
			printf(", ...");
		break;
	case IMAGE_FD_SIGNALFD:
		printf("mask 0x%" PRIx64, f->signalfd.mask);
		for (i = 0; i < 64; i++)
			if (f->signalfd.mask & (1ull << i))
				printf(" %s", signal_name((int)i + 1, name));
		break;
	case IMAGE_FD_TIMERFD:
		printf("clock %d%s, next in %" PRIu64 " ns, every %" PRIu64 " ns, %" PRIu64
		       " ticks unread",
		       f->timerfd.clockid, f->timerfd.settime_flags & 1 ? " (abs)" : "",
		       f->timerfd.value_ns, f->timerfd.interval_ns, f->timerfd.ticks);
		break;
	case IMAGE_FD_MEMFD:
		if (f->memfd.shmem >= 0 && (uint32_t)f->memfd.shmem < img->nr_shmems) {
			const struct image_shmem *s = &img->shmems[f->memfd.shmem];

			printf("memfd:%s (shmem %d, %s)  pos %" PRIu64, printable(s->name ? s->name : ""),
			       f->memfd.shmem, human(s->size, b1), f->pos);
		}
		break;
	case IMAGE_FD_SOCKET:
		print_socket(f);
		break;
	case IMAGE_FD_PIDFD:
		printf("pid %d", f->pidfd.pid);
		break;
	case IMAGE_FD_INOTIFY:
		printf("%u watches", f->inotify.nr_watches);
		break;
	case IMAGE_FD_PTY:
		printf("%s of /dev/pts/%u, %ux%u", f->pty.is_master ? "master" : "slave",
		       f->pty.index, f->pty.cols, f->pty.rows);
		break;
	default:
		break;
	}
	printf("\n");
}

static void print_fds(const struct image *img)
{
	char flags[96];
	uint32_t i;

	printf("\nfile descriptors (%u)\n", img->nr_fds);
	if (!img->nr_fds)
		return;
	printf("  %-5s %-9s %-24s %s\n", "FD", "KIND", "FLAGS", "DETAILS");
	for (i = 0; i < img->nr_fds; i++) {
		const struct image_fd *f = &img->fds[i];

		printf("  %-5d %-9s %-24s ", f->fd, image_fd_kind_name(f->kind),
		       fd_flags(f, flags, sizeof(flags)));
		print_fd_details(img, f);
	}
}

static void print_files(const struct image *img)
{
	char size[32], date[40];
	uint32_t i, j;

	printf("\nfiles (%u)\n", img->nr_files);
	if (img->nr_files)
		printf("  %-3s %10s %-27s %-10s %-7s %s\n", "#", "SIZE", "MTIME", "INO", "MODE",
		       "PATH");
	for (i = 0; i < img->nr_files; i++) {
		const struct image_file *f = &img->files[i];
		time_t secs = (time_t)(f->mtime_ns / 1000000000);
		struct tm tm;

		if (f->mtime_ns < 0 || !gmtime_r(&secs, &tm))
			snprintf(date, sizeof(date), "%" PRId64 " ns", f->mtime_ns);
		else
			snprintf(date + strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm),
				 sizeof(date) - 19, ".%09" PRId64, f->mtime_ns % 1000000000);
		printf("  %-3u %10s %-27s %-10" PRIu64 " %06o  %s", i, human(f->size, size), date,
		       f->ino, f->mode, printable(f->path));
		if (f->is_deleted) {
			uint64_t saved = 0;
			uint32_t k;

			for (k = 0; k < f->nr_extents; k++)
				saved += f->extents[k].data.len;
			printf("  (deleted, %s saved)", human(saved, size));
		}
		printf("\n");
	}
	if (!img->nr_shmems)
		return;
	printf("\nshmem objects (%u)\n", img->nr_shmems);
	for (i = 0; i < img->nr_shmems; i++) {
		const struct image_shmem *s = &img->shmems[i];
		uint64_t saved = 0;

		for (j = 0; j < s->nr_extents; j++)
			saved += s->extents[j].data.len;
		printf("  %-3u ino %-10" PRIu64 " %10s  %s%s%s  seals 0x%x  %u extents, %s saved\n",
		       i, s->ino, human(s->size, size), s->is_memfd ? "memfd:" : "shared anonymous",
		       s->is_memfd && s->name ? printable(s->name) : "", "", s->seals, s->nr_extents,
		       human(saved, date));
	}
}

static void print_snapshot_files(const struct image *img)
{
	uint64_t total = 0;
	char size[32];
	struct stat st;
	size_t i;

	printf("\nsnapshot files\n");
	for (i = 0; i < sizeof(snapshot_files) / sizeof(snapshot_files[0]); i++) {
		if (fstatat(img->dir_fd, snapshot_files[i], &st, AT_SYMLINK_NOFOLLOW))
			continue;
		printf("  %-14s %10s\n", snapshot_files[i], human((uint64_t)st.st_size, size));
		total += (uint64_t)st.st_size;
	}
	printf("  %-14s %10s\n", "total", human(total, size));
}

/*
 * Every byte of the snapshot and of each process of its tree: what a restore
 * would check as it reads, plus the SHA-256 of the files.  Problems are logged.
 */
static bool verify_tree(const struct image *img)
{
	bool ok = image_verify(img) == 0;
	struct image *ci;
	uint32_t i;

	for (i = 0; i < img->nr_children; i++) {
		if (img->children[i].is_zombie)
			continue;
		if (image_read_child(img, &img->children[i], &ci)) {
			ok = false;
			continue;
		}
		ok &= image_verify(ci) == 0;
		image_free(ci);
	}
	return ok;
}

static const char *verdict(int verified)
{
	return verified > 0 ? "every byte checked (SHA-256 of the files, crc of every page run "
			      "and blob)" :
	       verified < 0 ? "DAMAGED: see the errors above" :
			      "not checked (--no-verify)";
}

static int print_json(const struct image *img, int verified)
{
	uint64_t mapped = 0, dumped = 0, zero = 0, file = 0, run_pages = 0, zero_run_pages = 0;
	uint64_t snap_bytes = 0, i;
	json_t *root, *summary, *files;
	json_error_t jerr;
	struct stat st;
	char *text;

	text = image_manifest_to_json(img, 0);
	root = text ? json_loads(text, 0, &jerr) : NULL;
	free(text);
	if (!root) {
		log_error("cannot encode the manifest (out of memory)");
		return 1;
	}
	/* the manifest leaves out what can be derived; people and scripts get it all */
	for (i = 0; i < img->nr_vmas; i++) {
		json_t *v = json_array_get(json_object_get(root, "vmas"), i);

		if (v && img->vmas[i].name && !json_object_get(v, "name"))
			json_object_set_new(v, "name", json_string(img->vmas[i].name));
	}
	for (i = 0; i < img->nr_vmas; i++) {
		mapped += img->vmas[i].end - img->vmas[i].start;
		dumped += img->vmas[i].pages_dumped;
		zero += img->vmas[i].pages_zero;
		file += img->vmas[i].pages_file;
	}
	for (i = 0; i < img->nr_runs; i++) {
		if (img->runs[i].flags & IMAGE_RUN_ZERO)
			zero_run_pages += img->runs[i].npages;
		else
			run_pages += img->runs[i].npages;
	}
	files = json_object();
	for (i = 0; i < sizeof(snapshot_files) / sizeof(snapshot_files[0]); i++)
		if (!fstatat(img->dir_fd, snapshot_files[i], &st, AT_SYMLINK_NOFOLLOW)) {
			json_object_set_new(files, snapshot_files[i], json_integer(st.st_size));
			snap_bytes += (uint64_t)st.st_size;
		}
	summary = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:o}",
			    "threads",
			    (json_int_t)img->nr_threads, "vmas", (json_int_t)img->nr_vmas, "fds",
			    (json_int_t)img->nr_fds, "files", (json_int_t)img->nr_files,
			    "mapped_bytes", (json_int_t)mapped, "dumped_pages",
			    (json_int_t)run_pages, "dumped_bytes", (json_int_t)(run_pages * PAGE),
			    "zero_run_pages", (json_int_t)zero_run_pages, "vma_dumped_pages",
			    (json_int_t)dumped, "zero_pages", (json_int_t)zero, "file_pages",
			    (json_int_t)file, "runs", (json_int_t)img->nr_runs, "snapshot_files",
			    files, "snapshot_bytes", (json_int_t)snap_bytes, "verified",
			    verified ? json_boolean(verified > 0) : json_null());
	if (!summary || json_object_set_new(root, "summary", summary)) {
		json_decref(root);
		log_error("cannot encode the summary (out of memory)");
		return 1;
	}
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text) {
		log_error("cannot encode the manifest (out of memory)");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

/* A tree: one line per process; each live one's image is a snapshot of its own. */
static void print_tree(const struct image *img, const char *dir)
{
	char a[32], b[32];
	uint32_t i, k;

	if (!img->nr_children)
		return;
	printf("\nprocess tree (%u more process%s; inspect one with thaw inspect %s/" IMAGE_CHILD_DIR_FMT
	       ")\n",
	       img->nr_children, img->nr_children == 1 ? "" : "es", printable(dir),
	       img->children[0].pid);
	printf("  %-8s %-8s %-8s %-8s %s\n", "PID", "PPID", "PGID", "SID", "STATE");
	printf("  %-8d %-8d %-8d %-8d root, %u threads\n", img->proc.pid, img->proc.ppid,
	       img->proc.pgid, img->proc.sid, img->nr_threads);
	for (i = 0; i < img->nr_children; i++) {
		const struct image_child *c = &img->children[i];
		struct image *ci;
		uint64_t bytes = 0, mapped = 0;

		printf("  %-8d %-8d %-8d %-8d ", c->pid, c->ppid, c->pgid, c->sid);
		if (c->is_zombie) {
			if (WIFSIGNALED(c->exit_status))
				printf("zombie, killed by signal %d\n", WTERMSIG(c->exit_status));
			else
				printf("zombie, exit status %d\n", WEXITSTATUS(c->exit_status));
			continue;
		}
		if (image_read_child(img, c, &ci)) {
			printf("(its image cannot be read)\n");
			continue;
		}
		for (k = 0; k < ci->nr_runs; k++)
			bytes += (uint64_t)ci->runs[k].npages * PAGE;
		for (k = 0; k < ci->nr_vmas; k++)
			mapped += ci->vmas[k].end - ci->vmas[k].start;
		printf("%.16s, %u threads, %u fds, %s mapped, %s of pages saved\n", ci->proc.comm,
		       ci->nr_threads, ci->nr_fds, human(mapped, b), human(bytes, a));
		image_free(ci);
	}
}

int cmd_inspect(int argc, char **argv)
{
	const char *dir = NULL, *key_file = NULL;
	uint8_t key[KEY_FILE_BYTES];
	struct image *img;
	bool as_json = false, verify = true;
	int i, ret, verified = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			as_json = true;
		} else if (!strcmp(argv[i], "--no-verify")) {
			verify = false;
		} else if (!strcmp(argv[i], "--key-file") && i + 1 < argc) {
			key_file = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cli_usage_error(usage, "unknown option %s", argv[i]);
		} else if (dir) {
			return cli_usage_error(usage, "one snapshot at a time");
		} else {
			dir = argv[i];
		}
	}
	if (!dir)
		return cli_usage_error(usage, "which snapshot? DIR");
	if (key_file) {
		/* signed, and (unless --no-verify) its files hashed in full: verify_tree reads on */
		ret = key_file_load(key_file, key) < 0 ? -EINVAL :
							   image_read_signed(dir, key, false, &img);
		OPENSSL_cleanse(key, sizeof(key));
	} else {
		ret = image_read(dir, &img);
	}
	if (ret)
		return 1; /* image_read said why */
	if (verify)
		verified = verify_tree(img) ? 1 : -1;
	if (as_json) {
		ret = print_json(img, verified);
	} else {
		print_header(img, dir);
		print_gpu(img);
		print_process(img);
		print_tree(img, dir);
		print_threads(img);
		print_memory(img);
		print_fds(img);
		print_files(img);
		print_snapshot_files(img);
		printf("  %-14s %s\n", "integrity", verdict(verified));
		ret = 0;
	}
	if (verified < 0)
		ret = 1; /* the snapshot is damaged: what it shows cannot be trusted */
	image_free(img);
	if (fflush(stdout)) {
		log_error("writing the output: %m");
		return 1;
	}
	return ret;
}
