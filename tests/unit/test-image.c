/*
 * test-image.c - the snapshot image layer: a fully populated image survives
 * write -> publish -> read and JSON -> struct -> JSON unchanged; publishing is
 * atomic and private; and every kind of damage to a snapshot on disk is
 * refused with a message that names the file and the problem, never a crash.
 *
 * Each test works in its own directory under $TMPDIR and removes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <openssl/sha.h>
#include "base/crc32c.h"
#include "image/image.h"
#include "image/image-internal.h"
#include "image/image-record.h"

#define IDX_HEADER 48 /* bytes of pages.idx's header */

#define PAGE IMAGE_PAGE_SIZE
#define VMA_A 0x400000ull /* 512 pages of dumped data */
#define VMA_B 0x7f0000000000ull /* file-private, one zero run */
#define VMA_C 0x7f0000100000ull /* shmem */

/* ---- a scratch directory per test ---- */

struct scratch {
	char root[256];
	char snap[300];
};

static void scratch_make(struct scratch *s)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(s->root, sizeof(s->root), "%s/test-image-XXXXXX", tmp);
	assert_non_null(mkdtemp(s->root));
	snprintf(s->snap, sizeof(s->snap), "%s/snap", s->root);
}

static void scratch_remove(struct scratch *s)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->root);
	assert_int_equal(system(cmd), 0);
}

/* ---- a fully populated image ---- */

static unsigned char *page_pattern(uint32_t npages, unsigned seed)
{
	unsigned char *p = malloc((size_t)npages * PAGE);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < (size_t)npages * PAGE; i++)
		p[i] = (unsigned char)(i * 31 + seed + i / PAGE);
	return p;
}

static void fill_blob(struct image *img, struct image_blob *b, size_t len, unsigned seed)
{
	unsigned char *buf = malloc(len ? len : 1);
	size_t i;

	assert_non_null(buf);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i + seed);
	if (img->data_fd >= 0) {
		assert_int_equal(image_add_blob(img, buf, len, b), 0);
	} else { /* JSON-only image: any range will do */
		b->off = seed * 1000ull;
		b->len = len;
		b->crc = crc32c(buf, len);
	}
	free(buf);
}

static void populate(struct image *img)
{
	struct image_file file = { 0 };
	struct image_thread *t;
	struct image_vma *v;
	struct image_fd *f;
	struct image_shmem *s;
	struct image_guard *g;
	struct image_child *c;
	int i, idx;

	strcpy(img->host.kernel_release, "6.18.0-thaw");
	for (i = 0; i < 8; i++)
		img->host.cpuid[i] = 0x80000000u + (uint32_t)i * 0x1111;
	img->host.xcr0 = 0x2e7;
	img->host.xsave_size = 2696;
	img->host.vvar_size = 4 * PAGE;
	img->host.vvar_vclock_size = 2 * PAGE;
	img->host.vdso_size = 2 * PAGE;
	img->host.vdso_crc = 0xdeadbeef;

	img->proc.pid = 2;
	img->proc.ppid = 1;
	img->proc.pgid = 2;
	img->proc.sid = 1;
	img->proc.host_pid = 12345;
	strcpy(img->proc.comm, "python3");
	img->proc.umask = 022;
	img->proc.personality = 0x0040000;
	img->proc.cwd = strdup("/home/user/work dir");
	img->proc.mm = (struct image_mm){ 0x400000, 0x401000, 0x402000, 0x403000, 0x500000,
					  0x521000, 0x7ffc0000, 0x7ffc1000, 0x7ffc1100,
					  0x7ffc1100, 0x7ffc1f00 };
	fill_blob(img, &img->proc.auxv, 368, 1);
	for (i = 0; i < IMAGE_NR_RLIMITS; i++) {
		img->proc.rlimits[i].cur = i % 3 ? (uint64_t)i * 1024 : UINT64_MAX;
		img->proc.rlimits[i].max = UINT64_MAX;
	}
	img->proc.rlimits[7].cur = 1024; /* nofile */
	img->proc.rlimits[7].max = 1ull << 63; /* does not fit a JSON integer */
	img->proc.sigactions[1] = (struct image_sigaction){ 0x401234, 0x14000000, 0x7f0000001000,
							    1ull << 14 };
	img->proc.sigactions[63] = (struct image_sigaction){ 1, 0, 0, 0 }; /* SIG_IGN */
	img->proc.itimers[0] = (struct image_itimer){ 1000, 500 };
	img->proc.itimers[2] = (struct image_itimer){ 0, 77 };
	fill_blob(img, &img->proc.pending_shared, 128, 2);
	img->proc.dumped_at_ns = 1763900000123456789ull;

	for (i = 0; i < 3; i++) {
		t = image_new_thread(img);
		assert_non_null(t);
		t->tid = i ? 100 + i : 2;
		memcpy(t->comm, "worker-0-abcdefz", 16); /* full 16 bytes, no NUL */
		t->comm[7] = (char)('0' + i);
		t->state = (uint32_t)i;
		t->syscall_nr = i ? 202 : -1;
		t->regs.rip = 0x401000u + (uint64_t)i;
		t->regs.rsp = 0x7ffc0000f000ull - (uint64_t)i * 0x1000;
		t->regs.fs_base = 0x7f00000000aaull;
		t->regs.orig_rax = (uint64_t)-1;
		t->regs.eflags = 0x246;
		t->regs.r15 = 0xffffffffffffffffull;
		fill_blob(img, &t->xsave, 2696, 3 + (unsigned)i);
		t->sigmask = 1ull << 13;
		t->clear_child_tid = 0x7f0000002000ull + (uint64_t)i;
		t->robust_list = 0x7f0000003000ull;
		t->robust_list_len = 24;
		t->rseq_abi = 0x7f0000004000ull;
		t->rseq_sig = 0x53053053;
		t->rseq_len = 32;
		t->rseq_flags = 0;
		t->altstack_sp = i == 1 ? 0x7f0000005000ull : 0;
		t->altstack_size = i == 1 ? 8192 : 0;
		t->altstack_flags = i == 1 ? 0 : 2;
		if (i == 2)
			fill_blob(img, &t->pending, 256, 9);
		/* a thread that dropped to another uid with some capabilities kept */
		t->creds = (struct image_creds){ .uid = 1000, .euid = 1000, .suid = 1000,
						 .fsuid = 1000, .gid = 100, .egid = 100,
						 .sgid = 100, .fsgid = 4294967294u,
						 .cap_inh = 0x400, .cap_prm = 0x1400,
						 .cap_eff = 0x1000, .cap_bnd = 0x1fffeffffffull,
						 .cap_amb = 0x400, .securebits = 0x2f,
						 .no_new_privs = i == 1 };
		if (i) {
			t->creds.nr_groups = 3;
			t->creds.groups = calloc(3, sizeof(uint32_t));
			assert_non_null(t->creds.groups);
			t->creds.groups[0] = 27;
			t->creds.groups[1] = 100;
			t->creds.groups[2] = 4294967294u;
		}
	}
	/* attributes: a fair thread, a realtime one bound to CPUs, a deadline one */
	img->threads[0].attrs = (struct image_thread_attrs){ .policy = 0, .nice = 5,
							     .slice_ns = 7000000,
							     .ioprio = 0x4002,
							     .timerslack_ns = 123456,
							     .pdeathsig = 28,
							     .mce_kill = IMAGE_MCE_KILL_EARLY,
							     .tsc_sigsegv = true };
	img->threads[1].attrs = (struct image_thread_attrs){
		.policy = 1, .sched_flags = IMAGE_SCHED_FLAG_RESET_ON_FORK, .nice = -2,
		.rt_priority = 10, .nr_cpus = 3
	};
	img->threads[1].attrs.cpus = calloc(3, sizeof(uint32_t));
	assert_non_null(img->threads[1].attrs.cpus);
	img->threads[1].attrs.cpus[0] = 1;
	img->threads[1].attrs.cpus[1] = 3;
	img->threads[1].attrs.cpus[2] = 4;
	img->threads[1].attrs.cpuid_faulting = true;
	img->threads[1].attrs.mpol_mode = 2; /* bind */
	img->threads[1].attrs.mpol_flags = IMAGE_MPOL_F_STATIC_NODES;
	img->threads[1].attrs.nr_mpol_nodes = 2;
	img->threads[1].attrs.mpol_nodes = calloc(2, sizeof(uint32_t));
	assert_non_null(img->threads[1].attrs.mpol_nodes);
	img->threads[1].attrs.mpol_nodes[0] = 0;
	img->threads[1].attrs.mpol_nodes[1] = 5;
	img->threads[2].attrs = (struct image_thread_attrs){ .policy = 6, .dl_runtime = 2000000,
							     .dl_deadline = 30000000,
							     .dl_period = 100000000,
							     .ioprio = 0x6000 };
	img->attrs = (struct image_proc_attrs){ .oom_score_adj = 345,
						.coredump_filter = 0x5d,
						.loginuid = 4242,
						.thp_disable = IMAGE_THP_DISABLE,
						.is_child_subreaper = true,
						.membarrier = 0x54,
						.mdwe = IMAGE_MDWE_REFUSE_EXEC_GAIN,
						.autogroup_nice = 6 };
	img->creds.dumpable = 2;
	/* seccomp: threads 0 and 1 share two filters, thread 2 runs under the second alone */
	{
		struct image_seccomp_filter *f0 = image_new_seccomp_filter(img);
		struct image_seccomp_filter *f1 = image_new_seccomp_filter(img);

		assert_non_null(f0);
		assert_non_null(f1);
		fill_blob(img, &f0->prog, 24, 21);
		fill_blob(img, &f1->prog, 4096 * 8, 22);
		f1->log = true;
		for (i = 0; i < 3; i++) {
			struct image_creds *c = &img->threads[i].creds;

			c->nr_seccomp = i < 2 ? 2 : 1;
			c->seccomp = calloc(2, sizeof(uint32_t));
			assert_non_null(c->seccomp);
			c->seccomp[0] = i < 2 ? 0 : 1;
			c->seccomp[1] = 1;
		}
	}

	memset(&file, 0, sizeof(file));
	file.path = "/usr/lib/x86_64-linux-gnu/libc.so.6";
	file.size = 1922136;
	file.mtime_ns = -5; /* before 1970: still must round-trip */
	file.ino = 0xfedcba9876543210ull; /* above INT64_MAX */
	file.dev = 0x803;
	file.mode = 0100755;
	idx = image_file_index(img, &file);
	assert_int_equal(idx, 0);
	assert_int_equal(image_file_index(img, &file), 0); /* dedup */
	file.path = "/tmp/\xff\xfe not utf-8";
	file.is_deleted = true;
	file.ino = 77;
	file.mode = 0100600;
	assert_int_equal(image_file_index(img, &file), 1);
	img->files[1].uid = 1000;
	img->files[1].gid = 100;
	img->files[1].nr_extents = 2;
	img->files[1].extents = calloc(2, sizeof(struct image_extent));
	assert_non_null(img->files[1].extents);
	fill_blob(img, &img->files[1].extents[0].data, 5000, 11);
	img->files[1].extents[1].off = 1 << 20;
	fill_blob(img, &img->files[1].extents[1].data, 100, 14);
	memset(&file, 0, sizeof(file));
	file.path = "/dev/null";
	file.mode = 020666;
	file.rdev = 0x103;
	assert_int_equal(image_file_index(img, &file), 2);
	img->proc.exe = 0;

	s = image_new_shmem(img);
	assert_non_null(s);
	s->ino = 4242;
	s->size = 64 * PAGE;
	s->is_memfd = true;
	s->name = strdup("cuda-ipc");
	s->seals = 0x1f;
	s->mode = 0750; /* fchmod of a memfd */
	s->uid = 1234;
	s->gid = 123;
	s->nr_extents = 2;
	s->extents = calloc(2, sizeof(*s->extents));
	assert_non_null(s->extents);
	s->extents[0].off = 0;
	fill_blob(img, &s->extents[0].data, 2 * PAGE, 12);
	s->extents[1].off = 10 * PAGE;
	fill_blob(img, &s->extents[1].data, PAGE, 13);

	v = image_new_vma(img);
	assert_non_null(v);
	v->start = VMA_A;
	v->end = VMA_A + 512 * PAGE;
	v->prot = 3;
	v->kind = IMAGE_VMA_ANON;
	v->flags = IMAGE_VMA_GROWSDOWN | IMAGE_VMA_NORESERVE;
	v->madv = IMAGE_MADV_DONTFORK | IMAGE_MADV_RANDOM;
	v->file = -1;
	v->shmem = -1;
	v->name = strdup("[heap]");
	v->pages_dumped = 301;
	v->pages_zero = 11;
	v = image_new_vma(img);
	assert_non_null(v);
	v->start = VMA_B;
	v->end = VMA_B + 16 * PAGE;
	v->prot = 5;
	v->kind = IMAGE_VMA_FILE_PRIVATE;
	v->pgoff = 3 * PAGE;
	v->file = 0;
	v->shmem = -1;
	v->name = strdup("/usr/lib/x86_64-linux-gnu/libc.so.6");
	v->pages_file = 12;
	v->pages_zero = 4;
	v = image_new_vma(img);
	assert_non_null(v);
	v->start = VMA_C;
	v->end = VMA_C + 64 * PAGE;
	v->prot = 3;
	v->kind = IMAGE_VMA_SHMEM;
	v->flags = IMAGE_VMA_MAYSHARE;
	v->file = -1;
	v->shmem = 0;
	v->name = NULL;

	c = image_new_child(img);
	assert_non_null(c);
	*c = (struct image_child){ .pid = 7, .ppid = 2, .pgid = 2, .sid = 1, .host_pid = 4107 };
	c = image_new_child(img);
	assert_non_null(c);
	*c = (struct image_child){ .pid = 9, .ppid = 7, .pgid = 2, .sid = 1, .host_pid = 4109,
				   .is_zombie = true, .exit_status = 0x0300 };

	img->job_control.stop_signal = 20; /* SIGTSTP */
	img->posix_timers = calloc(3, sizeof(*img->posix_timers));
	assert_non_null(img->posix_timers);
	img->nr_posix_timers = 3;
	img->posix_timers[0] = (struct image_posix_timer){
		.id = 0, .clockid = -6, .notify = IMAGE_TIMER_SIGNAL, .signo = 14,
		.sigval = 0xdeadbeef12345678ull, .value_ns = 5, .interval_ns = 7, .overrun = 3 };
	img->posix_timers[1] = (struct image_posix_timer){
		.id = 4, .clockid = 0, .notify = IMAGE_TIMER_THREAD_ID, .signo = 32, .tid = 101,
		.value_ns = 1000, .deadline_ns = 1763900001000000000ull };
	img->posix_timers[2] = (struct image_posix_timer){ .id = 9, .clockid = 7,
							   .notify = IMAGE_TIMER_NONE,
							   .signo = -3 };

	g = image_new_guard(img);
	assert_non_null(g);
	g->start = VMA_A + 400 * PAGE;
	g->end = VMA_A + 402 * PAGE;

	f = image_new_fd(img);
	f->fd = 0;
	f->kind = IMAGE_FD_INHERIT;
	f->file = -1;
	f->inherit.from = 0;
	f = image_new_fd(img);
	f->fd = 3;
	f->kind = IMAGE_FD_FILE;
	f->flags = 02 | 02000;
	f->cloexec = true;
	f->pos = 12345;
	f->file = 1;
	f = image_new_fd(img);
	f->fd = 4;
	f->kind = IMAGE_FD_PIPE;
	f->file = -1;
	f->pipe.ino = 99999;
	f->pipe.is_write_end = false;
	f->pipe.capacity = 65536;
	fill_blob(img, &f->pipe.data, 100, 14);
	f = image_new_fd(img);
	f->fd = 5;
	f->kind = IMAGE_FD_PIPE;
	f->file = -1;
	f->flags = 1;
	f->pipe.ino = 99999;
	f->pipe.is_write_end = true;
	f->pipe.capacity = 65536;
	f = image_new_fd(img);
	f->fd = 6;
	f->kind = IMAGE_FD_EVENTFD;
	f->file = -1;
	f->eventfd.count = 7;
	f->eventfd.is_semaphore = true;
	f = image_new_fd(img);
	f->fd = 7;
	f->kind = IMAGE_FD_EPOLL;
	f->file = -1;
	f->epoll.nr_watches = 2;
	f->epoll.watches = calloc(2, sizeof(*f->epoll.watches));
	assert_non_null(f->epoll.watches);
	f->epoll.watches[0] = (struct image_epoll_watch){ 4, 1, 0xffffffffffffffffull };
	f->epoll.watches[1] = (struct image_epoll_watch){ 6, 0x80000001u, 42 };
	f = image_new_fd(img);
	f->fd = 8;
	f->kind = IMAGE_FD_SIGNALFD;
	f->file = -1;
	f->signalfd.mask = (1ull << 16) | 2;
	f = image_new_fd(img);
	f->fd = 9;
	f->kind = IMAGE_FD_TIMERFD;
	f->file = -1;
	f->timerfd.clockid = 1;
	f->timerfd.settime_flags = 1;
	f->timerfd.ticks = 3;
	f->timerfd.value_ns = 999;
	f->timerfd.interval_ns = 1000000;
	f = image_new_fd(img);
	f->fd = 10;
	f->kind = IMAGE_FD_MEMFD;
	f->file = -1;
	f->memfd.shmem = 0;
	f->pos = 17;
	f = image_new_fd(img);
	f->fd = 11;
	f->kind = IMAGE_FD_CHR;
	f->file = 2;
	f->flags = 01;
	f = image_new_fd(img);
	f->fd = 12;
	f->kind = IMAGE_FD_DIR;
	f->file = 0; /* odd but legal: any file index */
	f = image_new_fd(img);
	f->fd = 20;
	f->kind = IMAGE_FD_PTY;
	f->file = -1;
	f->flags = 02;
	f->pty.index = 77;
	f->pty.lflag = 0x8a3b;
	f->pty.cflag = 0xbf;
	f->pty.ispeed = 15;
	f->pty.ospeed = 13;
	f->pty.rows = 24;
	f->pty.cols = 80;
	f->pty.is_exclusive = true;
	f->pty.nr_cc = 3;
	f->pty.cc = malloc(3 * sizeof(*f->pty.cc));
	assert_non_null(f->pty.cc);
	f->pty.cc[0] = 3;
	f->pty.cc[1] = 28;
	f->pty.cc[2] = 255;
	img->ctty = (struct image_ctty){ .is_set = true, .index = 5, .fg_pgid = 4242 };

	*image_new_lock(img) = (struct image_lock){ .fd = 3, .kind = IMAGE_LOCK_POSIX,
						    .type = IMAGE_LOCK_WRITE, .start = 10, .len = 20 };
	*image_new_lock(img) = (struct image_lock){ .fd = 10, .kind = IMAGE_LOCK_OFD,
						    .type = IMAGE_LOCK_READ, .start = 1ull << 62 };
	*image_new_lock(img) = (struct image_lock){ .fd = 12, .kind = IMAGE_LOCK_FLOCK,
						    .type = IMAGE_LOCK_READ };
	img->root.path = strdup("/srv/jail");
	*image_new_fd_owner(img) = (struct image_fd_owner){ .fd = 4, .type = IMAGE_OWNER_TID,
							    .pid = 101, .sig = 35 };
	*image_new_fd_owner(img) = (struct image_fd_owner){ .fd = 5, .type = IMAGE_OWNER_PGRP,
							    .pid = 2 };
}

