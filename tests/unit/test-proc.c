/*
 * test-proc.c - unit tests of the /proc parsers in src/engine/proc.c.
 *
 * The samples are lines copied from /proc of a Linux 6.18 x86_64 machine
 * (a process with a memfd, SysV shm, shared anonymous memory, a deleted file,
 * a file with a newline in its name and comm "a) b (c"), plus hand-made edge
 * cases the kernel can produce ([anon:NAME]) and garbage that must give
 * -EINVAL without a crash.  The live tests read this process's own /proc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/fdinfo.h"
#include "engine/proc.h"

#define S(x) x, sizeof(x) - 1

/* The body smaps prints under every VMA header, with the parts we check as arguments. */
#define SMAPS_BODY(size, rss, anon, flags)                                                         \
	"Size:               " size " kB\n"                                                        \
	"KernelPageSize:        4 kB\n"                                                            \
	"MMUPageSize:           4 kB\n"                                                            \
	"Rss:                " rss " kB\n"                                                         \
	"Pss:                   0 kB\n"                                                            \
	"Pss_Dirty:             0 kB\n"                                                            \
	"Shared_Clean:          0 kB\n"                                                            \
	"Shared_Dirty:          0 kB\n"                                                            \
	"Private_Clean:         0 kB\n"                                                            \
	"Private_Dirty:         0 kB\n"                                                            \
	"Referenced:            0 kB\n"                                                            \
	"Anonymous:          " anon " kB\n"                                                        \
	"KSM:                   0 kB\n"                                                            \
	"LazyFree:              0 kB\n"                                                            \
	"AnonHugePages:         0 kB\n"                                                            \
	"ShmemPmdMapped:        0 kB\n"                                                            \
	"FilePmdMapped:         0 kB\n"                                                            \
	"Shared_Hugetlb:        0 kB\n"                                                            \
	"Private_Hugetlb:       0 kB\n"                                                            \
	"Swap:                  0 kB\n"                                                            \
	"SwapPss:               0 kB\n"                                                            \
	"Locked:                0 kB\n"                                                            \
	"THPeligible:           0\n"                                                               \
	"VmFlags: " flags " \n"

static const char real_maps[] =
	"55b000542000-55b000543000 r--p 00000000 fe:00 10952961                   /tmp/pp/rich\n"
	"55b000543000-55b000544000 r-xp 00001000 fe:00 10952961                   /tmp/pp/rich\n"
	"55b02747e000-55b02749f000 rw-p 00000000 00:00 0                          [heap]\n"
	"7fb9e7000000-7fb9e7400000 rw-p 00000000 00:00 0 \n"
	"7fb9e7753000-7fb9e7755000 ---p 00000000 00:00 0 \n"
	"7fb9e7755000-7fb9e7756000 r--p 00000000 fe:00 10952913                   /tmp/pp/gone.bin (deleted)\n"
	"7fb9e7756000-7fb9e7757000 r--s 00000000 fe:00 10952897                   /tmp/pp/a file\\012with newline\n"
	"7fb9e7757000-7fb9e7758000 rw-s 00000000 00:01 27                         /dev/zero (deleted)\n"
	"7fb9e7759000-7fb9e775a000 rw-s 00000000 00:01 0                          /SYSV00000000 (deleted)\n"
	"7fb9e775c000-7fb9e775d000 rw-s 00000000 00:01 24                         /memfd:my memfd (deleted)\n"
	"7fb9e775f000-7fb9e7763000 r--p 00000000 00:00 0                          [vvar]\n"
	"7fb9e7763000-7fb9e7765000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
	"7fb9e7765000-7fb9e7767000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7fb9e779a000-7fb9e779c000 rw-p 00033000 fe:00 332383                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7ffe7e273000-7ffe7e294000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

static void test_maps_real(void **state)
{
	struct proc_map *m;
	size_t n;

	(void)state;
	assert_int_equal(proc_parse_maps(S(real_maps), &m, &n), 0);
	assert_int_equal(n, 16);

	assert_int_equal(m[0].start, 0x55b000542000ull);
	assert_int_equal(m[0].end, 0x55b000543000ull);
	assert_int_equal(m[0].prot, PROT_READ);
	assert_false(m[0].is_shared);
	assert_int_equal(m[0].dev_major, 0xfe);
	assert_int_equal(m[0].dev_minor, 0);
	assert_int_equal(m[0].ino, 10952961);
	assert_string_equal(m[0].name, "/tmp/pp/rich");
	assert_false(m[0].is_deleted);
	assert_false(m[0].has_smaps);

	assert_int_equal(m[1].prot, PROT_READ | PROT_EXEC);
	assert_int_equal(m[1].pgoff, 0x1000);
	assert_string_equal(m[2].name, "[heap]");
	assert_string_equal(m[3].name, "");
	assert_int_equal(m[4].prot, 0);

	assert_string_equal(m[5].name, "/tmp/pp/gone.bin");
	assert_true(m[5].is_deleted);
	assert_string_equal(m[6].name, "/tmp/pp/a file\nwith newline");
	assert_true(m[6].is_shared);
	assert_false(m[6].is_deleted);
	assert_string_equal(m[7].name, "/dev/zero");
	assert_true(m[7].is_deleted);
	assert_int_equal(m[7].dev_minor, 1);
	assert_int_equal(m[7].ino, 27);
	assert_string_equal(m[8].name, "/SYSV00000000");
	assert_true(m[8].is_deleted);
	assert_string_equal(m[9].name, "/memfd:my memfd");
	assert_true(m[9].is_deleted);
	assert_int_equal(m[9].prot, PROT_READ | PROT_WRITE);

	assert_ptr_equal(proc_maps_find(m, n, "[vvar]"), &m[10]);
	assert_ptr_equal(proc_maps_find(m, n, "[vvar_vclock]"), &m[11]);
	assert_ptr_equal(proc_maps_find(m, n, "[vdso]"), &m[12]);
	assert_int_equal(m[10].end, m[11].start);
	assert_int_equal(m[11].end, m[12].start);
	assert_null(proc_maps_find(m, n, "[nothing]"));
	assert_int_equal(m[13].pgoff, 0x33000);
	assert_int_equal(m[15].start, 0xffffffffff600000ull);
	assert_int_equal(m[15].prot, PROT_EXEC);
	assert_string_equal(m[15].name, "[vsyscall]");
	proc_maps_free(m, n);
}