/* pages: 300 dumped pages in VMA A (split at 256), 1 more merged, one zero run in B */
static void add_pages(struct image *img)
{
	unsigned char *p = page_pattern(301, 5);

	assert_int_equal(image_add_pages(img, VMA_A, p, 300, 0), 0);
	assert_int_equal(image_add_pages(img, VMA_A + 300 * PAGE, p + 300 * PAGE, 1, 0), 0);
	assert_int_equal(image_add_pages(img, VMA_B + 2 * PAGE, NULL, 4, IMAGE_RUN_ZERO), 0);
	free(p);
}

/* ---- comparing two images field by field ---- */

static void assert_blob_equal(const struct image_blob *a, const struct image_blob *b)
{
	assert_int_equal(a->off, b->off);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->crc, b->crc);
}

static void assert_str_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_images_equal(const struct image *a, const struct image *b, bool with_runs)
{
	struct image_proc pa = a->proc, pb = b->proc;
	uint32_t i, j;

	assert_int_equal(a->version, b->version);
	assert_memory_equal(&a->host, &b->host, sizeof(a->host));
	assert_str_equal(pa.cwd, pb.cwd);
	pa.cwd = pb.cwd = NULL;
	assert_memory_equal(&pa, &pb, sizeof(pa));

	assert_memory_equal(&a->attrs, &b->attrs, sizeof(a->attrs));
	assert_memory_equal(&a->job_control, &b->job_control, sizeof(a->job_control));
	assert_int_equal(a->nr_threads, b->nr_threads);
	for (i = 0; i < a->nr_threads; i++) {
		struct image_thread ta = a->threads[i], tb = b->threads[i];

		assert_int_equal(ta.attrs.nr_cpus, tb.attrs.nr_cpus);
		if (ta.attrs.nr_cpus)
			assert_memory_equal(ta.attrs.cpus, tb.attrs.cpus,
					    ta.attrs.nr_cpus * sizeof(uint32_t));
		ta.attrs.cpus = tb.attrs.cpus = NULL;
		assert_int_equal(ta.creds.nr_groups, tb.creds.nr_groups);
		if (ta.creds.nr_groups)
			assert_memory_equal(ta.creds.groups, tb.creds.groups,
					    ta.creds.nr_groups * sizeof(uint32_t));
		ta.creds.groups = tb.creds.groups = NULL;
		assert_int_equal(ta.attrs.nr_mpol_nodes, tb.attrs.nr_mpol_nodes);
		if (ta.attrs.nr_mpol_nodes)
			assert_memory_equal(ta.attrs.mpol_nodes, tb.attrs.mpol_nodes,
					    ta.attrs.nr_mpol_nodes * sizeof(uint32_t));
		ta.attrs.mpol_nodes = tb.attrs.mpol_nodes = NULL;
		assert_int_equal(ta.creds.nr_seccomp, tb.creds.nr_seccomp);
		if (ta.creds.nr_seccomp)
			assert_memory_equal(ta.creds.seccomp, tb.creds.seccomp,
					    ta.creds.nr_seccomp * sizeof(uint32_t));
		ta.creds.seccomp = tb.creds.seccomp = NULL;
		assert_memory_equal(&ta, &tb, sizeof(ta));
	}
	assert_int_equal(a->creds.dumpable, b->creds.dumpable);
	assert_int_equal(a->nr_seccomp_filters, b->nr_seccomp_filters);
	for (i = 0; i < a->nr_seccomp_filters; i++) {
		assert_int_equal(a->seccomp_filters[i].log, b->seccomp_filters[i].log);
		assert_blob_equal(&a->seccomp_filters[i].prog, &b->seccomp_filters[i].prog);
	}

	assert_int_equal(a->nr_vmas, b->nr_vmas);
	for (i = 0; i < a->nr_vmas; i++) {
		struct image_vma va = a->vmas[i], vb = b->vmas[i];

		assert_str_equal(va.name, vb.name);
		va.name = vb.name = NULL;
		assert_memory_equal(&va, &vb, sizeof(va));
	}
	assert_int_equal(a->nr_guards, b->nr_guards);
	for (i = 0; i < a->nr_guards; i++)
		assert_memory_equal(&a->guards[i], &b->guards[i], sizeof(a->guards[i]));

	assert_int_equal(a->nr_fds, b->nr_fds);
	for (i = 0; i < a->nr_fds; i++) {
		const struct image_fd *fa = &a->fds[i], *fb = &b->fds[i];

		assert_int_equal(fa->fd, fb->fd);
		assert_int_equal(fa->kind, fb->kind);
		assert_int_equal(fa->flags, fb->flags);
		assert_int_equal(fa->cloexec, fb->cloexec);
		assert_int_equal(fa->pos, fb->pos);
		assert_int_equal(fa->file, fb->file);
		switch (fa->kind) {
		case IMAGE_FD_PIPE:
		case IMAGE_FD_FIFO:
			assert_int_equal(fa->pipe.ino, fb->pipe.ino);
			assert_int_equal(fa->pipe.is_write_end, fb->pipe.is_write_end);
			assert_int_equal(fa->pipe.capacity, fb->pipe.capacity);
			assert_blob_equal(&fa->pipe.data, &fb->pipe.data);
			break;
		case IMAGE_FD_EPOLL:
			assert_int_equal(fa->epoll.nr_watches, fb->epoll.nr_watches);
			for (j = 0; j < fa->epoll.nr_watches; j++) {
				assert_int_equal(fa->epoll.watches[j].tfd, fb->epoll.watches[j].tfd);
				assert_int_equal(fa->epoll.watches[j].events,
						 fb->epoll.watches[j].events);
				assert_int_equal(fa->epoll.watches[j].data, fb->epoll.watches[j].data);
			}
			break;
		case IMAGE_FD_EVENTFD:
			assert_int_equal(fa->eventfd.count, fb->eventfd.count);
			assert_int_equal(fa->eventfd.is_semaphore, fb->eventfd.is_semaphore);
			break;
		case IMAGE_FD_TIMERFD:
			assert_memory_equal(&fa->timerfd, &fb->timerfd, sizeof(fa->timerfd));
			break;
		case IMAGE_FD_SIGNALFD:
			assert_int_equal(fa->signalfd.mask, fb->signalfd.mask);
			break;
		case IMAGE_FD_INHERIT:
			assert_int_equal(fa->inherit.from, fb->inherit.from);
			break;
		case IMAGE_FD_MEMFD:
			assert_int_equal(fa->memfd.shmem, fb->memfd.shmem);
			break;
		case IMAGE_FD_PTY:
			assert_int_equal(fa->pty.is_master, fb->pty.is_master);
			assert_int_equal(fa->pty.index, fb->pty.index);
			assert_int_equal(fa->pty.lflag, fb->pty.lflag);
			assert_int_equal(fa->pty.cflag, fb->pty.cflag);
			assert_int_equal(fa->pty.ospeed, fb->pty.ospeed);
			assert_int_equal(fa->pty.cols, fb->pty.cols);
			assert_int_equal(fa->pty.is_exclusive, fb->pty.is_exclusive);
			assert_int_equal(fa->pty.nr_cc, fb->pty.nr_cc);
			assert_memory_equal(fa->pty.cc, fb->pty.cc, fa->pty.nr_cc * sizeof(*fa->pty.cc));
			break;
		case IMAGE_FD_SOCKET:
			assert_int_equal(fa->sock.state, fb->sock.state);
			assert_int_equal(fa->sock.ino, fb->sock.ino);
			assert_int_equal(fa->sock.addr_len, fb->sock.addr_len);
			assert_memory_equal(fa->sock.addr, fb->sock.addr, fa->sock.addr_len);
			assert_int_equal(fa->sock.attrs.nr_opts, fb->sock.attrs.nr_opts);
			for (j = 0; j < fa->sock.attrs.nr_opts; j++)
				assert_memory_equal(&fa->sock.attrs.opts[j], &fb->sock.attrs.opts[j],
						    sizeof(fa->sock.attrs.opts[j]));
			assert_str_equal(fa->sock.attrs.bind_dev, fb->sock.attrs.bind_dev);
			assert_str_equal(fa->sock.attrs.congestion, fb->sock.attrs.congestion);
			assert_int_equal(fa->sock.attrs.nr_mcast, fb->sock.attrs.nr_mcast);
			for (j = 0; j < fa->sock.attrs.nr_mcast; j++) {
				const struct image_sock_mcast *ma = &fa->sock.attrs.mcast[j];
				const struct image_sock_mcast *mb = &fb->sock.attrs.mcast[j];

				assert_str_equal(ma->dev, mb->dev);
				assert_str_equal(ma->group, mb->group);
				assert_int_equal(ma->is_include, mb->is_include);
				assert_int_equal(ma->nr_sources, mb->nr_sources);
			}
			assert_int_equal(fa->sock.attrs.nr_filter, fb->sock.attrs.nr_filter);
			for (j = 0; j < fa->sock.attrs.nr_filter; j++)
				assert_int_equal(fa->sock.attrs.filter[j], fb->sock.attrs.filter[j]);
			assert_int_equal(fa->sock.attrs.is_filter_locked,
					 fb->sock.attrs.is_filter_locked);
			assert_int_equal(fa->sock.attrs.shutdown, fb->sock.attrs.shutdown);
			break;
		}
	}

	assert_int_equal(a->nr_files, b->nr_files);
	for (i = 0; i < a->nr_files; i++) {
		struct image_file fa = a->files[i], fb = b->files[i];

		assert_str_equal(fa.path, fb.path);
		assert_int_equal(fa.nr_extents, fb.nr_extents);
		for (j = 0; j < fa.nr_extents; j++) {
			assert_int_equal(fa.extents[j].off, fb.extents[j].off);
			assert_blob_equal(&fa.extents[j].data, &fb.extents[j].data);
		}
		fa.path = fb.path = NULL;
		fa.extents = fb.extents = NULL;
		assert_memory_equal(&fa, &fb, sizeof(fa));
	}
	assert_int_equal(a->nr_shmems, b->nr_shmems);
	for (i = 0; i < a->nr_shmems; i++) {
		const struct image_shmem *sa = &a->shmems[i], *sb = &b->shmems[i];

		assert_int_equal(sa->ino, sb->ino);
		assert_int_equal(sa->size, sb->size);
		assert_int_equal(sa->is_memfd, sb->is_memfd);
		assert_str_equal(sa->name, sb->name);
		assert_int_equal(sa->seals, sb->seals);
		assert_int_equal(sa->mode, sb->mode);
		assert_int_equal(sa->uid, sb->uid);
		assert_int_equal(sa->gid, sb->gid);
		assert_int_equal(sa->nr_extents, sb->nr_extents);
		for (j = 0; j < sa->nr_extents; j++) {
			assert_int_equal(sa->extents[j].off, sb->extents[j].off);
			assert_blob_equal(&sa->extents[j].data, &sb->extents[j].data);
		}
	}
	assert_int_equal(a->nr_children, b->nr_children);
	for (i = 0; i < a->nr_children; i++)
		assert_memory_equal(&a->children[i], &b->children[i], sizeof(a->children[i]));
	assert_int_equal(a->nr_locks, b->nr_locks);
	for (i = 0; i < a->nr_locks; i++)
		assert_memory_equal(&a->locks[i], &b->locks[i], sizeof(a->locks[i]));
	assert_str_equal(a->root.path, b->root.path);
	assert_int_equal(a->nr_fd_owners, b->nr_fd_owners);
	for (i = 0; i < a->nr_fd_owners; i++)
		assert_memory_equal(&a->fd_owners[i], &b->fd_owners[i], sizeof(a->fd_owners[i]));
	assert_int_equal(a->nr_posix_timers, b->nr_posix_timers);
	for (i = 0; i < a->nr_posix_timers; i++)
		assert_memory_equal(&a->posix_timers[i], &b->posix_timers[i],
				    sizeof(a->posix_timers[i]));
	assert_int_equal(a->nr_runs, b->nr_runs);
	assert_int_equal(a->pages_bytes, b->pages_bytes);
	if (with_runs)
		for (i = 0; i < a->nr_runs; i++)
			assert_memory_equal(&a->runs[i], &b->runs[i], sizeof(a->runs[i]));
}

/* ---- stderr capture, to check that errors say what is wrong ---- */

static char captured[8192];

static int read_captured(const char *dir, struct image **ret)
{
	FILE *tmp = tmpfile();
	int saved = dup(2), ret_code;
	size_t n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	ret_code = image_read(dir, ret);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
	return ret_code;
}

/* image_read must fail with want, logging a message containing every needle */
static void expect_refused(const char *dir, int want, const char *needle, const char *needle2)
{
	struct image *img = (struct image *)0x1;
	int ret = read_captured(dir, &img);

	if (ret != want || !strstr(captured, needle) || (needle2 && !strstr(captured, needle2)))
		print_error("image_read: got %d (want %d), log:\n%s\n", ret, want, captured);
	assert_int_equal(ret, want);
	assert_null(img);
	assert_non_null(strstr(captured, needle));
	if (needle2)
		assert_non_null(strstr(captured, needle2));
	/* one line, naming the snapshot */
	assert_non_null(strstr(captured, dir));
	assert_ptr_equal(strchr(captured, '\n'), captured + strlen(captured) - 1);
}

/*
 * The tree's other live process (pid 7 of populate()): published inside the
 * root's unpublished directory first, as a dump does, so that the root's
 * manifest can bind it.
 */
static void add_child_image(struct image *root)
{
	struct image *c;
	char path[600];

	snprintf(path, sizeof(path), "%s/" IMAGE_CHILD_DIR_FMT, root->tmp_path, 7);
	assert_int_equal(image_create(path, &c), 0);
	populate(c);
	c->proc.pid = 7;
	c->proc.ppid = 2;
	c->threads[0].tid = 7;
	free(c->children);
	c->children = NULL;
	c->nr_children = 0;
	add_pages(c);
	assert_int_equal(image_publish(c), 0);
	image_free(c);
}