static void test_maps_names(void **state)
{
	static const char text[] =
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          [anon:thaw arena]\n"
		"7f0000001000-7f0000002000 rw-s 00000000 00:01 9                          [anon_shmem:shared]\n"
		"7f0000002000-7f0000003000 r--p 00000000 08:11 77                         /opt/my dir/lib  x.so\n"
		"7f0000003000-7f0000004000 r--p 00000000 08:11 78                         /a\\012\\012b (deleted)\n"
		"7f0000004000-7f0000005000 r--p 00000000 103:2 79                         /x (deleted) y\n"
		"7f0000005000-7f0000006000 r--p 00000000 00:00 0                          \\01\n"
		"7f0000006000-7f0000007000 rw-p 00000000 00:00 0";
	struct proc_map *m;
	size_t n;

	(void)state;
	assert_int_equal(proc_parse_maps(S(text), &m, &n), 0);
	assert_int_equal(n, 7);
	assert_string_equal(m[0].name, "[anon:thaw arena]");
	assert_string_equal(m[1].name, "[anon_shmem:shared]");
	assert_true(m[1].is_shared);
	assert_string_equal(m[2].name, "/opt/my dir/lib  x.so");
	assert_int_equal(m[2].dev_major, 8);
	assert_int_equal(m[2].dev_minor, 0x11);
	assert_string_equal(m[3].name, "/a\n\nb");
	assert_true(m[3].is_deleted);
	assert_string_equal(m[4].name, "/x (deleted) y");
	assert_false(m[4].is_deleted);
	assert_int_equal(m[4].dev_major, 0x103);
	assert_string_equal(m[5].name, "\\01");
	/* The last line lacks its newline and even the space after the inode. */
	assert_string_equal(m[6].name, "");
	proc_maps_free(m, n);
}

static const char real_smaps[] =
	"55b02747e000-55b02749f000 rw-p 00000000 00:00 0                          [heap]\n"
	SMAPS_BODY("   132", "    16", "    16", "rd wr mr mw me ac")
	"7fb9e7000000-7fb9e7400000 rw-p 00000000 00:00 0 \n"
	SMAPS_BODY(" 4096", "    0", "    0", "rd wr mr mw me ac hg")
	"7fb9e7751000-7fb9e7752000 rw-p 00000000 00:00 0 \n"
	SMAPS_BODY("     4", "     0", "     0", "rd wr mr mw me ac wf dd")
	"7fb9e7752000-7fb9e7753000 rw-p 00000000 00:00 0 \n"
	SMAPS_BODY("     4", "     4", "     4", "rd wr mr mw me lo ac")
	"7fb9e7753000-7fb9e7755000 ---p 00000000 00:00 0 \n"
	SMAPS_BODY("     8", "     0", "     0", "mr mw me nr")
	"7fb9e775c000-7fb9e775d000 rw-s 00000000 00:01 24                         /memfd:my memfd (deleted)\n"
	SMAPS_BODY("     4", "     0", "     0", "rd wr sh mr mw me ms")
	"7fb9e775f000-7fb9e7763000 r--p 00000000 00:00 0                          [vvar]\n"
	SMAPS_BODY("    16", "     0", "     0", "rd mr pf io de dd")
	"7fb9e7763000-7fb9e7765000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
	SMAPS_BODY("     8", "     0", "     0", "rd mr pf io de dd")
	"7fb9e7765000-7fb9e7767000 r-xp 00000000 00:00 0                          [vdso]\n"
	SMAPS_BODY("     8", "     4", "     0", "rd ex mr mw me de")
	"7ffe7e273000-7ffe7e294000 rw-p 00000000 00:00 0                          [stack]\n"
	SMAPS_BODY("   132", "    12", "    12", "rd wr mr mw me gd ac")
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	"Size:                  4 kB\n"
	"Rss:                   0 kB\n"
	"Locked:                0 kB\n"
	"VmFlags: ex \n";

static void test_smaps_real(void **state)
{
	struct proc_map *m;
	size_t n;

	(void)state;
	assert_int_equal(proc_parse_smaps(S(real_smaps), &m, &n), 0);
	assert_int_equal(n, 11);
	assert_true(m[0].has_smaps);
	assert_string_equal(m[0].name, "[heap]");
	assert_int_equal(m[0].size_kb, 132);
	assert_int_equal(m[0].rss_kb, 16);
	assert_int_equal(m[0].anon_kb, 16);
	assert_int_equal(m[0].vmflags, PROC_VMF_RD | PROC_VMF_WR | PROC_VMF_MR | PROC_VMF_MW |
					       PROC_VMF_ME | PROC_VMF_AC);
	assert_true(m[1].vmflags & PROC_VMF_HG);
	assert_true(m[2].vmflags & PROC_VMF_WF);
	assert_true(m[2].vmflags & PROC_VMF_DD);
	assert_true(m[3].vmflags & PROC_VMF_LO);
	assert_int_equal(m[3].rss_kb, 4);
	assert_true(m[4].vmflags & PROC_VMF_NR);
	assert_false(m[4].vmflags & PROC_VMF_RD);
	assert_true(m[5].vmflags & PROC_VMF_SH);
	assert_true(m[5].is_deleted);
	assert_string_equal(m[5].name, "/memfd:my memfd");
	assert_true(m[6].vmflags & PROC_VMF_IO);
	assert_true(m[6].vmflags & PROC_VMF_PF);
	assert_string_equal(m[7].name, "[vvar_vclock]");
	assert_true(m[7].vmflags & PROC_VMF_PF);
	assert_true(m[8].vmflags & PROC_VMF_EX);
	assert_true(m[9].vmflags & PROC_VMF_GD);
	assert_int_equal(m[9].anon_kb, 12);
	assert_int_equal(m[10].vmflags, PROC_VMF_EX);
	proc_maps_free(m, n);
}

static void test_vmflag_names(void **state)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} flags[] = {
		{ "gd", PROC_VMF_GD }, { "lo", PROC_VMF_LO }, { "nr", PROC_VMF_NR },
		{ "sh", PROC_VMF_SH }, { "io", PROC_VMF_IO }, { "pf", PROC_VMF_PF },
		{ "dc", PROC_VMF_DC }, { "dd", PROC_VMF_DD }, { "wf", PROC_VMF_WF },
		{ "hg", PROC_VMF_HG }, { "nh", PROC_VMF_NH }, { "mg", PROC_VMF_MG },
		{ "sr", PROC_VMF_SR }, { "rr", PROC_VMF_RR }, { "ss", PROC_VMF_SS },
		{ "dp", PROC_VMF_DP }, { "ht", PROC_VMF_HT }, { "um", PROC_VMF_UM },
		{ "uw", PROC_VMF_UW }, { "de", PROC_VMF_DE }, { "ac", PROC_VMF_AC },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		assert_int_equal(proc_vmflag_bit(flags[i].name), flags[i].bit);
	assert_int_equal(proc_vmflag_bit("zz"), 0);
}

static void test_smaps_unknown_and_missing(void **state)
{
	/* Unknown keys and flags of a newer kernel are skipped. */
	static const char newer[] = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
				    "FutureKey:      12 kB\n"
				    "Rss:             8 kB\n"
				    "ProtectionKey:   0\n"
				    "VmFlags: rd wr zz xyz gd \n";
	/* A VMA without VmFlags (truncated read) is an error, not flags 0. */
	static const char no_flags[] = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
				       "Rss:             8 kB\n"
				       "7f0000001000-7f0000002000 rw-p 00000000 00:00 0 \n"
				       "VmFlags: rd wr\n";
	static const char no_flags_last[] = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
					    "Rss:             8 kB\n";
	static const char field_first[] = "Rss:             8 kB\n";
	static const char bad_kb[] = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
				     "Rss:             8 MB\n"
				     "VmFlags: rd\n";
	struct proc_map *m;
	size_t n;

	(void)state;
	assert_int_equal(proc_parse_smaps(S(newer), &m, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(m[0].rss_kb, 8);
	assert_int_equal(m[0].vmflags, PROC_VMF_RD | PROC_VMF_WR | PROC_VMF_GD);
	proc_maps_free(m, n);

	assert_int_equal(proc_parse_smaps(S(no_flags), &m, &n), -EINVAL);
	assert_null(m);
	assert_int_equal(n, 0);
	assert_int_equal(proc_parse_last_error()->line, 3);
	assert_non_null(proc_parse_last_error()->reason);
	assert_int_equal(proc_parse_smaps(S(no_flags_last), &m, &n), -EINVAL);
	assert_int_equal(proc_parse_smaps(S(field_first), &m, &n), -EINVAL);
	assert_int_equal(proc_parse_smaps(S(bad_kb), &m, &n), -EINVAL);
	/* Empty text: a process without memory (a zombie) has no VMAs. */
	assert_int_equal(proc_parse_smaps("", 0, &m, &n), 0);
	assert_int_equal(n, 0);
	assert_null(m);
}

static void test_maps_garbage(void **state)
{
	static const char *const bad[] = {
		"hello\n",
		"7f0000000000-7f0000001000\n",
		"7f0000000000-7f0000001000 rw-p\n",
		"7f0000000000-7f0000001000 rwzp 00000000 00:00 0 \n",
		"7f0000000000-7f0000001000 rw-q 00000000 00:00 0 \n",
		"7f0000001000-7f0000000000 rw-p 00000000 00:00 0 \n", /* backwards */
		"7f0000000000-7f0000000000 rw-p 00000000 00:00 0 \n", /* empty */
		"7f0000000100-7f0000001000 rw-p 00000000 00:00 0 \n", /* unaligned */
		"7f0000000000-7f0000001000 rw-p 00000000 00 0 \n",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 x\n",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 0x /a\n",
		"7f0000000000-7f0000001000 rw-p 00000000 100000000:00 0 \n",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 99999999999999999999 \n",
		"17f00000000000000-7f0000001000 rw-p 00000000 00:00 0 \n",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n\n",
		"7f0000000000-7f0000001000 rw-p 0000",
		"-7f0000001000 rw-p 00000000 00:00 0 \n",
	};
	struct proc_map *m;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = (void *)1;
		assert_int_equal(proc_parse_maps(bad[i], strlen(bad[i]), &m, &n), -EINVAL);
		assert_null(m);
		assert_non_null(proc_parse_last_error()->reason);
	}
	/* A NUL inside the name would cut the C string short. */
	assert_int_equal(proc_parse_maps(S("7f0000000000-7f0000001000 r--p 0 00:00 1 /a\0b\n"),
					 &m, &n),
			 -EINVAL);
}

static void test_maps_truncated(void **state)
{
	struct proc_map *m;
	size_t len, n;
	int r;

	(void)state;
	/* Every prefix parses or fails cleanly; ASan checks no byte past it is read. */
	for (len = 0; len <= sizeof(real_smaps) - 1; len++) {
		char *copy = malloc(len ? len : 1);

		memcpy(copy, real_smaps, len);
		r = proc_parse_smaps(copy, len, &m, &n);
		assert_true(r == 0 || r == -EINVAL);
		if (r == 0)
			proc_maps_free(m, n);
		r = proc_parse_maps(copy, len, &m, &n);
		assert_true(r == 0 || r == -EINVAL);
		if (r == 0)
			proc_maps_free(m, n);
		free(copy);
	}
}

static const char real_stat[] =
	"7959 (a) b (c) S 1 7949 5472 0 -1 4194560 117 0 0 0 0 0 0 0 20 0 1 0 227027 6778880 329 "
	"18446744073709551615 94214408122368 94214408123649 140731015049440 0 0 0 0 6 0 1 0 0 17 "
	"0 0 0 0 0 0 94214408134096 94214408134784 94215061626880 140731015051934 "
	"140731015051941 140731015051941 140731015053297 0\n";

static void test_stat_real(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(proc_parse_stat(S(real_stat), &st), 0);
	assert_int_equal(st.pid, 7959);
	assert_string_equal(st.comm, "a) b (c");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.pgrp, 7949);
	assert_int_equal(st.session, 5472);
	assert_int_equal(st.tty_nr, 0);
	assert_int_equal(st.tpgid, -1);
	assert_int_equal(st.flags, 4194560);
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(st.start_time, 227027);
	assert_int_equal(st.start_code, 94214408122368ull);
	assert_int_equal(st.end_code, 94214408123649ull);
	assert_int_equal(st.start_stack, 140731015049440ull);
	assert_int_equal(st.exit_signal, 17);
	assert_int_equal(st.start_data, 94214408134096ull);
	assert_int_equal(st.end_data, 94214408134784ull);
	assert_int_equal(st.start_brk, 94215061626880ull);
	assert_int_equal(st.arg_start, 140731015051934ull);
	assert_int_equal(st.arg_end, 140731015051941ull);
	assert_int_equal(st.env_start, 140731015051941ull);
	assert_int_equal(st.env_end, 140731015053297ull);
	assert_int_equal(st.exit_code, 0);
}