static void make_snapshot(const char *dir)
{
	struct image *img;

	assert_int_equal(image_create(dir, &img), 0);
	populate(img);
	add_pages(img);
	add_child_image(img);
	assert_int_equal(image_publish(img), 0);
	image_free(img);
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	struct stat st;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void spit(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void fix_manifest_crc(const char *dir)
{
	char crc[16];
	size_t len;
	char *json = slurp(dir, "manifest.json", &len);

	snprintf(crc, sizeof(crc), "%08x\n", crc32c(json, len));
	spit(dir, "manifest.crc", crc, 9);
	free(json);
}

/* Rewrites manifest.json through fn and gives it a matching crc: only validation can object. */
static void mutate_manifest(const char *dir, void (*fn)(json_t *root))
{
	json_error_t jerr;
	size_t len;
	char *text = slurp(dir, "manifest.json", &len), *out;
	json_t *root = json_loadb(text, len, 0, &jerr);

	assert_non_null(root);
	fn(root);
	out = json_dumps(root, JSON_INDENT(2));
	assert_non_null(out);
	spit(dir, "manifest.json", out, strlen(out));
	fix_manifest_crc(dir);
	free(out);
	free(text);
	json_decref(root);
}

static json_t *at(json_t *root, const char *arr, size_t i)
{
	json_t *v = json_array_get(json_object_get(root, arr), i);

	assert_non_null(v);
	return v;
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
	struct scratch s;
	struct image *w, *r;
	unsigned char *pattern, *buf;
	void *blob;
	uint64_t i;

	(void)state;
	scratch_make(&s);
	assert_int_equal(image_create(s.snap, &w), 0);
	populate(w);
	add_pages(w);
	/* 300 pages split into 256 + 44; the next call's page merges into the 44 */
	assert_int_equal(w->nr_runs, 3);
	assert_int_equal(w->runs[0].npages, 256);
	assert_int_equal(w->runs[1].npages, 45);
	assert_int_equal(w->runs[2].flags, IMAGE_RUN_ZERO);
	add_child_image(w);
	assert_int_equal(image_publish(w), 0);

	assert_int_equal(image_read(s.snap, &r), 0);
	assert_images_equal(w, r, true);
	/* the files are bound to the manifest: the id, and every other file's size and digest */
	assert_memory_equal(w->parts.id, r->parts.id, IMAGE_ID_SIZE);
	assert_int_equal(r->parts.nr_files, 4); /* pages.idx, pages.img, data.img, proc-7 */
	for (i = 0; i < r->parts.nr_files; i++) {
		assert_string_equal(w->parts.files[i].name, r->parts.files[i].name);
		assert_int_equal(w->parts.files[i].size, r->parts.files[i].size);
		assert_memory_equal(w->parts.files[i].sha256, r->parts.files[i].sha256, 32);
	}
	assert_string_equal(r->parts.files[3].name, "proc-7/manifest.json");
	assert_int_equal(image_verify(r), 0);
	{
		struct image *c;

		assert_int_equal(image_read_child(r, &r->children[0], &c), 0);
		assert_int_equal(c->proc.pid, 7);
		assert_int_equal(image_verify(c), 0);
		image_free(c);
	}

	/* page bytes come back through the index, crcs match */
	pattern = page_pattern(301, 5);
	buf = malloc(256 * PAGE);
	assert_non_null(buf);
	for (i = 0; i < 2; i++) {
		const struct image_page_run *run = &r->runs[i];
		size_t n = (size_t)run->npages * PAGE;

		assert_int_equal(pread(r->pages_fd, buf, n, (off_t)run->off), (ssize_t)n);
		assert_int_equal(crc32c_pages(0, buf, n), run->crc);
		assert_memory_equal(buf, pattern + (run->vaddr - VMA_A), n);
	}
	free(buf);
	free(pattern);

	/* blobs come back with their bytes */
	assert_int_equal(image_read_blob(r, &r->files[1].extents[0].data, &blob), 0);
	assert_int_equal(((unsigned char *)blob)[4999], (unsigned char)(4999 + 11));
	free(blob);
	assert_int_equal(image_read_blob(r, &r->threads[2].xsave, &blob), 0);
	assert_int_equal(((unsigned char *)blob)[0], 5);
	free(blob);

	image_free(w);
	image_free(r);
	scratch_remove(&s);
}

/* The record tables themselves: sizes match types, bounds are set, names unique. */
static void test_record_tables(void **state)
{
	char err[256] = "";

	(void)state;
	if (image_records_check(err, sizeof(err)))
		print_error("%s\n", err);
	assert_int_equal(image_records_check(err, sizeof(err)), 0);
}

static void test_json_round_trip(void **state)
{
	struct image *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char err[256], *j1, *j2;

	(void)state;
	a->version = IMAGE_FORMAT_VERSION;
	a->dir_fd = a->pages_fd = a->data_fd = -1;
	populate(a);
	j1 = image_manifest_to_json(a, 2);
	assert_non_null(j1);
	/* human-readable bits */
	assert_non_null(strstr(j1, "\"kind\": \"file-private\""));
	assert_non_null(strstr(j1, "\"start\": \"0x7f0000000000\""));
	assert_non_null(strstr(j1, "\"cur\": \"unlimited\""));
	assert_non_null(strstr(j1, "\"umask\": \"022\""));
	assert_int_equal(image_manifest_from_json(b, j1, strlen(j1), err, sizeof(err)), 0);
	assert_images_equal(a, b, false);
	j2 = image_manifest_to_json(b, 2);
	assert_string_equal(j1, j2);
	free(j2);
	/* compact form parses the same */
	j2 = image_manifest_to_json(a, 0);
	assert_null(strchr(j2, '\n'));
	image_free(b);
	b = calloc(1, sizeof(*b));
	assert_int_equal(image_manifest_from_json(b, j2, strlen(j2), err, sizeof(err)), 0);
	assert_images_equal(a, b, false);
	free(j1);
	free(j2);
	image_free(a);
	image_free(b);
}

/* The GPU part with a weights region: through JSON and back, and what validation refuses. */
static void test_gpu_weights(void **state)
{
	struct image *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct image_gpu *g = &a->gpu;
	char err[256], *j;

	(void)state;
	a->version = IMAGE_FORMAT_VERSION;
	a->dir_fd = a->pages_fd = a->data_fd = -1;
	populate(a);
	a->has_gpu = true;
	snprintf(g->driver, sizeof(g->driver), "580.95.05");
	g->cuda_version = 13000;
	g->uvm_socket_fd = -1;
	g->restore_tid = a->threads[1].tid;
	g->weights_tid = a->threads[0].tid;
	g->weights_req_fd = 5; /* populate's pipe: 4 read end, 5 write end */
	g->weights_rep_fd = 4;
	g->weights_segments = 3;
	g->weights_bytes = 6 << 20;
	assert_int_equal(image_validate(a, err, sizeof(err)), 0);
	j = image_manifest_to_json(a, 0);
	assert_non_null(j);
	assert_int_equal(image_manifest_from_json(b, j, strlen(j), err, sizeof(err)), 0);
	free(j);
	assert_true(b->has_gpu);
	assert_int_equal(b->gpu.weights_tid, g->weights_tid);
	assert_int_equal(b->gpu.weights_req_fd, 5);
	assert_int_equal(b->gpu.weights_rep_fd, 4);
	assert_int_equal(b->gpu.weights_segments, 3);
	assert_int_equal(b->gpu.weights_bytes, 6 << 20);
	image_free(b);

	g->weights_req_fd = 6; /* an eventfd */
	assert_int_not_equal(image_validate(a, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "not a pipe"));
	g->weights_req_fd = 5;
	g->weights_tid = 99999; /* no such thread */
	assert_int_not_equal(image_validate(a, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "weights_tid"));
	g->weights_tid = a->threads[0].tid;
	g->weights_bytes = 0;
	assert_int_not_equal(image_validate(a, err, sizeof(err)), 0);
	image_free(a);
}

/* gpu.state: where the device state lies (a lazy restore keeps it eager), kept and bounded. */
static void test_gpu_state(void **state)
{
	static const char *const bad[][2] = {
		{ "\"start\":\"0x600000\"", "\"start\":\"0x600010\"" }, /* not page-aligned */
		{ "\"end\":\"0x901000\"", "\"end\":\"0x500000\"" }, /* before its start */
		{ "\"start\":\"0x900000\"", "\"start\":\"0x700000\"" }, /* overlaps the one before */
	};
	struct image *a = calloc(1, sizeof(*a)), *b;
	char err[256], *j1, *j2, *at;
	size_t i;

	(void)state;
	a->version = IMAGE_FORMAT_VERSION;
	a->dir_fd = a->pages_fd = a->data_fd = -1;
	populate(a);
	a->has_gpu = true;
	a->gpu.uvm_socket_fd = -1;
	a->gpu.state_known = true;
	a->gpu.nr_state = 2;
	a->gpu.state[0].start = 0x600000;
	a->gpu.state[0].end = 0x800000;
	a->gpu.state[1].start = 0x900000;
	a->gpu.state[1].end = 0x901000;
	j1 = image_manifest_to_json(a, 0);
	assert_non_null(j1);
	b = calloc(1, sizeof(*b));
	assert_int_equal(image_manifest_from_json(b, j1, strlen(j1), err, sizeof(err)), 0);
	assert_true(b->gpu.state_known);
	assert_int_equal(b->gpu.nr_state, 2);
	assert_int_equal(b->gpu.state[1].start, 0x900000);
	assert_int_equal(b->gpu.state[1].end, 0x901000);
	j2 = image_manifest_to_json(b, 0);
	assert_string_equal(j1, j2);
	free(j2);
	image_free(b);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j2 = strdup(j1);
		at = strstr(j2, bad[i][0]);
		assert_non_null(at);
		assert_int_equal(strlen(bad[i][0]), strlen(bad[i][1]));
		memcpy(at, bad[i][1], strlen(bad[i][1]));
		b = calloc(1, sizeof(*b));
		assert_int_equal(image_manifest_from_json(b, j2, strlen(j2), err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "gpu.state"));
		image_free(b);
		free(j2);
	}
	/* not recorded (an older snapshot): left out, read back as unknown */
	a->gpu.state_known = false;
	free(j1);
	j1 = image_manifest_to_json(a, 0);
	assert_null(strstr(j1, "\"state\":["));
	b = calloc(1, sizeof(*b));
	assert_int_equal(image_manifest_from_json(b, j1, strlen(j1), err, sizeof(err)), 0);
	assert_false(b->gpu.state_known);
	image_free(b);
	free(j1);
	image_free(a);
}

static void test_atomic_publish(void **state)
{
	struct scratch s;
	struct image *img;
	struct stat st;
	char tmp[512], path[600];
	const char *names[] = { "manifest.json", "manifest.crc", "pages.idx", "pages.img",
				"data.img" };
	size_t i;

	(void)state;
	scratch_make(&s);
	assert_int_equal(image_create(s.snap, &img), 0);
	snprintf(tmp, sizeof(tmp), "%s", img->tmp_path);
	assert_int_equal(strncmp(tmp, s.snap, strlen(s.snap)), 0);
	assert_int_equal(strncmp(tmp + strlen(s.snap), ".tmp-", 5), 0);
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	populate(img);
	add_pages(img);
	add_child_image(img);
	assert_int_equal(stat(s.snap, &st), -1); /* not there until published */
	assert_int_equal(image_publish(img), 0);
	image_free(img);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(stat(s.snap, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s.snap, names[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	/* an existing snapshot is never overwritten */
	assert_int_equal(image_create(s.snap, &img), -EEXIST);
	assert_null(img);

	/* abort leaves nothing behind */
	snprintf(path, sizeof(path), "%s/other", s.root);
	assert_int_equal(image_create(path, &img), 0);
	snprintf(tmp, sizeof(tmp), "%s", img->tmp_path);
	populate(img);
	add_pages(img);
	image_abort(img);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(stat(path, &st), -1);
	scratch_remove(&s);
}

static void test_publish_refuses_invalid(void **state)
{
	struct scratch s;
	struct image *img;
	unsigned char page[PAGE] = { 1 };

	(void)state;
	scratch_make(&s);
	assert_int_equal(image_create(s.snap, &img), 0);
	populate(img);
	/* a page outside every VMA would make an unreadable snapshot */
	assert_int_equal(image_add_pages(img, 0x10000000, page, 1, 0), 0);
	assert_int_equal(image_publish(img), -EINVAL);
	image_abort(img);
	assert_int_equal(access(s.snap, F_OK), -1);
	scratch_remove(&s);
}

static void test_not_a_snapshot(void **state)
{
	struct scratch s;

	(void)state;
	scratch_make(&s);
	assert_int_equal(mkdir(s.snap, 0700), 0);
	expect_refused(s.snap, -ENOENT, "no manifest.json", "is not a snapshot");
	scratch_remove(&s);
}

static void set_version(json_t *root)
{
	json_object_set_new(root, "version", json_integer(IMAGE_FORMAT_VERSION + 1));
}

static void test_wrong_version(void **state)
{
	char want[64], have[64];
	struct scratch s;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_manifest(s.snap, set_version);
	snprintf(want, sizeof(want), "format version %d", IMAGE_FORMAT_VERSION + 1);
	snprintf(have, sizeof(have), "reads version %d", IMAGE_FORMAT_VERSION);
	expect_refused(s.snap, -EINVAL, want, have);
	scratch_remove(&s);
}

static void test_bad_manifest_crc(void **state)
{
	struct scratch s;
	size_t len;
	char *crc;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	crc = slurp(s.snap, "manifest.crc", &len);
	crc[0] = crc[0] == '0' ? '1' : '0';
	spit(s.snap, "manifest.crc", crc, len);
	free(crc);
	expect_refused(s.snap, -EINVAL, "manifest.json", "does not match manifest.crc");
	spit(s.snap, "manifest.crc", "zz\n", 3);
	expect_refused(s.snap, -EINVAL, "manifest.crc", "not 8 hex digits");
	scratch_remove(&s);
}

static void test_truncated_manifest(void **state)
{
	struct scratch s;
	size_t len;
	char *json;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	json = slurp(s.snap, "manifest.json", &len);
	spit(s.snap, "manifest.json", json, len / 2);
	expect_refused(s.snap, -EINVAL, "does not match manifest.crc", NULL); /* crc catches it */
	fix_manifest_crc(s.snap);
	expect_refused(s.snap, -EINVAL, "manifest.json", "line"); /* the parser catches it */
	spit(s.snap, "manifest.json", "", 0);
	expect_refused(s.snap, -EINVAL, "manifest.json", "size 0");
	free(json);
	scratch_remove(&s);
}

static void too_many_threads(json_t *root)
{
	json_t *threads = json_object_get(root, "threads");

	while (json_array_size(threads) <= IMAGE_MAX_THREADS)
		json_array_append(threads, json_array_get(threads, 1));
}

static void too_many_watches(json_t *root)
{
	size_t i;
	json_t *fd, *w;

	json_array_foreach (json_object_get(root, "fds"), i, fd)
		if (!strcmp(json_string_value(json_object_get(fd, "kind")), "epoll")) {
			w = json_object_get(json_object_get(fd, "epoll"), "watches");
			while (json_array_size(w) <= IMAGE_MAX_WATCHES)
				json_array_append(w, json_array_get(w, 0));
		}
}

static void big_xsave(json_t *root)
{
	json_t *x = json_object_get(at(root, "threads", 0), "xsave");

	json_object_set_new(x, "len", json_integer(IMAGE_MAX_XSAVE + 1));
}

static void test_counts_over_bounds(void **state)
{
	struct scratch s;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_manifest(s.snap, too_many_threads);
	expect_refused(s.snap, -EINVAL, "threads", "at most 4096");
	scratch_remove(&s);

	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_manifest(s.snap, too_many_watches);
	expect_refused(s.snap, -EINVAL, "watches", "at most 65536");
	scratch_remove(&s);

	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_manifest(s.snap, big_xsave);
	expect_refused(s.snap, -EINVAL, "threads[0].xsave", "at most 65536");
	scratch_remove(&s);
}

static void vma_file_out_of_range(json_t *root)
{
	json_object_set_new(at(root, "vmas", 1), "file", json_integer(99));
}

static void memfd_out_of_range(json_t *root)
{
	json_object_set_new(json_object_get(at(root, "fds", 8), "memfd"), "shmem", json_integer(1));
}

static void exe_out_of_range(json_t *root)
{
	json_object_set_new(json_object_get(root, "process"), "exe", json_integer(3));
}

static void file_vma_without_file(json_t *root)
{
	json_object_del(at(root, "vmas", 1), "file");
}

static void test_out_of_range_indexes(void **state)
{
	static const struct {
		void (*fn)(json_t *);
		const char *needle;
	} cases[] = {
		{ vma_file_out_of_range, "vmas[1].file: index 99 out of range (3 entries)" },
		{ memfd_out_of_range, "fd 10 memfd shmem: index 1 out of range (1 entries)" },
		{ exe_out_of_range, "process.exe: index 3 out of range" },
		{ file_vma_without_file, "vmas[1].file: index -1 out of range" },
	};
	struct scratch s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scratch_make(&s);
		make_snapshot(s.snap);
		mutate_manifest(s.snap, cases[i].fn);
		expect_refused(s.snap, -EINVAL, "manifest.json", cases[i].needle);
		scratch_remove(&s);
	}
}

static void overlap_vmas(json_t *root)
{
	/* vma 2 starts inside vma 1 */
	json_object_set_new(at(root, "vmas", 2), "start", json_string("0x7f0000002000"));
}

static void unsorted_vmas(json_t *root)
{
	json_t *vmas = json_object_get(root, "vmas"), *first = json_incref(json_array_get(vmas, 0));

	json_array_remove(vmas, 0);
	json_array_append_new(vmas, first);
}

static void test_overlapping_vmas(void **state)
{
	struct scratch s;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_manifest(s.snap, overlap_vmas);
	expect_refused(s.snap, -EINVAL, "vmas[2]", "overlaps or precedes vmas[1]");
	scratch_remove(&s);
	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_manifest(s.snap, unsorted_vmas);
	expect_refused(s.snap, -EINVAL, "vmas[2]", "overlaps or precedes");
	scratch_remove(&s);
}

static const char *rebind_name;
static unsigned char rebind_sha[32];
static uint64_t rebind_size;

static void set_part(json_t *root)
{
	static const char digits[] = "0123456789abcdef";
	json_t *files = json_object_get(json_object_get(root, "parts"), "files"), *f;
	char hex[65];
	size_t i;

	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[rebind_sha[i] >> 4];
		hex[2 * i + 1] = digits[rebind_sha[i] & 15];
	}
	hex[64] = '\0';
	json_array_foreach (files, i, f)
		if (!strcmp(json_string_value(json_object_get(f, "name")), rebind_name)) {
			json_object_set_new(f, "sha256", json_string(hex));
			json_object_set_new(f, "size", json_integer((json_int_t)rebind_size));
			return;
		}
	fail_msg("no part %s in the manifest", rebind_name);
}

/* Records the file's present size and SHA-256 in the manifest: an editor who rewrites both. */
static void rebind(const char *dir, const char *name)
{
	size_t len;
	char *bytes = slurp(dir, name, &len);

	SHA256((const unsigned char *)bytes, len, rebind_sha);
	rebind_size = len;
	rebind_name = name;
	mutate_manifest(dir, set_part);
	free(bytes);
}

/* Rewrites entry i of pages.idx with fn, keeping every crc right (and, with is_bound, its digest). */
static void edit_run(const char *dir, uint64_t i, void (*fn)(unsigned char *entry), bool is_bound)
{
	size_t len;
	unsigned char *idx = (unsigned char *)slurp(dir, "pages.idx", &len);
	uint32_t crc;

	fn(idx + IDX_HEADER + i * 32);
	crc = crc32c(idx + IDX_HEADER, len - IDX_HEADER);
	memcpy(idx + 40, &crc, 4);
	crc = crc32c(idx, 44);
	memcpy(idx + 44, &crc, 4);
	spit(dir, "pages.idx", idx, len);
	free(idx);
	if (is_bound)
		rebind(dir, "pages.idx");
}

static void mutate_run(const char *dir, uint64_t i, void (*fn)(unsigned char *entry))
{
	edit_run(dir, i, fn, true);
}

static void run_off_far(unsigned char *e)
{
	uint64_t off = 1ull << 40;

	memcpy(e + 8, &off, 8);
}

static void run_vaddr_nowhere(unsigned char *e)
{
	uint64_t vaddr = 0x10000000;

	memcpy(e, &vaddr, 8);
}

static void run_too_long(unsigned char *e)
{
	uint32_t n = IMAGE_MAX_RUN_PAGES + 1;

	memcpy(e + 16, &n, 4);
}

static void test_run_outside_pages_img(void **state)
{
	struct scratch s;
	char path[512];

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_run(s.snap, 1, run_off_far);
	expect_refused(s.snap, -EINVAL, "pages.idx: run 1 (vaddr 0x500000)",
		       "extends past end of pages.img");
	scratch_remove(&s);

	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_run(s.snap, 0, run_vaddr_nowhere);
	expect_refused(s.snap, -EINVAL, "run 0 (vaddr 0x10000000", "lies in no single VMA");
	scratch_remove(&s);

	scratch_make(&s);
	make_snapshot(s.snap);
	mutate_run(s.snap, 0, run_too_long);
	expect_refused(s.snap, -EINVAL, "run 0", "257 pages");
	scratch_remove(&s);

	/* pages.img cut short: the manifest's byte count and the runs no longer fit */
	scratch_make(&s);
	make_snapshot(s.snap);
	snprintf(path, sizeof(path), "%s/pages.img", s.snap);
	assert_int_equal(truncate(path, 100 * PAGE), 0);
	expect_refused(s.snap, -EINVAL, "pages.img", "manifest says");
	scratch_remove(&s);
}

static void test_truncated_pages_idx(void **state)
{
	struct scratch s;
	char path[512];
	struct stat st;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	snprintf(path, sizeof(path), "%s/pages.idx", s.snap);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 10), 0);
	expect_refused(s.snap, -EINVAL, "pages.idx", "truncated");
	assert_int_equal(truncate(path, 20), 0);
	expect_refused(s.snap, -EINVAL, "pages.idx", "truncated header");
	assert_int_equal(unlink(path), 0);
	expect_refused(s.snap, -EINVAL, "pages.idx", "No such file");
	scratch_remove(&s);
}