static void test_stat_edge(void **state)
{
	static const char empty_comm[] = "5 () Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 -5 1 0 9 0 0 0 0 0 0 "
					 "0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 139";
	static const char extra[] = "5 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 0 0 0 0 "
				    "0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0 42 43\n";
	static const char *const bad[] = {
		"",
		"x (a) R",
		"5 a R 1",
		"5 (a R 1 1 1",
		"5 (a) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9\n", /* truncated */
		"5 (a) 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 "
		"0 0 0 0 0 0 0 0 0 0", /* no state */
		"5 (a) R 99999999999 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 "
		"0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
		"5 (a) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 "
		"0 0 0 0 0 0 0 0 0 0 0x",
		"5 (0123456789012345678901234567890123456789012345678901234567890123456789) R 1",
		"-5 (a) R 1",
		"5 (a) R 1 1 1 0 -1 -1 0",
	};
	struct proc_stat st;
	size_t i;

	(void)state;
	assert_int_equal(proc_parse_stat(S(empty_comm), &st), 0);
	assert_string_equal(st.comm, "");
	assert_int_equal(st.state, 'Z');
	assert_int_equal(st.exit_code, 139);
	assert_int_equal(proc_parse_stat(S(extra), &st), 0);
	assert_int_equal(st.exit_code, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proc_parse_stat(bad[i], strlen(bad[i]), &st), -EINVAL);
	assert_int_equal(proc_parse_stat(S("5 (a\0b) R 1"), &st), -EINVAL);
}

static const char real_status[] = "Name:\ta) b (c\n"
				  "Umask:\t0022\n"
				  "State:\tS (sleeping)\n"
				  "Tgid:\t7959\n"
				  "Ngid:\t0\n"
				  "Pid:\t7959\n"
				  "PPid:\t1\n"
				  "TracerPid:\t0\n"
				  "Uid:\t0\t0\t0\t0\n"
				  "Gid:\t0\t0\t0\t0\n"
				  "FDSize:\t64\n"
				  "Groups:\t \n"
				  "NStgid:\t7959\n"
				  "NSpid:\t7959\n"
				  "NSpgid:\t7949\n"
				  "NSsid:\t5472\n"
				  "Kthread:\t0\n"
				  "VmPeak:\t    6620 kB\n"
				  "Threads:\t1\n"
				  "SigQ:\t0/96365\n"
				  "SigPnd:\t0000000000000000\n"
				  "ShdPnd:\t0000000000000000\n"
				  "SigBlk:\t0000000000000000\n"
				  "SigIgn:\t0000000000000006\n"
				  "SigCgt:\t0000000000000000\n"
				  "CapInh:\t0000000000000000\n"
				  "CapEff:\t000001fffeffffff\n"
				  "NoNewPrivs:\t0\n"
				  "Seccomp:\t0\n"
				  "Seccomp_filters:\t0\n"
				  "Speculation_Store_Bypass:\tvulnerable\n"
				  "Cpus_allowed_list:\t0-1\n"
				  "voluntary_ctxt_switches:\t1\n"
				  "nonvoluntary_ctxt_switches:\t0\n";

static void test_status_real(void **state)
{
	struct proc_status st;

	(void)state;
	assert_int_equal(proc_parse_status(S(real_status), &st), 0);
	assert_true(st.has_umask);
	assert_int_equal(st.umask, 022);
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.tgid, 7959);
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.tracer_pid, 0);
	assert_int_equal(st.nspid_n, 1);
	assert_int_equal(st.nspid[0], 7959);
	assert_int_equal(st.nstgid_n, 1);
	assert_int_equal(st.threads, 1);
	assert_int_equal(st.sigq_queued, 0);
	assert_int_equal(st.sigq_limit, 96365);
	assert_int_equal(st.sig_ign, 6);
	assert_int_equal(st.sig_cgt, 0);
	assert_int_equal(st.seccomp, 0);
	assert_false(st.no_new_privs);
	assert_int_equal(st.uid[3], 0);
}

static void test_status_nested(void **state)
{
	/* A thread two PID namespaces down, traced, seccomp'd, no Umask (zombie). */
	static const char text[] = "State:\tt (tracing stop)\n"
				   "Tgid:\t4100\n"
				   "PPid:\t4000\n"
				   "TracerPid:\t3999\n"
				   "Uid:\t1000\t1001\t1002\t1003\n"
				   "Gid:\t100\t101\t102\t4294967295\n"
				   "NStgid:\t4100\t17\t2\n"
				   "NSpid:\t4242\t20\t5\n"
				   "Threads:\t8\n"
				   "SigQ:\t3/1024\n"
				   "SigPnd:\t0000000000000100\n"
				   "ShdPnd:\t0000000000004000\n"
				   "SigBlk:\tfffffffe7ffbfeff\n"
				   "SigIgn:\t0000000001001000\n"
				   "SigCgt:\t00000001800044ea\n"
				   "NoNewPrivs:\t1\n"
				   "Seccomp:\t2";
	struct proc_status st;

	(void)state;
	assert_int_equal(proc_parse_status(S(text), &st), 0);
	assert_false(st.has_umask);
	assert_int_equal(st.state, 't');
	assert_int_equal(st.tracer_pid, 3999);
	assert_int_equal(st.nspid_n, 3);
	assert_int_equal(st.nspid[0], 4242);
	assert_int_equal(st.nspid[st.nspid_n - 1], 5);
	assert_int_equal(st.nstgid[2], 2);
	assert_int_equal(st.uid[1], 1001);
	assert_int_equal(st.gid[3], 4294967295u);
	assert_int_equal(st.sig_blk, 0xfffffffe7ffbfeffull);
	assert_int_equal(st.shd_pnd, 0x4000);
	assert_int_equal(st.sigq_queued, 3);
	assert_int_equal(st.seccomp, 2);
	assert_true(st.no_new_privs);
	assert_int_equal(st.threads, 8);
}

/* The lines of process attributes (src/engine/attrs.c): speculation, LAM, shadow stack. */
static void test_status_attrs(void **state)
{
	static const char *const lines[] = {
		/* defaults: nothing chosen by the thread, no LAM, no shadow stack */
		"Speculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\t"
		"conditional enabled\nuntag_mask:\t0xffffffffffffffff\nx86_Thread_features:\t\n"
		"x86_Thread_features_locked:\t\n",
		/* a thread that asked for mitigations, LAM on, a shadow stack */
		"Speculation_Store_Bypass:\tthread force mitigated\nSpeculationIndirectBranch:\t"
		"conditional disabled\nuntag_mask:\t0x7e00000000000000\nx86_Thread_features:\t"
		"shstk wrss \n",
		"Speculation_Store_Bypass:\tthread mitigated\nSpeculationIndirectBranch:\t"
		"conditional force disabled\n",
		/* system-wide settings are not the thread's */
		"Speculation_Store_Bypass:\tglobally mitigated\nSpeculationIndirectBranch:\t"
		"always disabled\n",
	};
	struct proc_status st;
	char text[4096];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", real_status, lines[i]);
		assert_int_equal(proc_parse_status(text, strlen(text), &st), 0);
		assert_int_equal(st.is_ssb_thread_mitigated, i == 1 || i == 2);
		assert_int_equal(st.is_ib_thread_disabled, i == 1 || i == 2);
		assert_int_equal(st.untag_mask, i == 1 ? 0x7e00000000000000ull : UINT64_MAX);
		assert_int_equal(st.has_x86_thread_features, i == 1);
	}
	snprintf(text, sizeof(text), "%suntag_mask:\tffff\n", real_status);
	assert_int_equal(proc_parse_status(text, strlen(text), &st), -EINVAL);
	assert_string_equal(proc_parse_last_error()->reason, "bad untag_mask");
}

static void test_status_bad(void **state)
{
	static const char *const bad[] = {
		"State:\tS\n", /* missing everything else */
		"garbage\n",
		"Umask:\t0999\n",
		"SigBlk:\tzz\n",
		"SigBlk:\t00000000000000000\n", /* 17 hex digits */
		"Uid:\t0\t0\t0\n",
		"NSpid:\t\n",
		"NSpid:\t1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 "
		"30 31 32 33\n",
		"SigQ:\t1\n",
		"Seccomp:\t7\n",
		"Tgid:\t-3\n",
		":\t1\n",
	};
	struct proc_status st;
	char *copy;
	size_t i, cut;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proc_parse_status(bad[i], strlen(bad[i]), &st), -EINVAL);
	/* Dropping the Tgid line makes a real sample incomplete. */
	copy = strdup(real_status);
	memcpy(strstr(copy, "Tgid:"), "Xgid:", 5);
	assert_int_equal(proc_parse_status(copy, strlen(copy), &st), -EINVAL);
	free(copy);
	for (cut = 0; cut < sizeof(real_status) - 1; cut++) {
		copy = malloc(cut + 1);
		memcpy(copy, real_status, cut);
		assert_true(proc_parse_status(copy, cut, &st) <= 0);
		free(copy);
	}
}

/* The credential lines of a thread's status (setpriv --reuid=1000 ... on 6.18), and more. */
static const char creds_status[] = "Name:\tgrep\n"
				   "Umask:\t0022\n"
				   "State:\tR (running)\n"
				   "Uid:\t1000\t1000\t1000\t1001\n"
				   "Gid:\t100\t100\t101\t100\n"
				   "FDSize:\t64\n"
				   "Groups:\t27 100 65534 \n"
				   "NStgid:\t3301\n"
				   "CapInh:\t0000000000000400\n"
				   "CapPrm:\t0000000000001400\n"
				   "CapEff:\t0000000000001000\n"
				   "CapBnd:\t000001fffeffffff\n"
				   "CapAmb:\t0000000000000400\n"
				   "NoNewPrivs:\t1\n"
				   "Seccomp:\t2\n"
				   "Seccomp_filters:\t3\n"
				   "Speculation_Store_Bypass:\tvulnerable\n";

static void test_creds_real(void **state)
{
	struct proc_creds cr;

	(void)state;
	assert_int_equal(proc_parse_creds(S(creds_status), &cr), 0);
	assert_int_equal(cr.uid[0], 1000);
	assert_int_equal(cr.uid[3], 1001);
	assert_int_equal(cr.gid[2], 101);
	assert_int_equal(cr.nr_groups, 3);
	assert_int_equal(cr.groups[0], 27);
	assert_int_equal(cr.groups[2], 65534);
	assert_int_equal(cr.cap_inh, 0x400);
	assert_int_equal(cr.cap_prm, 0x1400);
	assert_int_equal(cr.cap_eff, 0x1000);
	assert_int_equal(cr.cap_bnd, 0x1fffeffffffull);
	assert_int_equal(cr.cap_amb, 0x400);
	assert_true(cr.no_new_privs);
	assert_int_equal(cr.seccomp, 2);
	assert_int_equal(cr.seccomp_filters, 3);
	proc_creds_release(&cr);
	assert_null(cr.groups);
}

static void test_creds_bad(void **state)
{
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "Groups:\t27 100", "Groups:\t27x100" },
		{ "Groups:\t27 100", "Groups:\t-7 100" },
		{ "Groups:", "Groupz:" }, /* missing */
		{ "CapEff:\t0000000000001000", "CapEff:\t00000000000010000" }, /* 17 digits */
		{ "CapAmb:", "CapAmx:" },
		{ "CapBnd:\t000001fffeffffff", "CapBnd:\t000001fffeffffzz" },
		{ "NoNewPrivs:\t1", "NoNewPrivs:\t2" },
		{ "Seccomp:\t2", "Seccomp:\t3" },
		{ "Seccomp_filters:\t3", "Seccomp_filters:\tx" },
		{ "Uid:\t1000\t1000\t1000\t1001", "Uid:\t1000\t1000\t1000\t99999999999" },
	};
	struct proc_creds cr;
	char *copy, *p, *grown;
	size_t i, cut;

	(void)state;
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		copy = malloc(sizeof(creds_status) + 16);
		strcpy(copy, creds_status);
		p = strstr(copy, edits[i].from);
		assert_non_null(p);
		memmove(p + strlen(edits[i].to), p + strlen(edits[i].from),
			strlen(p + strlen(edits[i].from)) + 1);
		memcpy(p, edits[i].to, strlen(edits[i].to));
		if (proc_parse_creds(copy, strlen(copy), &cr) != -EINVAL)
			print_error("edit %zu was accepted\n", i);
		assert_int_equal(proc_parse_creds(copy, strlen(copy), &cr), -EINVAL);
		assert_null(cr.groups); /* released on failure */
		free(copy);
	}
	/* no groups at all is "Groups:\t\n" */
	copy = strdup(creds_status);
	p = strstr(copy, "27 100 65534 ");
	memset(p, ' ', strlen("27 100 65534 "));
	assert_int_equal(proc_parse_creds(copy, strlen(copy), &cr), 0);
	assert_int_equal(cr.nr_groups, 0);
	free(copy);
	/* NGROUPS_MAX groups fit, one more does not */
	grown = malloc(PROC_MAX_GROUPS * 12 + 256);
	assert_non_null(grown);
	strcpy(grown, "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\n"
		      "CapBnd:\t0\nCapAmb:\t0\nNoNewPrivs:\t0\nGroups:\t");
	p = grown + strlen(grown);
	for (i = 0; i < PROC_MAX_GROUPS; i++)
		p += sprintf(p, "%zu ", i);
	strcpy(p, "\n");
	assert_int_equal(proc_parse_creds(grown, strlen(grown), &cr), 0);
	assert_int_equal(cr.nr_groups, PROC_MAX_GROUPS);
	assert_int_equal(cr.groups[PROC_MAX_GROUPS - 1], PROC_MAX_GROUPS - 1);
	proc_creds_release(&cr);
	strcpy(p, "65536 \n");
	assert_int_equal(proc_parse_creds(grown, strlen(grown), &cr), -EINVAL);
	free(grown);
	/* truncations: an error or a shorter list, never a read past the end */
	for (cut = 0; cut < sizeof(creds_status) - 1; cut++) {
		copy = malloc(cut + 1);
		memcpy(copy, creds_status, cut);
		if (proc_parse_creds(copy, cut, &cr) == 0)
			proc_creds_release(&cr);
		free(copy);
	}
}