static void test_flipped_byte_pages_idx(void **state)
{
	struct scratch s;
	size_t len, i;
	unsigned char *idx;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	idx = (unsigned char *)slurp(s.snap, "pages.idx", &len);
	/* every single byte flip anywhere in the index is caught */
	for (i = 0; i < len; i++) {
		idx[i] ^= 0x10;
		spit(s.snap, "pages.idx", idx, len);
		expect_refused(s.snap, -EINVAL, "pages.idx", NULL);
		idx[i] ^= 0x10;
	}
	spit(s.snap, "pages.idx", idx, len);
	idx[IDX_HEADER + 8] ^= 1;
	spit(s.snap, "pages.idx", idx, len);
	expect_refused(s.snap, -EINVAL, "pages.idx", "entries crc mismatch");
	free(idx);
	scratch_remove(&s);
}

static void test_blob_past_end(void **state)
{
	struct scratch s;
	struct image *img;
	char path[512];

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	assert_int_equal(image_read(s.snap, &img), 0);
	snprintf(path, sizeof(path), "%s/data.img", s.snap);
	assert_int_equal(truncate(path, (off_t)img->data_bytes - 1), 0);
	image_free(img);
	expect_refused(s.snap, -EINVAL, "data.img", "but the manifest says");
	/* with the manifest rewritten to match, the blob bounds still hold */
	rebind(s.snap, "data.img");
	expect_refused(s.snap, -EINVAL, "extends past the end of data.img", "fd 4 pipe data");
	scratch_remove(&s);
}

static void test_blob_crc_mismatch(void **state)
{
	struct scratch s;
	struct image *img;
	void *data = (void *)0x1;
	size_t len;
	char *bytes;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	bytes = slurp(s.snap, "data.img", &len);
	assert_int_equal(image_read(s.snap, &img), 0);
	bytes[img->files[1].extents[0].data.off + 17] ^= 4;
	spit(s.snap, "data.img", bytes, len);
	free(bytes);
	image_free(img);
	assert_int_equal(image_read(s.snap, &img), 0); /* blobs are checked when read */
	{
		FILE *tmp = tmpfile();
		int saved = dup(2), ret;
		char offset[64];

		fflush(stderr);
		dup2(fileno(tmp), 2);
		ret = image_read_blob(img, &img->files[1].extents[0].data, &data);
		dup2(saved, 2);
		close(saved);
		rewind(tmp);
		captured[fread(captured, 1, sizeof(captured) - 1, tmp)] = '\0';
		fclose(tmp);
		assert_int_equal(ret, -EINVAL);
		assert_null(data);
		snprintf(offset, sizeof(offset), "offset %llu",
			 (unsigned long long)img->files[1].extents[0].data.off);
		assert_non_null(strstr(captured, offset));
		assert_non_null(strstr(captured, "crc mismatch"));
	}
	/* the other blobs are intact */
	assert_int_equal(image_read_blob(img, &img->proc.auxv, &data), 0);
	free(data);
	image_free(img);
	scratch_remove(&s);
}

/* Copies file name of snapshot from into snapshot to (both in one scratch root). */
static void copy_file(const char *from, const char *to, const char *name)
{
	size_t len;
	char *bytes = slurp(from, name, &len);

	spit(to, name, bytes, len);
	free(bytes);
}

/* Files of two dumps mixed in one directory: each is refused, naming the file. */
static void test_mixed_dumps(void **state)
{
	static const struct {
		const char *file, *needle;
	} cases[] = {
		{ "pages.img", "pages.img belongs to another snapshot" },
		{ "data.img", "data.img belongs to another snapshot" },
		{ "pages.idx", "pages.idx belongs to another snapshot" },
		{ "manifest.json", "data.img belongs to another snapshot" },
	};
	struct scratch s;
	struct image *img, *c;
	char other[400], cmd[1400];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scratch_make(&s);
		snprintf(other, sizeof(other), "%s/other", s.root);
		make_snapshot(s.snap);
		make_snapshot(other);
		copy_file(other, s.snap, cases[i].file);
		if (!strcmp(cases[i].file, "manifest.json"))
			copy_file(other, s.snap, "manifest.crc");
		expect_refused(s.snap, -EINVAL, cases[i].needle, NULL);
		scratch_remove(&s);
	}
	/* a process of another dump's tree: the root's record of its manifest does not match */
	scratch_make(&s);
	snprintf(other, sizeof(other), "%s/other", s.root);
	make_snapshot(s.snap);
	make_snapshot(other);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/proc-7 && cp -a %s/proc-7 %s/", s.snap, other, s.snap);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(image_read(s.snap, &img), 0);
	assert_int_equal(image_read_child(img, &img->children[0], &c), -EINVAL);
	assert_null(c);
	image_free(img);
	scratch_remove(&s);
}

static void run_crc_changed(unsigned char *e)
{
	e[24] ^= 0x5a; /* a run's crc: valid, and would let other page bytes in */
}

static void run_padding(unsigned char *e)
{
	e[28] = 1;
}

static void drop_data_part(json_t *root)
{
	json_t *files = json_object_get(json_object_get(root, "parts"), "files"), *f;
	size_t i;

	json_array_foreach (files, i, f)
		if (!strcmp(json_string_value(json_object_get(f, "name")), "data.img")) {
			json_array_remove(files, i);
			return;
		}
}

/* Set one byte of a file at off (no crc fixed). */
static void poke(const char *dir, const char *name, size_t off, unsigned char v)
{
	size_t len;
	char *bytes = slurp(dir, name, &len);

	assert_true(off < len);
	bytes[off] = (char)v;
	spit(dir, name, bytes, len);
	free(bytes);
}

static void unbound_crc_edit(const char *dir)
{
	edit_run(dir, 0, run_crc_changed, false);
}

static void padding_set(const char *dir)
{
	mutate_run(dir, 1, run_padding);
}

static void idx_reserved_set(const char *dir)
{
	size_t len;
	unsigned char *idx = (unsigned char *)slurp(dir, "pages.idx", &len);
	uint32_t crc;

	idx[13] = 1;
	crc = crc32c(idx, 44);
	memcpy(idx + 44, &crc, 4);
	spit(dir, "pages.idx", idx, len);
	free(idx);
	rebind(dir, "pages.idx");
}

static void pages_reserved_set(const char *dir)
{
	poke(dir, "pages.img", 100, 1);
}

static void data_reserved_set(const char *dir)
{
	poke(dir, "data.img", 13, 1);
}

static void data_part_dropped(const char *dir)
{
	mutate_manifest(dir, drop_data_part);
}

/* An index edited with its crcs recomputed, reserved bytes set, a part unrecorded. */
static void test_bound_files(void **state)
{
	static const struct {
		void (*damage)(const char *dir);
		const char *needle, *needle2;
	} cases[] = {
		{ unbound_crc_edit, "pages.idx: SHA-256", "does not match the manifest's" },
		{ padding_set, "pages.idx: run 1", "padding is not zero" },
		{ idx_reserved_set, "pages.idx", "reserved header bytes are not zero" },
		{ pages_reserved_set, "pages.img", "reserved header byte 100 is not zero" },
		{ data_reserved_set, "data.img", "reserved header byte 13 is not zero" },
		{ data_part_dropped, "parts", "no record of data.img" },
	};
	struct scratch s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scratch_make(&s);
		make_snapshot(s.snap);
		cases[i].damage(s.snap);
		expect_refused(s.snap, -EINVAL, cases[i].needle, cases[i].needle2);
		scratch_remove(&s);
	}
}

/* What a restore checks only as it reads, image_verify() (thaw inspect) checks at once. */
static void test_verify(void **state)
{
	struct scratch s;
	struct image *img;

	(void)state;
	scratch_make(&s);
	make_snapshot(s.snap);
	assert_int_equal(image_read(s.snap, &img), 0);
	assert_int_equal(image_verify(img), 0);
	image_free(img);
	/* a page byte: its run's crc and the file's SHA-256 */
	poke(s.snap, "pages.img", PAGE + 5 * PAGE + 7, 0xee);
	assert_int_equal(image_read(s.snap, &img), 0); /* the restorer would catch it */
	assert_int_equal(image_verify(img), -EINVAL);
	image_free(img);
	scratch_remove(&s);

	scratch_make(&s);
	make_snapshot(s.snap);
	assert_int_equal(image_read(s.snap, &img), 0);
	poke(s.snap, "data.img", (size_t)img->threads[2].xsave.off + 1, 0xee);
	assert_int_equal(image_verify(img), -EINVAL);
	image_free(img);
	scratch_remove(&s);
}

static int read_signed_captured(const char *dir, const uint8_t *key, bool with_bytes,
				struct image **ret)
{
	FILE *tmp = tmpfile();
	int saved = dup(2), ret_code;

	fflush(stderr);
	dup2(fileno(tmp), 2);
	ret_code = image_read_signed(dir, key, with_bytes, ret);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	captured[fread(captured, 1, sizeof(captured) - 1, tmp)] = '\0';
	fclose(tmp);
	return ret_code;
}

static void tweak_umask(json_t *root)
{
	json_object_set_new(json_object_get(root, "process"), "umask", json_string("077"));
}

/* thaw dump --key-file: a signed manifest, refused unsigned, signed otherwise, or edited. */
static void test_signed(void **state)
{
	uint8_t key[IMAGE_KEY_SIZE], other[IMAGE_KEY_SIZE];
	struct scratch s;
	struct image *img, *c;

	(void)state;
	memset(key, 0x11, sizeof(key));
	memset(other, 0x22, sizeof(other));
	scratch_make(&s);
	make_snapshot(s.snap);
	assert_int_equal(read_signed_captured(s.snap, key, true, &img), -EPERM);
	assert_non_null(strstr(captured, "no manifest.sig: it is not signed"));
	assert_int_equal(image_sign(s.snap, key), 0);
	assert_int_equal(read_signed_captured(s.snap, key, true, &img), 0);
	assert_int_equal(img->is_signed, IMAGE_SIGNED_WITH_BYTES);
	assert_int_equal(image_read_child(img, &img->children[0], &c), 0);
	image_free(c);
	image_free(img);
	assert_int_equal(read_signed_captured(s.snap, other, true, &img), -EPERM);
	assert_non_null(strstr(captured, "does not sign this manifest with this key"));
	/* an edit that keeps every crc right, which image_read() alone accepts */
	mutate_manifest(s.snap, tweak_umask);
	assert_int_equal(image_read(s.snap, &img), 0);
	image_free(img);
	assert_int_equal(read_signed_captured(s.snap, key, true, &img), -EPERM);
	scratch_remove(&s);

	/* page bytes changed in place: restore's run crc is no proof, the signed digest is */
	scratch_make(&s);
	make_snapshot(s.snap);
	assert_int_equal(image_sign(s.snap, key), 0);
	poke(s.snap, "pages.img", PAGE + 3, 0x77);
	assert_int_equal(read_signed_captured(s.snap, key, false, &img), 0); /* signature only */
	image_free(img);
	assert_int_equal(read_signed_captured(s.snap, key, true, &img), -EINVAL);
	assert_non_null(strstr(captured, "pages.img: SHA-256"));
	scratch_remove(&s);

	/* and a tree's process, bound through the signed root */
	scratch_make(&s);
	make_snapshot(s.snap);
	assert_int_equal(image_sign(s.snap, key), 0);
	{
		char child[400];

		snprintf(child, sizeof(child), "%s/proc-7", s.snap);
		poke(child, "data.img", 32 + 1, 0x77); /* past its header */
	}
	assert_int_equal(read_signed_captured(s.snap, key, true, &img), 0);
	assert_int_equal(image_read_child(img, &img->children[0], &c), -EINVAL);
	image_free(img);
	scratch_remove(&s);
}