/* /proc/PID/limits of a process with lowered limits, as 6.18 prints it. */
static const char real_limits[] =
	"Limit                     Soft Limit           Hard Limit           Units     \n"
	"Max cpu time              unlimited            unlimited            seconds   \n"
	"Max file size             unlimited            unlimited            bytes     \n"
	"Max data size             unlimited            unlimited            bytes     \n"
	"Max stack size            8388608              unlimited            bytes     \n"
	"Max core file size        0                    1048576              bytes     \n"
	"Max resident set          unlimited            unlimited            bytes     \n"
	"Max processes             15446                15446                processes \n"
	"Max open files            777                  888                  files     \n"
	"Max locked memory         8388608              8388608              bytes     \n"
	"Max address space         unlimited            unlimited            bytes     \n"
	"Max file locks            unlimited            unlimited            locks     \n"
	"Max pending signals       15446                15446                signals   \n"
	"Max msgqueue size         4096                 8192                 bytes     \n"
	"Max nice priority         0                    0                    \n"
	"Max realtime priority     0                    0                    \n"
	"Max realtime timeout      unlimited            unlimited            us        \n";

static void test_limits_real(void **state)
{
	struct proc_rlimit lim[PROC_NR_RLIMITS];

	(void)state;
	assert_int_equal(proc_parse_limits(S(real_limits), lim), 0);
	assert_true(lim[RLIMIT_CPU].cur == RLIM_INFINITY && lim[RLIMIT_CPU].max == RLIM_INFINITY);
	assert_int_equal(lim[RLIMIT_STACK].cur, 8388608);
	assert_true(lim[RLIMIT_STACK].max == RLIM_INFINITY);
	assert_int_equal(lim[RLIMIT_CORE].cur, 0);
	assert_int_equal(lim[RLIMIT_CORE].max, 1048576);
	assert_int_equal(lim[RLIMIT_NOFILE].cur, 777);
	assert_int_equal(lim[RLIMIT_NOFILE].max, 888);
	assert_int_equal(lim[RLIMIT_MSGQUEUE].max, 8192);
	assert_int_equal(lim[RLIMIT_RTPRIO].max, 0);
	assert_true(lim[RLIMIT_RTTIME].cur == RLIM_INFINITY);
}

static void test_limits_bad(void **state)
{
	struct proc_rlimit lim[PROC_NR_RLIMITS];
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "Limit ", "Limitz" }, /* no header */
		{ "Max open files ", "Max open filez " }, /* a name out of place */
		{ "777 ", "77x " },
		{ "777 ", "999 " }, /* soft above hard */
		{ "888 ", "-88 " },
		{ "15446                15446                signals",
		  "99999999999999999999 15446                signals" }, /* overflows */
		{ "Max realtime timeout", "Max realtime timeouz" },
	};
	char *copy, *p;
	size_t i, cut, last;

	(void)state;
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		copy = strdup(real_limits);
		p = strstr(copy, edits[i].from);
		assert_non_null(p);
		assert_int_equal(strlen(edits[i].from), strlen(edits[i].to));
		memcpy(p, edits[i].to, strlen(edits[i].to));
		if (proc_parse_limits(copy, strlen(copy), lim) != -EINVAL)
			print_error("edit %zu was accepted\n", i);
		assert_int_equal(proc_parse_limits(copy, strlen(copy), lim), -EINVAL);
		assert_non_null(proc_parse_last_error()->reason);
		free(copy);
	}
	/* a truncation is an error (a limit is missing) until only the last padding is cut */
	last = (size_t)(strstr(real_limits, "unlimited            us") - real_limits) + 9;
	for (cut = 0; cut < sizeof(real_limits) - 1; cut++) {
		copy = malloc(cut + 1);
		memcpy(copy, real_limits, cut);
		assert_int_equal(proc_parse_limits(copy, cut, lim), cut >= last ? 0 : -EINVAL);
		free(copy);
	}
	/* a newer kernel's seventeenth limit is skipped */
	copy = malloc(sizeof(real_limits) + 128);
	strcpy(copy, real_limits);
	strcat(copy, "Max future thing          1                    2                    \n");
	assert_int_equal(proc_parse_limits(copy, strlen(copy), lim), 0);
	assert_int_equal(lim[RLIMIT_NOFILE].max, 888);
	free(copy);
}

/* /proc/PID/timers as 6.18 prints it: newest first, with each notify mode. */
static const char real_timers[] = "ID: 4\n"
				  "signal: 14/0000000000000000\n"
				  "notify: signal/pid.8447\n"
				  "ClockID: -67582\n"
				  "ID: 2\n"
				  "signal: 0/deadbeeffffffffb\n"
				  "notify: none/pid.8447\n"
				  "ClockID: 7\n"
				  "ID: 1\n"
				  "signal: 35/deadbeeffffffffb\n"
				  "notify: signal/tid.8450\n"
				  "ClockID: 0\n"
				  "ID: 0\n"
				  "signal: 34/deadbeef12345678\n"
				  "notify: thread/pid.8447\n"
				  "ClockID: 1\n";

static void test_timers_real(void **state)
{
	struct proc_timer *t;
	size_t n;

	(void)state;
	assert_int_equal(proc_parse_timers(S(real_timers), &t, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(t[0].id, 4);
	assert_int_equal(t[0].signo, 14);
	assert_int_equal(t[0].clockid, -67582);
	assert_int_equal(t[0].notify, 0);
	assert_int_equal(t[0].target, 8447);
	assert_int_equal(t[1].notify, 1);
	assert_int_equal(t[1].clockid, 7);
	assert_true(t[1].sigval == 0xdeadbeeffffffffbull);
	assert_int_equal(t[2].notify, PROC_TIMER_NOTIFY_TID);
	assert_int_equal(t[2].target, 8450);
	assert_int_equal(t[2].signo, 35);
	assert_int_equal(t[3].notify, 2);
	assert_true(t[3].sigval == 0xdeadbeef12345678ull);
	free(t);
	/* none at all */
	assert_int_equal(proc_parse_timers("", 0, &t, &n), 0);
	assert_int_equal(n, 0);
	assert_null(t);
}

static void test_timers_bad(void **state)
{
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "ID: 4", "ID: x" },
		{ "ID: 1", "ID: 4" }, /* twice */
		{ "ID: 2", "ID:-2" },
		{ "notify: none", "notify: nome" },
		{ "pid.8447\nClockID: 7", "pix.8447\nClockID: 7" },
		{ "tid.8450", "tid.-450" },
		{ "signal: 35/", "signal: 35-" },
		{ "deadbeef12345678", "deadbeef1234567g" },
		{ "ClockID: 1", "ClockIX: 1" }, /* the last timer lacks its clock */
		{ "ClockID: 7", "ClockIX: 7" }, /* a timer in the middle lacks it */
	};
	struct proc_timer *t;
	char *copy, *p;
	size_t i, n, cut;

	(void)state;
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		copy = strdup(real_timers);
		p = strstr(copy, edits[i].from);
		assert_non_null(p);
		assert_int_equal(strlen(edits[i].from), strlen(edits[i].to));
		memcpy(p, edits[i].to, strlen(edits[i].to));
		if (proc_parse_timers(copy, strlen(copy), &t, &n) != -EINVAL)
			print_error("edit %zu was accepted\n", i);
		assert_int_equal(proc_parse_timers(copy, strlen(copy), &t, &n), -EINVAL);
		assert_null(t);
		assert_non_null(proc_parse_last_error()->reason);
		free(copy);
	}
	/* cut anywhere: whole timers, or an error */
	for (cut = 0; cut < sizeof(real_timers) - 1; cut++) {
		int r;

		copy = malloc(cut + 1);
		memcpy(copy, real_timers, cut);
		r = proc_parse_timers(copy, cut, &t, &n);
		assert_true(r == 0 || r == -EINVAL);
		if (r == 0)
			assert_true(n <= 4);
		free(t);
		free(copy);
	}
}

/* ---- live: this process's own /proc ---- */

static void test_live_smaps(void **state)
{
	const struct proc_map *stack, *vdso, *vvar;
	struct proc_map *m;
	size_t n, i;
	uintptr_t here = (uintptr_t)&n;
	bool found_self = false;

	(void)state;
	assert_int_equal(proc_read_smaps(getpid(), &m, &n), 0);
	assert_true(n > 5);
	stack = proc_maps_find(m, n, "[stack]");
	assert_non_null(stack);
	assert_true(stack->vmflags & PROC_VMF_GD);
	assert_true(stack->has_smaps);
	assert_true(here >= stack->start && here < stack->end);
	vdso = proc_maps_find(m, n, "[vdso]");
	vvar = proc_maps_find(m, n, "[vvar]");
	assert_non_null(vdso);
	assert_non_null(vvar);
	assert_int_equal(vdso->start, getauxval(AT_SYSINFO_EHDR));
	assert_true(vvar->end <= vdso->start);
	for (i = 0; i < n; i++) {
		assert_true(m[i].vmflags != 0 || m[i].prot == 0);
		if ((uintptr_t)test_live_smaps >= m[i].start && (uintptr_t)test_live_smaps < m[i].end)
			found_self = (m[i].prot & PROT_EXEC) && m[i].name[0] == '/';
	}
	assert_true(found_self);
	proc_maps_free(m, n);

	assert_int_equal(proc_read_maps(getpid(), &m, &n), 0);
	assert_non_null(proc_maps_find(m, n, "[vdso]"));
	assert_false(m[0].has_smaps);
	proc_maps_free(m, n);
}

static void test_live_stat_status(void **state)
{
	struct proc_stat st;
	struct proc_status ss;

	(void)state;
	assert_int_equal(proc_read_stat(getpid(), 0, &st), 0);
	assert_int_equal(st.pid, getpid());
	assert_int_equal(st.ppid, getppid());
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.pgrp, getpgrp());
	assert_true(st.start_code != 0 && st.start_code < st.end_code);
	assert_true(st.arg_start < st.arg_end);
	assert_int_equal(proc_read_stat(getpid(), gettid(), &st), 0);
	assert_int_equal(st.pid, gettid());

	assert_int_equal(proc_read_status(getpid(), 0, &ss), 0);
	assert_int_equal(ss.tgid, getpid());
	assert_int_equal(ss.ppid, getppid());
	assert_true(ss.has_umask);
	assert_true(ss.nspid_n >= 1);
	assert_int_equal(ss.nspid[ss.nspid_n - 1], getpid());
	assert_int_equal(ss.uid[0], getuid());
	assert_int_equal(ss.gid[1], getegid());

	assert_int_equal(proc_read_stat(999999999, 0, &st), -ENOENT);
}

static void *idle_thread(void *arg)
{
	int *pipe_rd = arg;
	char c;

	return (void *)(intptr_t)read(*pipe_rd, &c, 1);
}