/* Hostile manifests straight into the parser: each refused with a message, none crashes. */
static void test_hostile_json(void **state)
{
	static const struct {
		const char *from, *to, *needle;
	} cases[] = {
		{ "\"start\": \"0x400000\"", "\"start\": \"0x400001\"", "not page-aligned" },
		{ "\"start\": \"0x400000\"", "\"start\": \"0x800000000000\"", "vmas[0]" },
		{ "\"start\": \"0x400000\"", "\"start\": \"0x1234567890abcdef0\"", "vmas[0].start" },
		{ "\"start\": \"0x400000\"", "\"start\": 4194304", "vmas[0].start" },
		{ "\"kind\": \"anon\"", "\"kind\": \"martian\"", "vmas[0].kind: unknown" },
		{ "\"prot\": \"rw-\"", "\"prot\": \"rwz\"", "vmas[0].prot" },
		{ "\"state\": \"running\"", "\"state\": 7", "threads[0].state" },
		{ "\"tid\": 2", "\"tid\": -2", "threads[0].tid" },
		{ "\"fd\": 3", "\"fd\": 0", "fds[1].fd" },
		{ "\"cwd\": \"/home/user/work dir\"", "\"cwd\": \"\"", "process.cwd: empty" },
		{ "\"cwd\": \"/home/user/work dir\"", "\"cwd\": \"/a\\u0000b\"", "NUL" },
		{ "\"format\": \"thaw-snapshot\"", "\"format\": \"criu\"", "format" },
		{ "\"from\": 0", "\"from\": 9", "inherit" },
		{ "\"umask\": \"022\"", "\"umask\": \"0999\"", "umask" },
		{ "\"threads\": [", "\"threads\": 5, \"x\": [", "threads" },
		{ "\"len\": 368", "\"len\": 18446744073709551615", "integer" },
		{ "\"off\": 1000", "\"off\": \"0xffffffffffffffff\"", "overflows" },
		{ "\"version\": 2", "\"version\": 2, \"version\": 2", "duplicate" },
		/* records described by tables (image-record.c) */
		{ "\"host_pid\": 4107", "\"host_pid\": 4107, \"hots_pid\": 1",
		  "children[0]: unknown field \"hots_pid\"" },
		{ "\"host_pid\": 4107", "\"host_pid\": -4107", "children[0].host_pid" },
		{ "\"host_pid\": 4107", "\"host_pid\": \"4107\"", "children[0].host_pid" },
		{ "\"exit_status\": 768", "\"exit_status\": 65536", "children[1].exit_status" },
		{ "\"is_zombie\": true", "\"is_zombie\": false", "not a zombie" },
		{ "\"is_zombie\": true", "\"is_zombie\": 1", "children[1].is_zombie" },
		{ "\"pid\": 7,", "\"pid\": 2,", "cannot be a child's pid" },
		{ "\"index\": 77", "\"index\": 1048576", "pty.index" },
		{ "\"index\": 77", "\"index\": 77, \"is_packet\": true",
		  "lock and packet mode belong to a master" },
		{ "\"is_exclusive\": true", "\"is_exclusive\": 2", "pty.is_exclusive" },
		{ "255\n", "256\n", "pty.cc[2]" },
		{ "\"is_set\": true", "\"is_set\": false", "ctty: index or fg_pgid without is_set" },
		{ "\"fg_pgid\": 4242", "\"fg_pgid\": 0", "ctty.fg_pgid: 0 for a controlling" },
		{ "\"fg_pgid\": 4242", "\"fg_pgid\": -1", "ctty.fg_pgid" },
		{ "\"stop_signal\": 20", "\"stop_signal\": 5", "stop_signal: 5 is not a stop signal" },
		{ "\"notify\": \"none\"", "\"notify\": \"mail\"", "posix_timers[2].notify" },
		{ "\"signo\": 14", "\"signo\": 65", "posix_timers[0].signo: 65 is not a signal" },
		/* the first "tid": 101 is the thread's: the timer's target is gone */
		{ "\"tid\": 101", "\"tid\": 77", "posix_timers[1].tid: 101 is not a thread" },
		{ "\"id\": 4", "\"id\": 0", "posix_timers[1].id: 0 not above" },
		{ "\"clockid\": -6", "\"clockid\": -8198", "posix_timers[0].clockid: -8198 is not" },
		{ "\"clockid\": -6", "\"clockid\": 12", "posix_timers[0].clockid" },
		{ "\"clockid\": 7", "\"clockid\": 7, \"deadline_ns\": 5",
		  "only for an armed timer of the wall clock" },
		{ "\"signal\": 2,", "\"signal\": 9,", "sigactions[0]: signal 9 (SIGKILL) cannot" },
		/* credentials */
		{ "\"euid\": 1000", "\"euid\": 4294967295", "threads[0].creds.euid" },
		{ "\"euid\": 1000", "\"euid\": -1", "threads[0].creds.euid" },
		{ "\"cap_eff\": \"0x1000\"", "\"cap_eff\": \"0x3000\"", "threads[0].creds.cap_eff" },
		{ "\"cap_amb\": \"0x400\"", "\"cap_amb\": \"0x1400\"", "threads[0].creds.cap_amb" },
		{ "\"securebits\": \"0x2f\"", "\"securebits\": \"0x1000\"", "creds.securebits" },
		{ "4294967294\n", "4294967295\n", "threads[1].creds.groups[2]" },
		{ "\"dumpable\": 2", "\"dumpable\": 3", "creds.dumpable" },
		{ "\"dumpable\": 2", "\"dumpable\": 2, \"dumpabel\": 1", "unknown field" },
		{ "\"no_new_privs\": false", "\"no_new_privs\": 0", "threads[0].creds.no_new_privs" },
		{ "\"seccomp\": [\n          0,", "\"seccomp\": [\n          5,",
		  "threads[0].creds.seccomp[0]: filter 5 of 2" },
		{ "\"len\": 24,", "\"len\": 20,", "seccomp_filters[0].prog: 20 bytes" },
		{ "\"len\": 32768,", "\"len\": 32776,", "seccomp_filters[1].prog: 32776 bytes" },
		{ "\"log\": true", "\"log\": 1", "seccomp_filters[1].log" },
		{ "\"signal\": 2,", "\"signal\": 19,", "sigactions[0]: signal 19 (SIGSTOP) cannot" },
		/* process and thread attributes */
		{ "\"policy\": \"fifo\"", "\"policy\": \"iso\"", "no policy of Linux" },
		{ "\"policy\": \"fifo\"", "\"policy\": \"other\"", "rt_priority: 10 under" },
		{ "\"policy\": \"fifo\"", "\"policy\": \"posix\"", "threads[1].attrs.policy" },
		{ "\"rt_priority\": 10", "\"rt_priority\": 100", "threads[1].attrs.rt_priority" },
		{ "\"nice\": -2", "\"nice\": -21", "threads[1].attrs.nice" },
		{ "\"reset-on-fork\"", "\"reclaim\"", "deadline parameters under policy fifo" },
		{ "\"dl_runtime\": 2000000", "\"dl_runtime\": 40000000", "out of order" },
		{ "\"slice_ns\": 7000000", "\"slice_ns\": 7000000, \"dl_period\": 5",
		  "threads[0].attrs: deadline parameters" },
		{ "1,\n          3,", "3,\n          1,", "threads[1].attrs.cpus: not ascending" },
		{ "1,\n          3,", "8192,\n          3,", "threads[1].attrs.cpus[0]" },
		{ "\"ioprio\": \"0x4002\"", "\"ioprio\": \"0x10000\"", "threads[0].attrs.ioprio" },
		{ "\"ioprio\": \"0x4002\"", "\"ioprio\": \"0x8002\"", "class 4 unknown" },
		{ "\"oom_score_adj\": 345", "\"oom_score_adj\": 1001", "attrs.oom_score_adj" },
		{ "\"coredump_filter\": \"0x5d\"", "\"coredump_filter\": \"0x200\"",
		  "attrs.coredump_filter" },
		{ "\"type\": \"write\"", "\"type\": \"exclusive\"", "locks[0].type" },
		{ "\"len\": 20", "\"len\": 9223372036854775807", "past the largest file offset" },
		{ "\"kind\": \"flock\"", "\"kind\": \"flock\", \"start\": 7", "whole file" },
		{ "\"kind\": \"flock\"", "\"kind\": \"lease\"", "fd 12 (dir) cannot hold a lock" },
		{ "\"uid\": 1234", "\"uid\": 4294967295", "shmems[0]: owner 4294967295:123 is no id" },
		{ "\"gid\": 123", "\"gid\": -1", "gid" },
		{ "\"path\": \"/srv/jail\"", "\"path\": \"srv/jail\"", "root.path: \"srv/jail\"" },
		{ "\"path\": \"/srv/jail\"", "\"path\": \"/\"", "not an absolute path below /" },
		{ "\"type\": \"pgrp\"", "\"type\": \"session\"", "fd_owners[1].type" },
		{ "\"sig\": 35", "\"sig\": 65", "fd_owners[0].sig" },
		{ "\"fd\": 4,\n      \"type\": \"tid\"", "\"fd\": 5,\n      \"type\": \"tid\"",
		  "fd_owners[1]: fd 5 unsorted or repeated" },
		{ "\"fd\": 4,\n      \"type\": \"tid\"", "\"fd\": 0,\n      \"type\": \"tid\"",
		  "fd_owners[0]: fd 0 is not an fd the process's restore makes" },
		{ "\"type\": \"pgrp\",\n      \"pid\": 2", "\"type\": \"pgrp\"",
		  "fd_owners[1]: neither an owner nor a signal" },
		{ "\"kind\": \"ofd\"", "\"kind\": \"ofd\", \"fd\": 13", "duplicate" },
		{ "\"fd\": 10,\n      \"kind\": \"ofd\"", "\"fd\": 13,\n      \"kind\": \"ofd\"",
		  "fd 13 is not an fd" },
		{ "\"timerslack_ns\": 123456", "\"timerslack_ns\": 0", "timerslack_ns: 0 under" },
		{ "\"pdeathsig\": 28", "\"pdeathsig\": 65", "threads[0].attrs.pdeathsig" },
		{ "\"mce_kill\": \"early\"", "\"mce_kill\": \"never\"", "threads[0].attrs.mce_kill" },
		{ "\"tsc_sigsegv\": true", "\"tsc_sigsegv\": 2", "threads[0].attrs.tsc_sigsegv" },
		{ "\"loginuid\": 4242", "\"loginuid\": 4294967296", "attrs.loginuid" },
		{ "\"disable\"", "\"except-advised\"", "except-advised without disable" },
		{ "\"register-global-expedited\"", "\"global\"", "only register-* commands" },
		{ "\"refuse-exec-gain\"", "\"no-inherit\"", "no-inherit without refuse" },
		{ "\"mpol_mode\": \"bind\"", "\"mpol_mode\": \"default\"",
		  "memory policy default with 2 nodes" },
		{ "\"mpol_mode\": \"bind\"", "\"mpol_mode\": \"nearest\"",
		  "threads[1].attrs.mpol_mode" },
		{ "0,\n          5", "5,\n          0", "mpol_nodes: not ascending" },
		{ "0,\n          5", "0,\n          1024", "threads[1].attrs.mpol_nodes[1]" },
		{ "\"autogroup_nice\": 6", "\"autogroup_nice\": 20", "attrs.autogroup_nice" },
		/* what binds the files (image-record.c, parts) */
		{ "\"name\": \"pages.idx\"", "\"name\": \"../pages.idx\"",
		  "parts.files[0].name: \"../pages.idx\" is no file of a snapshot" },
		{ "\"name\": \"pages.idx\"", "\"name\": \"proc-07/manifest.json\"",
		  "is no file of a snapshot" },
		{ "\"name\": \"pages.idx\"", "\"name\": \"proc-7/pages.img\"",
		  "is no file of a snapshot" },
		{ "\"name\": \"pages.idx\"", "\"name\": \"pages.img\"", "pages.img listed twice" },
		{ "\"id\": \"0102", "\"id\": \"02", "parts.id: 15 bytes, want 16" },
		{ "\"id\": \"0102", "\"id\": \"zz", "parts.id: bad hex digit" },
		{ "\"sha256\": \"aaaa", "\"sha256\": \"aa", "parts.files[0].sha256: 31 bytes" },
		{ "\"size\": 48", "\"size\": -48", "parts.files[0].size" },
	};
	struct image *a = calloc(1, sizeof(*a)), *b;
	char err[512], *json, *bad, *p;
	size_t i;

	(void)state;
	a->version = IMAGE_FORMAT_VERSION;
	a->dir_fd = a->pages_fd = a->data_fd = -1;
	populate(a);
	for (i = 0; i < IMAGE_ID_SIZE; i++)
		a->parts.id[i] = (uint8_t)(i + 1);
	a->parts.files = calloc(2, sizeof(*a->parts.files));
	assert_non_null(a->parts.files);
	a->parts.nr_files = 2;
	a->parts.files[0] = (struct image_part){ strdup("pages.idx"), 48, { 0 } };
	memset(a->parts.files[0].sha256, 0xaa, 32);
	a->parts.files[1] = (struct image_part){ strdup("pages.img"), 4096, { 0 } };
	json = image_manifest_to_json(a, 2);
	assert_non_null(json);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = strstr(json, cases[i].from);
		if (!p)
			print_error("case %zu: '%s' not in manifest\n", i, cases[i].from);
		assert_non_null(p);
		bad = malloc(strlen(json) + strlen(cases[i].to) + 1);
		assert_non_null(bad);
		memcpy(bad, json, (size_t)(p - json));
		strcpy(bad + (p - json), cases[i].to);
		strcat(bad, p + strlen(cases[i].from));
		b = calloc(1, sizeof(*b));
		err[0] = '\0';
		if (image_manifest_from_json(b, bad, strlen(bad), err, sizeof(err)) != -EINVAL ||
		    !strstr(err, cases[i].needle))
			print_error("case %zu: err '%s', want '%s'\n", i, err, cases[i].needle);
		assert_non_null(strstr(err, cases[i].needle));
		image_free(b);
		free(bad);
	}
	/* every truncation of a valid manifest is refused cleanly */
	for (i = 0; i < strlen(json); i += 7) {
		b = calloc(1, sizeof(*b));
		assert_int_equal(image_manifest_from_json(b, json, i, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
		image_free(b);
	}
	free(json);
	image_free(a);
}

/* A TCP socket at fd in state, inode fd + 4142, bound (IPv4). */
static struct image_fd *add_tcp_fd(struct image *img, int fd, uint32_t state)
{
	struct image_fd *f = image_new_fd(img);

	assert_non_null(f);
	f->fd = fd;
	f->kind = IMAGE_FD_SOCKET;
	f->file = -1;
	f->sock.family = 2;
	f->sock.type = 1;
	f->sock.protocol = 6;
	f->sock.state = state;
	f->sock.ino = (uint64_t)fd + 4142;
	return f;
}

/* A socket's attrs (image_sock_attrs_record): round trip, and bad values named. */
static void add_socket(struct image *img)
{
	struct image_fd *f = add_tcp_fd(img, 100, IMAGE_SOCK_LISTEN);

	f->sock.backlog = 128;
	f->sock.addr_len = 16;
	f->sock.addr[0] = 2;
	f->sock.attrs.nr_opts = 2;
	f->sock.attrs.opts = calloc(2, sizeof(*f->sock.attrs.opts));
	assert_non_null(f->sock.attrs.opts);
	f->sock.attrs.opts[0] = (struct image_sock_opt){ 1, 12, 5 }; /* SO_PRIORITY */
	f->sock.attrs.opts[1] = (struct image_sock_opt){ 1, 13, -8 }; /* SO_LINGER off, 7 s */
	f->sock.attrs.bind_dev = strdup("lo");
	f->sock.attrs.congestion = strdup("reno");
	f->sock.attrs.nr_mcast = 1;
	f->sock.attrs.mcast = calloc(1, sizeof(*f->sock.attrs.mcast));
	assert_non_null(f->sock.attrs.mcast);
	f->sock.attrs.mcast[0].dev = strdup("lo");
	f->sock.attrs.mcast[0].group = strdup("239.1.2.3");
	f->sock.attrs.mcast[0].is_include = true;
	f->sock.attrs.mcast[0].nr_sources = 1;
	f->sock.attrs.mcast[0].sources = calloc(1, sizeof(*f->sock.attrs.mcast[0].sources));
	assert_non_null(f->sock.attrs.mcast[0].sources);
	f->sock.attrs.mcast[0].sources[0].addr = strdup("10.0.0.1");
	f->sock.attrs.nr_filter = 1;
	f->sock.attrs.filter = calloc(1, sizeof(*f->sock.attrs.filter));
	assert_non_null(f->sock.attrs.filter);
	f->sock.attrs.filter[0] = 0x0006000000000000ull; /* ret #0 */
	f->sock.attrs.is_filter_locked = true;
	f->sock.attrs.shutdown = IMAGE_SOCK_SHUT_WR;
	/* an established connection and its state (attrs.tcp) */
	f = add_tcp_fd(img, 101, IMAGE_SOCK_TCP);
	f->sock.addr_len = f->sock.peer_len = 16;
	f->sock.addr[0] = f->sock.peer[0] = 2;
	f->sock.attrs.tcp = (struct image_sock_tcp){ .snd_seq = 4000000000u, .rcv_seq = 17,
						     .mss = 65483, .options = 7, .snd_wscale = 7,
						     .rcv_wscale = 9, .timestamp = 123456,
						     .snd_wl1 = 16, .snd_wnd = 65536,
						     .max_window = 65536, .rcv_wnd = 65483,
						     .rcv_wup = 17 };
}

static void test_socket_attrs(void **state)
{
	static const struct {
		const char *from, *to, *needle;
	} cases[] = {
		{ "\"level\": 1,", "\"level\": 256,", "attrs.opts[0].level" },
		{ "\"name\": 13,", "\"name\": 12,", "option 1/12 given twice" },
		{ "\"bind_dev\": \"lo\"", "\"bind_dev\": \"0123456789abcdef\"", "attrs.bind_dev" },
		{ "\"congestion\": \"reno\"", "\"congestion\": \"reno\", \"cork\": 1",
		  "unknown field \"cork\"" },
		{ "\"239.1.2.3\"", "\"10.1.2.3\"", "mcast[0].group: \"10.1.2.3\" is no multicast" },
		{ "\"10.0.0.1\"", "\"2001:db8::1\"", "mcast[0].sources[0]" },
		{ "\"dev\": \"lo\"", "\"dev\": \"../x\"", "mcast[0].dev" },
		{ "\"0x6000000000000\"", "6", "attrs.filter[0]" },
		{ "\"shutdown\": [\n", "\"shutdown\": [\"sideways\",\n", "attrs.shutdown" },
		{ "\"congestion\": \"reno\"",
		  "\"congestion\": \"reno\", \"has_file\": true, \"is_file_unlinked\": true",
		  "both there and removed" },
		{ "\"congestion\": \"reno\"", "\"congestion\": \"reno\", \"file_mode\": \"0640\"",
		  "without a file" },
		{ "\"congestion\": \"reno\"", "\"congestion\": \"reno\", \"has_file\": true, "
		  "\"file_mode\": \"010000\"", "attrs.file_mode" },
		{ "\"rcv_wscale\": 9", "\"rcv_wscale\": 15", "attrs.tcp.rcv_wscale" },
		{ "\"options\": \"0x7\"", "\"options\": \"0x3\"",
		  "window scales without the option" },
		{ "\"mss\": 65483", "\"mss\": 65536", "attrs.tcp.mss" },
		{ "\"rcv_wup\": 17", "\"rcv_wup\": 17, \"unsent\": 5", "more than the send queue" },
	};
	struct image *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char err[512], *json, *bad, *p;
	size_t i;

	(void)state;
	a->version = IMAGE_FORMAT_VERSION;
	a->dir_fd = a->pages_fd = a->data_fd = -1;
	populate(a);
	add_socket(a);
	json = image_manifest_to_json(a, 2);
	assert_non_null(json);
	assert_int_equal(image_manifest_from_json(b, json, strlen(json), err, sizeof(err)), 0);
	assert_images_equal(a, b, false);
	image_free(b);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = strstr(json, cases[i].from);
		assert_non_null(p);
		bad = malloc(strlen(json) + strlen(cases[i].to) + 1);
		assert_non_null(bad);
		memcpy(bad, json, (size_t)(p - json));
		strcpy(bad + (p - json), cases[i].to);
		strcat(bad, p + strlen(cases[i].from));
		b = calloc(1, sizeof(*b));
		err[0] = '\0';
		if (image_manifest_from_json(b, bad, strlen(bad), err, sizeof(err)) != -EINVAL ||
		    !strstr(err, cases[i].needle))
			print_error("case %zu: err '%s', want '%s'\n", i, err, cases[i].needle);
		assert_non_null(strstr(err, cases[i].needle));
		image_free(b);
		free(bad);
	}
	free(json);
	image_free(a);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(image_vma_kind_name(IMAGE_VMA_FILE_SHARED), "file-shared");
	assert_string_equal(image_vma_kind_name(IMAGE_VMA_VVAR_VCLOCK), "vvar-vclock");
	assert_string_equal(image_vma_kind_name(999), "unknown");
	assert_string_equal(image_fd_kind_name(IMAGE_FD_SIGNALFD), "signalfd");
	assert_string_equal(image_fd_kind_name(IMAGE_FD_MEMFD), "memfd");
	assert_string_equal(image_thread_state_name(IMAGE_THREAD_SYSCALL_EINTR), "syscall-eintr");
	assert_string_equal(image_thread_state_name(4), "unknown");
}

static void test_growers(void **state)
{
	struct image *img = calloc(1, sizeof(*img));
	struct image_vma *v;
	uint32_t i;

	(void)state;
	img->dir_fd = img->pages_fd = img->data_fd = -1;
	for (i = 0; i < 1000; i++) {
		v = image_new_vma(img);
		assert_non_null(v);
		assert_int_equal(v->start, 0);
		assert_null(v->name);
		assert_int_equal(v->file, -1); /* "none", not file 0 */
		assert_int_equal(v->shmem, -1);
		v->start = i;
	}
	assert_int_equal(img->nr_vmas, 1000);
	for (i = 0; i < 1000; i++)
		assert_int_equal(img->vmas[i].start, i);
	for (i = 0; i < IMAGE_MAX_THREADS; i++)
		assert_non_null(image_new_thread(img));
	assert_null(image_new_thread(img)); /* bounded like the reader */
	assert_int_equal(image_new_fd(img)->file, -1);
	image_free(img);
}


/* ---- comparing a snapshot with what was restored (thaw restore --verify) ---- */

/* A populated image and a copy of it through the manifest: alike in everything. */
static void compare_pair(struct image **ret_a, struct image **ret_b)
{
	struct image *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char err[256], *json;

	assert_non_null(a);
	assert_non_null(b);
	a->version = IMAGE_FORMAT_VERSION;
	a->dir_fd = a->pages_fd = a->data_fd = -1;
	b->dir_fd = b->pages_fd = b->data_fd = -1;
	populate(a);
	json = image_manifest_to_json(a, 0);
	assert_non_null(json);
	assert_int_equal(image_manifest_from_json(b, json, strlen(json), err, sizeof(err)), 0);
	free(json);
	*ret_a = a;
	*ret_b = b;
}

static struct image_fd *fd_of(struct image *img, int fd)
{
	uint32_t i;

	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd == fd)
			return &img->fds[i];
	fail_msg("no fd %d", fd);
	return NULL;
}

/* Compares a (dumped) with b (restored) on a fresh context; want is the diff or NULL. */
static void assert_compare(const struct image *a, const struct image *b, const char *want)
{
	struct image_compare *c = image_compare_new();
	char diff[512];
	int ret;

	assert_non_null(c);
	ret = image_compare(c, a, b, diff, sizeof(diff));
	image_compare_free(c);
	if (!want) {
		if (ret)
			print_error("unexpected difference: %s\n", diff);
		assert_int_equal(ret, 0);
		return;
	}
	assert_int_equal(ret, 1);
	if (strcmp(diff, want))
		print_error("got:  %s\nwant: %s\n", diff, want);
	assert_string_equal(diff, want);
}

static const struct image_record *section_record(const char *key)
{
	uint32_t i;

	for (i = 0; i < image_nr_sections; i++)
		if (!strcmp(image_sections[i].key, key))
			return image_sections[i].rec;
	fail_msg("no section %s", key);
	return NULL;
}

/* The table walk names the first differing field by its path, and skips the exceptions. */
static void test_compare_records(void **state)
{
	const struct image_record *children = section_record("children");
	struct image_child d = { .pid = 7, .ppid = 2, .pgid = 5, .sid = 1, .host_pid = 4107 };
	struct image_child r = d;
	struct image_regs rd = { .rip = 0x401000, .rsp = 0x7ffc0000 }, rr = rd;
	char diff[256];

	(void)state;
	assert_false(image_record_differs(children, &d, &r, "children[2]", diff,
					  sizeof(diff)));
	r.host_pid = 99; /* for people: may differ */
	assert_false(image_record_differs(children, &d, &r, "children[2]", diff,
					  sizeof(diff)));
	r.pgid = 7;
	r.sid = 9; /* the first one is named */
	assert_true(image_record_differs(children, &d, &r, "children[2]", diff,
					 sizeof(diff)));
	assert_string_equal(diff, "children[2].pgid: 7 restored, 5 dumped");
	r = d;
	r.is_zombie = true;
	assert_true(image_record_differs(children, &d, &r, "children[0]", diff,
					 sizeof(diff)));
	assert_string_equal(diff, "children[0].is_zombie: true restored, false dumped");
	rr.rsp = 0x7ffc1000;
	assert_true(image_record_differs(&image_regs_record, &rd, &rr, "threads[tid 44].regs",
					 diff, sizeof(diff)));
	assert_string_equal(diff, "threads[tid 44].regs.rsp: 0x7ffc1000 restored, 0x7ffc0000 dumped");
}