static void test_live_tasks_fds(void **state)
{
	pthread_t thread;
	pid_t *tids;
	int *fds, p[2];
	size_t n, i;
	bool has_p0 = false, has_p1 = false;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pthread_create(&thread, NULL, idle_thread, &p[0]), 0);
	assert_int_equal(proc_list_tasks(getpid(), &tids, &n), 0);
	assert_true(n >= 2);
	assert_int_equal(tids[0], getpid());
	for (i = 2; i < n; i++)
		assert_true(tids[i - 1] < tids[i]);
	free(tids);

	assert_int_equal(proc_list_fds(getpid(), &fds, &n), 0);
	for (i = 0; i < n; i++) {
		if (i)
			assert_true(fds[i - 1] < fds[i]);
		has_p0 |= fds[i] == p[0];
		has_p1 |= fds[i] == p[1];
	}
	assert_true(has_p0 && has_p1);
	free(fds);

	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(pthread_join(thread, NULL), 0);
	close(p[0]);
	close(p[1]);
}

static void test_live_auxv_personality(void **state)
{
	uint64_t auxv[512];
	size_t len, i;
	bool found = false;
	uint32_t pers;
	char small[32];

	(void)state;
	assert_int_equal(proc_read_auxv(getpid(), auxv, sizeof(auxv), &len), 0);
	assert_true(len >= 16 && len % 16 == 0);
	for (i = 0; i < len / 8; i += 2)
		if (auxv[i] == AT_PAGESZ) {
			assert_int_equal(auxv[i + 1], (uint64_t)sysconf(_SC_PAGESIZE));
			found = true;
		}
	assert_true(found);
	assert_int_equal(proc_read_auxv(getpid(), small, sizeof(small), &len), -ENOBUFS);

	assert_int_equal(proc_read_personality(getpid(), &pers), 0);
	assert_int_equal(pers, (uint32_t)personality(0xffffffff));
}

static void test_live_creds(void **state)
{
	struct proc_creds cr;
	gid_t groups[64];
	int n = getgroups(64, groups), i;

	(void)state;
	assert_true(n >= 0);
	assert_int_equal(proc_read_creds(getpid(), gettid(), &cr), 0);
	assert_int_equal(cr.uid[1], geteuid());
	assert_int_equal(cr.gid[0], getgid());
	assert_int_equal(cr.nr_groups, n);
	for (i = 0; i < n; i++)
		assert_int_equal(cr.groups[i], groups[i]);
	assert_int_equal(cr.no_new_privs, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	proc_creds_release(&cr);
}

static void test_live_limits(void **state)
{
	struct proc_rlimit lim[PROC_NR_RLIMITS];
	struct rlimit rl;
	int r;

	(void)state;
	assert_int_equal(proc_read_limits(getpid(), lim), 0);
	for (r = 0; r < PROC_NR_RLIMITS; r++) {
		assert_int_equal(getrlimit((__rlimit_resource_t)r, &rl), 0);
		assert_true(lim[r].cur == rl.rlim_cur);
		assert_true(lim[r].max == rl.rlim_max);
	}
}

static void test_read_file(void **state)
{
	char *buf;
	size_t len;

	(void)state;
	assert_int_equal(proc_read_file("/proc/self/smaps", &buf, &len), 0);
	/* smaps of a process is usually well past the 16 KiB first buffer. */
	assert_true(len > 0);
	assert_int_equal(buf[len], '\0');
	assert_int_equal(strlen(buf), len);
	free(buf);
	assert_int_equal(proc_read_file("/proc/self/nonexistent", &buf, &len), -ENOENT);
	assert_null(buf);
	/* An endless file stops at the bound instead of eating memory. */
	assert_int_equal(proc_read_file("/dev/zero", &buf, &len), -EFBIG);
	assert_null(buf);
}

/* /proc/locks of Linux 6.18: one line per lock, waiters after the lock they wait for. */
static void test_locks(void **state)
{
	static const char text[] = "1: LEASE  ACTIVE    READ 28893 fe:00:10953707 0 EOF\n"
				   "2: OFDLCK ADVISORY  READ -1 fe:00:10953706 0 4\n"
				   "3: POSIX  ADVISORY  WRITE 15846 fe:00:10953704 10 29\n"
				   "3: -> POSIX  ADVISORY  WRITE 22212 fe:00:10953704 10 29\n"
				   "4: FLOCK  ADVISORY  WRITE 28893 fe:00:10953705 0 EOF";
	struct fdinfo_lock *locks;
	size_t n;

	(void)state;
	assert_int_equal(proc_parse_locks(S(text), &locks, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(locks[0].kind, FDINFO_LOCK_LEASE);
	assert_int_equal(locks[1].pid, -1);
	assert_int_equal(locks[2].start, 10);
	assert_false(locks[2].is_waiter);
	assert_true(locks[3].is_waiter);
	assert_int_equal(locks[3].pid, 22212);
	assert_int_equal(locks[4].type, F_WRLCK);
	free(locks);
	/* nothing locked: no array */
	assert_int_equal(proc_parse_locks("", 0, &locks, &n), 0);
	assert_int_equal(n, 0);
	assert_null(locks);
	/* a bad line names itself */
	assert_int_equal(proc_parse_locks(S("1: POSIX  ADVISORY  WRITE 1 fe:00:1 0 EOF\n2: junk\n"),
					  &locks, &n),
			 -EINVAL);
	assert_int_equal(proc_parse_last_error()->line, 2);
	/* and the live file parses */
	assert_int_equal(proc_read_locks(&locks, &n), 0);
	free(locks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_real),
		cmocka_unit_test(test_maps_names),
		cmocka_unit_test(test_smaps_real),
		cmocka_unit_test(test_vmflag_names),
		cmocka_unit_test(test_smaps_unknown_and_missing),
		cmocka_unit_test(test_maps_garbage),
		cmocka_unit_test(test_maps_truncated),
		cmocka_unit_test(test_stat_real),
		cmocka_unit_test(test_stat_edge),
		cmocka_unit_test(test_status_real),
		cmocka_unit_test(test_status_nested),
		cmocka_unit_test(test_status_attrs),
		cmocka_unit_test(test_status_bad),
		cmocka_unit_test(test_creds_real),
		cmocka_unit_test(test_creds_bad),
		cmocka_unit_test(test_limits_real),
		cmocka_unit_test(test_limits_bad),
		cmocka_unit_test(test_timers_real),
		cmocka_unit_test(test_timers_bad),
		cmocka_unit_test(test_live_smaps),
		cmocka_unit_test(test_live_stat_status),
		cmocka_unit_test(test_live_tasks_fds),
		cmocka_unit_test(test_live_auxv_personality),
		cmocka_unit_test(test_live_creds),
		cmocka_unit_test(test_live_limits),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_locks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