static void test_compare_images(void **state)
{
	struct image *a, *b;

	(void)state;
	compare_pair(&a, &b);
	assert_compare(a, b, NULL);
	/* what may differ: host, host pid, dump time, a deleted file's name, statistics */
	b->host.xcr0 = 7;
	b->proc.host_pid = 1;
	b->proc.dumped_at_ns = 1;
	b->threads[1].state = IMAGE_THREAD_RUNNING;
	b->threads[1].syscall_nr = -1;
	b->vmas[0].pages_dumped = 0;
	free(b->files[1].path);
	b->files[1].path = strdup("/tmp/#1234");
	b->files[0].ino = 1;
	b->proc.itimers[0].value_us = 3; /* counted down */
	fd_of(b, 9)->timerfd.ticks = 5; /* fired since */
	fd_of(b, 0)->flags = 02; /* inherited: the caller's */
	fd_of(b, 0)->pos = 77;
	fd_of(b, 3)->flags |= 0100000; /* O_LARGEFILE of a reopened fd */
	b->proc.sid = 0; /* a session led outside the restore's namespace */
	{ /* the kernel lists an epoll set's watches in an order of its own */
		struct image_fd *ep = fd_of(b, 7);
		struct image_epoll_watch w = ep->epoll.watches[0];

		ep->epoll.watches[0] = ep->epoll.watches[1];
		ep->epoll.watches[1] = w;
	}
	assert_compare(a, b, NULL);
	image_free(b);
	image_free(a);

	/* what may not: each named by its path */
	compare_pair(&a, &b);
	b->threads[2].sigmask = 0;
	assert_compare(a, b, "threads[tid 102].sigmask: 0x0 restored, 0x2000 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->proc.sigactions[1].flags = 0;
	assert_compare(a, b, "process.sigactions[2].flags: 0x0 restored, 0x14000000 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->proc.ppid = 5; /* only thaw's init may stand in for the parent */
	assert_compare(a, b, "process.ppid: 5 restored, 1 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	fd_of(b, 3)->flags |= 04000; /* O_NONBLOCK is no O_LARGEFILE */
	assert_compare(a, b, "fds[3].flags: 06002 restored, 02002 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->proc.mm.brk++;
	assert_compare(a, b, "process.mm.brk: 0x521001 restored, 0x521000 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->proc.rlimits[7].cur = 4096;
	assert_compare(a, b, "process.rlimits[nofile].cur: 4096 restored, 1024 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->proc.itimers[1].value_us = 10; /* armed where it was not */
	assert_compare(a, b, "process.itimers[virtual].value_us: 10 restored, 0 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->files[0].mtime_ns = 0;
	assert_compare(a, b, "process.exe.mtime_ns: 0 restored, -5 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->files[1].mode = 0100644;
	assert_compare(a, b, "fds[3].file.mode: 0100644 restored, 0100600 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->vmas[1].prot = 7;
	assert_compare(a, b, "vmas[0x7f0000000000].prot: 0x7 restored, 0x5 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->shmems[0].seals = 0;
	assert_compare(a, b, "vmas[0x7f0000100000].shmem.seals: 0x0 restored, 0x1f dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	fd_of(b, 7)->epoll.watches[1].events = 1;
	assert_compare(a, b, "fds[7].epoll.watches[fd 6].events: 0x1 restored, 0x80000001 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	fd_of(b, 4)->pipe.data.crc ^= 1;
	assert_compare(a, b, "fds[4].pipe.data: 100 bytes (crc 0x8d8faf1b) restored, 100 bytes "
			     "(crc 0x8d8faf1a) dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	fd_of(b, 9)->timerfd.ticks = 2; /* a count going back */
	assert_compare(a, b, "fds[9].timerfd.ticks: 2 restored, 3 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->children[1].exit_status = 0x0100;
	assert_compare(a, b, "children[1].exit_status: 256 restored, 768 dumped");
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	b->nr_threads--; /* the last thread is gone */
	assert_compare(a, b, "threads[tid 102]: not restored");
	b->nr_threads++; /* so that image_free() releases what the thread holds */
	image_free(b);
	image_free(a);
}

/* Kernel objects are new after a restore: identities pair one to one, across images. */
static void test_compare_identities(void **state)
{
	struct image_compare *c;
	struct image *a, *b;
	struct image_fd *f;
	char diff[512], want[96];
	int above;

	(void)state;
	compare_pair(&a, &b);
	fd_of(b, 4)->pipe.ino = fd_of(b, 5)->pipe.ino = 5; /* a new pipe, held the same way */
	b->shmems[0].ino = 6;
	assert_compare(a, b, NULL);
	fd_of(b, 5)->pipe.ino = 8; /* the two ends are two pipes now */
	assert_compare(a, b, "fds[5].pipe.ino: not the same object as fds[4].pipe.ino any more (8 and "
			     "5 restored, 99999 for both dumped)");
	/* the other end, kept open above the program's fds for a peer that was outside */
	fd_of(b, 5)->pipe.ino = 5;
	above = b->fds[b->nr_fds - 1].fd + 1;
	f = image_new_fd(b);
	assert_non_null(f);
	*f = (struct image_fd){ .fd = above, .kind = IMAGE_FD_PIPE, .file = -1, .cloexec = true,
				.pipe = { .ino = 5, .is_write_end = true } };
	assert_compare(a, b, NULL);
	f->pipe.ino = 77; /* another pipe: not a kept end */
	snprintf(want, sizeof(want), "fds[%d]: restored (pipe), not in the snapshot", above);
	assert_compare(a, b, want);
	image_free(b);
	image_free(a);
	/* across the images of a tree: the same context pairs them */
	compare_pair(&a, &b);
	c = image_compare_new();
	assert_non_null(c);
	fd_of(b, 4)->pipe.ino = fd_of(b, 5)->pipe.ino = 5;
	assert_int_equal(image_compare(c, a, b, diff, sizeof(diff)), 0);
	fd_of(b, 4)->pipe.ino = fd_of(b, 5)->pipe.ino = 6; /* the next process holds another pipe */
	assert_int_equal(image_compare(c, a, b, diff, sizeof(diff)), 1);
	assert_string_equal(diff, "fds[4].pipe.ino: not the same object as fds[4].pipe.ino any more "
				  "(6 and 5 restored, 99999 for both dumped)");
	image_compare_free(c);
	image_free(b);
	image_free(a);
}

/* Splits b's VMA i in two at mid: the upper part anonymous and nameless, with prot. */
static void split_vma(struct image *b, uint32_t i, uint64_t mid, uint32_t prot)
{
	struct image_vma *v = image_new_vma(b), upper;

	assert_non_null(v);
	upper = b->vmas[i];
	upper.start = mid;
	upper.prot = prot;
	upper.name = NULL;
	memmove(&b->vmas[i + 2], &b->vmas[i + 1], (b->nr_vmas - 2 - i) * sizeof(*v));
	b->vmas[i].end = mid;
	b->vmas[i + 1] = upper;
}

/* Adjacent mappings alike are compared as one: the kernel merges some and not others. */
static void test_compare_vma_runs(void **state)
{
	struct image *a, *b;

	(void)state;
	compare_pair(&a, &b);
	split_vma(b, 0, VMA_A + 100 * PAGE, 3); /* [heap] on the dumped side, two on the restored */
	assert_compare(a, b, NULL);
	assert_compare(b, a, NULL);
	image_free(b);
	image_free(a);
	compare_pair(&a, &b);
	split_vma(b, 0, VMA_A + 100 * PAGE, 1); /* not alike: a difference */
	assert_compare(a, b, "vmas[0x400000].end: 0x464000 restored, 0x600000 dumped");
	image_free(b);
	image_free(a);
}

/* Every exception says why; the table walk sees every section. */
/*
 * What a kept connection changes by running on between the restore and the
 * comparison: SO_INCOMING_CPU (the CPU of the last packet) is not compared,
 * the other options are; the queues are compared for what the restore
 * promises (image_tcp_ran_on), not byte for byte.
 */
static void test_compare_socket_ran_on(void **state)
{
	const uint8_t dsend[6] = "abcdef", drecv[3] = "xyz", rrecv[5] = "xyzuv";
	struct image_sock_tcp d = { .snd_seq = 0xfffffffeu, .rcv_seq = 100, .unsent = 2 }, r;
	struct image *a, *b;
	char why[256];

	(void)state;
	compare_pair(&a, &b);
	add_socket(a);
	add_socket(b);
	fd_of(a, 100)->sock.attrs.opts[1] = (struct image_sock_opt){ 1, 49, 0 };
	fd_of(b, 100)->sock.attrs.opts[1] = (struct image_sock_opt){ 1, 49, 1 };
	assert_compare(a, b, NULL);
	fd_of(b, 100)->sock.attrs.opts[0].value = 6;
	assert_compare(a, b, "fds[100].socket.attrs.opts[0].value: 6 restored, 5 dumped");
	image_free(b);
	image_free(a);

	d.send_queue.len = 6;
	d.recv_queue.len = 3;
	r = d; /* nothing moved */
	assert_int_equal(image_tcp_ran_on(&d, dsend, drecv, &r, dsend, drecv, why, sizeof(why)), 0);
	/* 4 bytes acknowledged (the sequence wraps), 2 arrived, the unsent ones sent */
	r.snd_seq = 2;
	r.send_queue.len = 2;
	r.unsent = 0;
	r.recv_queue.len = 5;
	assert_int_equal(image_tcp_ran_on(&d, dsend, drecv, &r, dsend + 4, rrecv, why, sizeof(why)),
			 0);
	/* not the end of the dumped send queue */
	assert_int_equal(image_tcp_ran_on(&d, dsend, drecv, &r, dsend, rrecv, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "send_queue"));
	/* more acknowledged than was queued */
	r.snd_seq = 7;
	r.send_queue.len = 0;
	assert_int_equal(image_tcp_ran_on(&d, dsend, drecv, &r, dsend, rrecv, why, sizeof(why)), 1);
	r.snd_seq = 2;
	r.send_queue.len = 2;
	/* the receive queue does not start with the dumped bytes, or lost some */
	assert_int_equal(image_tcp_ran_on(&d, dsend, drecv, &r, dsend + 4, (const uint8_t *)"xyQuv",
					  why, sizeof(why)), 1);
	assert_non_null(strstr(why, "recv_queue"));
	r.recv_queue.len = 2;
	assert_int_equal(image_tcp_ran_on(&d, dsend, drecv, &r, dsend + 4, rrecv, why, sizeof(why)),
			 1);
	r.recv_queue.len = 5;
	/* read by someone */
	r.rcv_seq = 101;
	assert_int_equal(image_tcp_ran_on(&d, dsend, drecv, &r, dsend + 4, rrecv, why, sizeof(why)),
			 1);
	assert_non_null(strstr(why, "rcv_seq"));
	r.rcv_seq = 100;
	/* more unsent than dumped */
	r.unsent = 3;
	assert_int_equal(image_tcp_ran_on(&d, dsend, drecv, &r, dsend + 4, rrecv, why, sizeof(why)),
			 1);
	assert_non_null(strstr(why, "unsent"));
}

static void test_compare_exceptions(void **state)
{
	const char *path, *why;
	uint32_t i;

	(void)state;
	for (i = 0; image_compare_exception(i, &path, &why) == 0; i++) {
		assert_true(path && *path);
		assert_true(why && strlen(why) > 10);
	}
	assert_true(i > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_gpu_state),
		cmocka_unit_test(test_gpu_weights),
		cmocka_unit_test(test_atomic_publish),
		cmocka_unit_test(test_publish_refuses_invalid),
		cmocka_unit_test(test_not_a_snapshot),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_bad_manifest_crc),
		cmocka_unit_test(test_truncated_manifest),
		cmocka_unit_test(test_counts_over_bounds),
		cmocka_unit_test(test_out_of_range_indexes),
		cmocka_unit_test(test_overlapping_vmas),
		cmocka_unit_test(test_run_outside_pages_img),
		cmocka_unit_test(test_truncated_pages_idx),
		cmocka_unit_test(test_flipped_byte_pages_idx),
		cmocka_unit_test(test_blob_past_end),
		cmocka_unit_test(test_blob_crc_mismatch),
		cmocka_unit_test(test_mixed_dumps),
		cmocka_unit_test(test_bound_files),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_hostile_json),
		cmocka_unit_test(test_socket_attrs),
		cmocka_unit_test(test_record_tables),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_growers),
		cmocka_unit_test(test_compare_records),
		cmocka_unit_test(test_compare_images),
		cmocka_unit_test(test_compare_identities),
		cmocka_unit_test(test_compare_vma_runs),
		cmocka_unit_test(test_compare_exceptions),
		cmocka_unit_test(test_compare_socket_ran_on),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
