/*
 * proc.c - parsers of /proc/PID/{maps,smaps,stat,status,limits} and thin readers
 * (status twice: the lines the engine needs everywhere, and the credentials).
 *
 * The parsers work on (text, len) and treat it as untrusted: every read is
 * bounded by len, every number is checked for overflow, names with NULs are
 * rejected.  They never log; a failure is -EINVAL plus proc_parse_last_error().
 * Unknown smaps keys, VmFlags and status lines are skipped so that a newer
 * kernel does not break the dump; missing lines the engine depends on are
 * errors, never silent zeroes.
 *
 * What the kernel writes, and the traps in it:
 *  - maps lines are "start-end perms pgoff maj:min ino", then padding spaces
 *    and the name (fs/proc/task_mmu.c show_map_vma).  A line without a name
 *    still ends in one space.
 *  - File names come from d_path through seq_file_path(m, file, "\n"): only
 *    '\n' is escaped, as the octal "\012".  A backslash is not escaped, so a
 *    file really named "a\012b" reads the same as "a<newline>b"; where that
 *    matters the engine asks /proc/PID/map_files.
 *  - d_path appends " (deleted)" to unlinked files.  memfd ("/memfd:x
 *    (deleted)"), SysV shm ("/SYSV00000000 (deleted)") and shared anonymous
 *    memory ("/dev/zero (deleted)") all read as deleted files; a file whose
 *    name really ends in " (deleted)" is indistinguishable.
 *  - "[anon:NAME]" and "[anon_shmem:NAME]" (PR_SET_VMA_ANON_NAME) are
 *    anonymous memory despite having a name.
 *  - Since 6.13 the vDSO data is [vvar] followed by [vvar_vclock], then [vdso].
 *  - In stat, comm (field 2) is any 15..63 bytes including ' ', '(' and ')':
 *    it ends at the last ')' of the line, never the first.
 *  - The mm fields of stat (start_code ...) are 0 unless the reader may
 *    ptrace the process.
 *  - In status, Umask is missing for a zombie and Seccomp without
 *    CONFIG_SECCOMP.
 */
#define LOG_TAG "proc"

#include "engine/proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fdinfo.h"

static _Thread_local struct proc_parse_error last_error;

const struct proc_parse_error *proc_parse_last_error(void)
{
	return &last_error;
}

/* A line of the text being parsed: [p, end) without its '\n'. */
struct cursor {
	const char *text; /* start of the whole text, for offsets */
	const char *p, *end;
	size_t line;
};

static int parse_fail(const struct cursor *c, const char *reason)
{
	last_error.line = c->line;
	last_error.offset = (size_t)(c->p - c->text);
	last_error.reason = reason;
	return -EINVAL;
}

static void parse_begin(void)
{
	last_error.line = 0;
	last_error.offset = 0;
	last_error.reason = NULL;
}

/* Moves *line to the next line of [text, text + len); false at the end. */
static bool next_line(const char *text, size_t len, size_t *pos, size_t *lineno,
		      struct cursor *line)
{
	const char *start, *nl;

	if (*pos >= len)
		return false;
	start = text + *pos;
	nl = memchr(start, '\n', len - *pos);
	line->text = text;
	line->p = start;
	line->end = nl ? nl : text + len;
	line->line = ++*lineno;
	*pos = nl ? (size_t)(nl - text) + 1 : len;
	return true;
}

static bool at_end(const struct cursor *c)
{
	return c->p >= c->end;
}

static bool eat_char(struct cursor *c, char ch)
{
	if (at_end(c) || *c->p != ch)
		return false;
	c->p++;
	return true;
}

static void skip_blanks(struct cursor *c)
{
	while (!at_end(c) && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* One or more hex digits, at most 16 of them. */
static bool parse_hex(struct cursor *c, uint64_t *ret)
{
	uint64_t v = 0;
	int digits = 0, d;

	while (!at_end(c) && (d = hex_digit(*c->p)) >= 0) {
		if (++digits > 16)
			return false;
		v = v << 4 | (uint64_t)d;
		c->p++;
	}
	*ret = v;
	return digits > 0;
}

static bool parse_dec(struct cursor *c, uint64_t *ret)
{
	uint64_t v = 0;
	int digits = 0;

	while (!at_end(c) && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		digits++;
		c->p++;
	}
	*ret = v;
	return digits > 0;
}

/* A decimal that may be negative; *ret holds it as two's complement. */
static bool parse_signed(struct cursor *c, uint64_t *ret, bool *ret_neg)
{
	bool neg = eat_char(c, '-');
	uint64_t v;

	if (!parse_dec(c, &v))
		return false;
	if (neg && v > (uint64_t)INT64_MAX + 1)
		return false;
	*ret = neg ? (uint64_t)0 - v : v;
	*ret_neg = neg;
	return true;
}

static bool fits_int(uint64_t raw, bool neg)
{
	int64_t v = (int64_t)raw;

	if (!neg && raw > (uint64_t)INT_MAX)
		return false;
	return v >= INT_MIN && v <= INT_MAX;
}

static bool parse_int(struct cursor *c, int *ret)
{
	uint64_t raw;
	bool neg;

	if (!parse_signed(c, &raw, &neg) || !fits_int(raw, neg))
		return false;
	*ret = (int)(int64_t)raw;
	return true;
}

static bool parse_u32(struct cursor *c, uint32_t *ret)
{
	uint64_t v;

	if (!parse_dec(c, &v) || v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static bool parse_pid(struct cursor *c, pid_t *ret)
{
	int v;

	if (!parse_int(c, &v))
		return false;
	*ret = v;
	return true;
}

/* ---- maps and smaps ---- */

static const char vmflag_names[32][2] = {
	"rd", "wr", "ex", "sh", "mr", "mw", "me", "ms", "gd", "pf", "lo", "io", "sr", "rr", "dc", "de",
	"ac", "nr", "ht", "dd", "mg", "hg", "nh", "wf", "dp", "ss", "um", "uw", "lf", "sd", "sl", "ui",
};

uint32_t proc_vmflag_bit(const char two[2])
{
	unsigned i;

	for (i = 0; i < 32; i++)
		if (vmflag_names[i][0] == two[0] && vmflag_names[i][1] == two[1])
			return 1u << i;
	return 0;
}

void proc_maps_free(struct proc_map *maps, size_t n)
{
	size_t i;

	if (!maps)
		return;
	for (i = 0; i < n; i++)
		free(maps[i].name);
	free(maps);
}

const struct proc_map *proc_maps_find(const struct proc_map *maps, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (maps[i].name && !strcmp(maps[i].name, name))
			return &maps[i];
	return NULL;
}

/* A VMA header starts with hex digits and a '-'; smaps keys never do. */
static bool is_map_header(const struct cursor *c)
{
	const char *p = c->p;

	while (p < c->end && hex_digit(*p) >= 0)
		p++;
	return p > c->p && p < c->end && *p == '-';
}

#define DELETED_SUFFIX " (deleted)"

/* Copies the name in [p, end), turning "\012" back into '\n'. */
static int copy_name(struct cursor *c, struct proc_map *m)
{
	const char *p = c->p, *end = c->end;
	size_t suffix = sizeof(DELETED_SUFFIX) - 1;
	char *out;
	size_t n = 0;

	if (memchr(p, '\0', (size_t)(end - p)))
		return parse_fail(c, "NUL byte in mapping name");
	if ((size_t)(end - p) >= suffix && !memcmp(end - suffix, DELETED_SUFFIX, suffix)) {
		m->is_deleted = true;
		end -= suffix;
	}
	out = malloc((size_t)(end - p) + 1);
	if (!out)
		return -ENOMEM;
	while (p < end) {
		if (end - p >= 4 && !memcmp(p, "\\012", 4)) {
			out[n++] = '\n';
			p += 4;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	m->name = out;
	return 0;
}

static int parse_map_header(struct cursor *c, struct proc_map *m)
{
	uint64_t major, minor;
	const char *perms;

	memset(m, 0, sizeof(*m));
	if (!parse_hex(c, &m->start) || !eat_char(c, '-') || !parse_hex(c, &m->end))
		return parse_fail(c, "bad address range");
	if (m->start >= m->end || ((m->start | m->end) & 0xfff))
		return parse_fail(c, "empty or unaligned address range");
	if (!eat_char(c, ' ') || c->end - c->p < 4)
		return parse_fail(c, "missing permissions");
	perms = c->p;
	if ((perms[0] != 'r' && perms[0] != '-') || (perms[1] != 'w' && perms[1] != '-') ||
	    (perms[2] != 'x' && perms[2] != '-') || (perms[3] != 's' && perms[3] != 'p'))
		return parse_fail(c, "bad permissions");
	m->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	m->is_shared = perms[3] == 's';
	c->p += 4;
	if (!eat_char(c, ' ') || !parse_hex(c, &m->pgoff))
		return parse_fail(c, "bad offset");
	if (!eat_char(c, ' ') || !parse_hex(c, &major) || !eat_char(c, ':') ||
	    !parse_hex(c, &minor) || major > UINT32_MAX || minor > UINT32_MAX)
		return parse_fail(c, "bad device");
	m->dev_major = (uint32_t)major;
	m->dev_minor = (uint32_t)minor;
	if (!eat_char(c, ' ') || !parse_dec(c, &m->ino))
		return parse_fail(c, "bad inode");
	if (!at_end(c) && *c->p != ' ')
		return parse_fail(c, "junk after inode");
	skip_blanks(c);
	return copy_name(c, m);
}

/* "Key:   123 kB" -> 123. */
static int parse_kb(struct cursor *c, uint64_t *ret)
{
	skip_blanks(c);
	if (!parse_dec(c, ret))
		return parse_fail(c, "bad size");
	skip_blanks(c);
	if (!at_end(c) && (c->end - c->p != 2 || memcmp(c->p, "kB", 2)))
		return parse_fail(c, "junk after size");
	return 0;
}

static void parse_vmflags(struct cursor *c, struct proc_map *m)
{
	for (;;) {
		const char *tok;

		skip_blanks(c);
		if (at_end(c))
			break;
		tok = c->p;
		while (!at_end(c) && *c->p != ' ' && *c->p != '\t')
			c->p++;
		/* Unknown or longer mnemonics are a newer kernel's: skip them. */
		if (c->p - tok == 2)
			m->vmflags |= proc_vmflag_bit(tok);
	}
}

static bool key_is(const char *key, size_t key_len, const char *want)
{
	return strlen(want) == key_len && !memcmp(key, want, key_len);
}

static int parse_smaps_field(struct cursor *c, struct proc_map *m, bool *has_vmflags)
{
	const char *key = c->p;
	size_t key_len;

	while (!at_end(c) && (isalnum((unsigned char)*c->p) || *c->p == '_'))
		c->p++;
	key_len = (size_t)(c->p - key);
	if (!key_len || !eat_char(c, ':'))
		return parse_fail(c, "expected a 'Key:' line");
	if (key_is(key, key_len, "VmFlags")) {
		parse_vmflags(c, m);
		*has_vmflags = true;
		return 0;
	}
	if (key_is(key, key_len, "Size"))
		return parse_kb(c, &m->size_kb);
	if (key_is(key, key_len, "Rss"))
		return parse_kb(c, &m->rss_kb);
	if (key_is(key, key_len, "Anonymous"))
		return parse_kb(c, &m->anon_kb);
	if (key_is(key, key_len, "Swap"))
		return parse_kb(c, &m->swap_kb);
	if (key_is(key, key_len, "Locked"))
		return parse_kb(c, &m->locked_kb);
	return 0;
}

static int maps_grow(struct proc_map **maps, size_t n, size_t *cap)
{
	struct proc_map *bigger;
	size_t new_cap;

	if (n < *cap)
		return 0;
	new_cap = *cap ? *cap * 2 : 64;
	bigger = reallocarray(*maps, new_cap, sizeof(**maps));
	if (!bigger)
		return -ENOMEM;
	*maps = bigger;
	*cap = new_cap;
	return 0;
}

static int parse_maps_text(const char *text, size_t len, bool smaps, struct proc_map **ret,
			   size_t *ret_n)
{
	struct proc_map *maps = NULL;
	size_t n = 0, cap = 0, pos = 0, lineno = 0;
	bool has_vmflags = true;
	struct cursor c;
	int r;

	parse_begin();
	*ret = NULL;
	*ret_n = 0;
	while (next_line(text, len, &pos, &lineno, &c)) {
		if (is_map_header(&c)) {
			if (!has_vmflags) {
				r = parse_fail(&c, "previous VMA has no VmFlags line");
				goto fail;
			}
			r = maps_grow(&maps, n, &cap);
			if (r < 0)
				goto fail;
			r = parse_map_header(&c, &maps[n]);
			if (r < 0)
				goto fail;
			maps[n].has_smaps = smaps;
			n++;
			has_vmflags = !smaps;
		} else if (smaps && n > 0) {
			r = parse_smaps_field(&c, &maps[n - 1], &has_vmflags);
			if (r < 0)
				goto fail;
		} else {
			r = parse_fail(&c, smaps && !n ? "field before the first VMA" :
							 "not a mapping line");
			goto fail;
		}
	}
	if (!has_vmflags) {
		c.p = text + len;
		r = parse_fail(&c, "last VMA has no VmFlags line");
		goto fail;
	}
	*ret = maps;
	*ret_n = n;
	return 0;
fail:
	proc_maps_free(maps, n);
	return r;
}

int proc_parse_maps(const char *text, size_t len, struct proc_map **ret, size_t *ret_n)
{
	return parse_maps_text(text, len, false, ret, ret_n);
}

int proc_parse_smaps(const char *text, size_t len, struct proc_map **ret, size_t *ret_n)
{
	return parse_maps_text(text, len, true, ret, ret_n);
}

/* ---- stat ---- */

/* Fields 3.. of stat after the comm, numbered as in proc_pid_stat(5). */
static int parse_stat_fields(struct cursor *c, struct proc_stat *st)
{
	int field;

	if (!eat_char(c, ' ') || at_end(c) || *c->p == ' ')
		return parse_fail(c, "missing state");
	st->state = *c->p++;
	for (field = 4; field <= 52; field++) {
		uint64_t v;
		bool neg;

		if (!eat_char(c, ' ') || !parse_signed(c, &v, &neg))
			return parse_fail(c, "missing or bad numeric field");
		switch (field) {
		case 4:
		case 5:
		case 6:
		case 7:
		case 8:
		case 38:
		case 52:
			if (!fits_int(v, neg))
				return parse_fail(c, "field out of range");
			break;
		case 9:
			if (neg || v > UINT32_MAX)
				return parse_fail(c, "field out of range");
			break;
		}
		switch (field) {
		case 4: st->ppid = (pid_t)(int64_t)v; break;
		case 5: st->pgrp = (pid_t)(int64_t)v; break;
		case 6: st->session = (pid_t)(int64_t)v; break;
		case 7: st->tty_nr = (int)(int64_t)v; break;
		case 8: st->tpgid = (pid_t)(int64_t)v; break;
		case 9: st->flags = (uint32_t)v; break;
		case 20: st->num_threads = (int64_t)v; break;
		case 22: st->start_time = v; break;
		case 26: st->start_code = v; break;
		case 27: st->end_code = v; break;
		case 28: st->start_stack = v; break;
		case 38: st->exit_signal = (int)(int64_t)v; break;
		case 45: st->start_data = v; break;
		case 46: st->end_data = v; break;
		case 47: st->start_brk = v; break;
		case 48: st->arg_start = v; break;
		case 49: st->arg_end = v; break;
		case 50: st->env_start = v; break;
		case 51: st->env_end = v; break;
		case 52: st->exit_code = (int)(int64_t)v; break;
		}
	}
	/* Later kernels may append fields; anything else is junk. */
	if (!at_end(c) && *c->p != ' ' && *c->p != '\n')
		return parse_fail(c, "junk after the last field");
	return 0;
}

int proc_parse_stat(const char *text, size_t len, struct proc_stat *ret)
{
	struct cursor c = { .text = text, .p = text, .end = text + len, .line = 1 };
	const char *open, *close;
	size_t comm_len;

	parse_begin();
	memset(ret, 0, sizeof(*ret));
	if (!parse_pid(&c, &ret->pid) || ret->pid <= 0)
		return parse_fail(&c, "bad pid");
	if (!eat_char(&c, ' ') || !eat_char(&c, '('))
		return parse_fail(&c, "missing '(' before comm");
	open = c.p;
	close = memrchr(open, ')', (size_t)(c.end - open));
	if (!close)
		return parse_fail(&c, "missing ')' after comm");
	comm_len = (size_t)(close - open);
	if (comm_len >= sizeof(ret->comm) || memchr(open, '\0', comm_len) ||
	    memchr(open, '\n', comm_len))
		return parse_fail(&c, "bad comm");
	memcpy(ret->comm, open, comm_len);
	ret->comm[comm_len] = '\0';
	c.p = close + 1;
	return parse_stat_fields(&c, ret);
}

/* ---- status ---- */

enum {
	SEEN_STATE = 1u << 0,
	SEEN_TGID = 1u << 1,
	SEEN_PPID = 1u << 2,
	SEEN_TRACER = 1u << 3,
	SEEN_UID = 1u << 4,
	SEEN_GID = 1u << 5,
	SEEN_NSPID = 1u << 6,
	SEEN_NSTGID = 1u << 7,
	SEEN_SIGQ = 1u << 8,
	SEEN_SIGPND = 1u << 9,
	SEEN_SHDPND = 1u << 10,
	SEEN_SIGBLK = 1u << 11,
	SEEN_SIGIGN = 1u << 12,
	SEEN_SIGCGT = 1u << 13,
	SEEN_NNP = 1u << 14,
	SEEN_THREADS = 1u << 15,
	SEEN_REQUIRED = (1u << 16) - 1,
};

static bool line_done(struct cursor *c)
{
	skip_blanks(c);
	return at_end(c);
}

/* The rest of the line is exactly want, give or take trailing blanks. */
static bool line_is(const struct cursor *c, const char *want)
{
	struct cursor rest = *c;
	size_t n = strlen(want);

	if ((size_t)(rest.end - rest.p) < n || memcmp(rest.p, want, n))
		return false;
	rest.p += n;
	return line_done(&rest);
}

static int parse_id_list(struct cursor *c, pid_t *ids, size_t *ret_n)
{
	size_t n = 0;

	for (;;) {
		skip_blanks(c);
		if (at_end(c))
			break;
		if (n == PROC_NS_LEVELS_MAX)
			return parse_fail(c, "too many namespace levels");
		if (!parse_pid(c, &ids[n]) || ids[n] < 0)
			return parse_fail(c, "bad id in list");
		n++;
	}
	if (!n)
		return parse_fail(c, "empty id list");
	*ret_n = n;
	return 0;
}

static int parse_ugids(struct cursor *c, uint32_t ids[4])
{
	int i;

	for (i = 0; i < 4; i++) {
		skip_blanks(c);
		if (!parse_u32(c, &ids[i]))
			return parse_fail(c, "expected four ids");
	}
	return line_done(c) ? 0 : parse_fail(c, "junk after ids");
}

static int parse_sigset(struct cursor *c, uint64_t *ret)
{
	skip_blanks(c);
	if (!parse_hex(c, ret) || !line_done(c))
		return parse_fail(c, "bad signal set");
	return 0;
}

static int parse_pid_line(struct cursor *c, pid_t *ret)
{
	skip_blanks(c);
	if (!parse_pid(c, ret) || *ret < 0 || !line_done(c))
		return parse_fail(c, "bad pid");
	return 0;
}

static int parse_status_line(struct cursor *c, struct proc_status *st, uint32_t *seen)
{
	const char *key = c->p, *colon;
	size_t key_len;
	uint64_t v;

	colon = memchr(c->p, ':', (size_t)(c->end - c->p));
	if (!colon || colon == key)
		return parse_fail(c, "expected a 'Key:' line");
	key_len = (size_t)(colon - key);
	c->p = colon + 1;
	skip_blanks(c);

	if (key_is(key, key_len, "Umask")) {
		const char *p = c->p;

		v = 0;
		while (!at_end(c) && *c->p >= '0' && *c->p <= '7' && c->p - p < 4)
			v = v * 8 + (uint64_t)(*c->p++ - '0');
		if (c->p == p || v > 0777 || !line_done(c))
			return parse_fail(c, "bad umask");
		st->umask = (uint32_t)v;
		st->has_umask = true;
	} else if (key_is(key, key_len, "State")) {
		if (at_end(c) || !isgraph((unsigned char)*c->p))
			return parse_fail(c, "bad state");
		st->state = *c->p;
		*seen |= SEEN_STATE;
	} else if (key_is(key, key_len, "Tgid")) {
		*seen |= SEEN_TGID;
		return parse_pid_line(c, &st->tgid);
	} else if (key_is(key, key_len, "PPid")) {
		*seen |= SEEN_PPID;
		return parse_pid_line(c, &st->ppid);
	} else if (key_is(key, key_len, "TracerPid")) {
		*seen |= SEEN_TRACER;
		return parse_pid_line(c, &st->tracer_pid);
	} else if (key_is(key, key_len, "NSpid")) {
		*seen |= SEEN_NSPID;
		return parse_id_list(c, st->nspid, &st->nspid_n);
	} else if (key_is(key, key_len, "NStgid")) {
		*seen |= SEEN_NSTGID;
		return parse_id_list(c, st->nstgid, &st->nstgid_n);
	} else if (key_is(key, key_len, "SigQ")) {
		if (!parse_dec(c, &st->sigq_queued) || !eat_char(c, '/') ||
		    !parse_dec(c, &st->sigq_limit) || !line_done(c))
			return parse_fail(c, "bad SigQ");
		*seen |= SEEN_SIGQ;
	} else if (key_is(key, key_len, "SigPnd")) {
		*seen |= SEEN_SIGPND;
		return parse_sigset(c, &st->sig_pnd);
	} else if (key_is(key, key_len, "ShdPnd")) {
		*seen |= SEEN_SHDPND;
		return parse_sigset(c, &st->shd_pnd);
	} else if (key_is(key, key_len, "SigBlk")) {
		*seen |= SEEN_SIGBLK;
		return parse_sigset(c, &st->sig_blk);
	} else if (key_is(key, key_len, "SigIgn")) {
		*seen |= SEEN_SIGIGN;
		return parse_sigset(c, &st->sig_ign);
	} else if (key_is(key, key_len, "SigCgt")) {
		*seen |= SEEN_SIGCGT;
		return parse_sigset(c, &st->sig_cgt);
	} else if (key_is(key, key_len, "Seccomp")) {
		if (!parse_int(c, &st->seccomp) || st->seccomp < 0 || st->seccomp > 2 ||
		    !line_done(c))
			return parse_fail(c, "bad Seccomp");
	} else if (key_is(key, key_len, "NoNewPrivs")) {
		if (!parse_dec(c, &v) || v > 1 || !line_done(c))
			return parse_fail(c, "bad NoNewPrivs");
		st->no_new_privs = v;
		*seen |= SEEN_NNP;
	} else if (key_is(key, key_len, "Threads")) {
		if (!parse_dec(c, &v) || v > INT64_MAX || !line_done(c))
			return parse_fail(c, "bad Threads");
		st->threads = (int64_t)v;
		*seen |= SEEN_THREADS;
	} else if (key_is(key, key_len, "Speculation_Store_Bypass")) {
		st->is_ssb_thread_mitigated = line_is(c, "thread mitigated") ||
					      line_is(c, "thread force mitigated");
	} else if (key_is(key, key_len, "SpeculationIndirectBranch")) {
		st->is_ib_thread_disabled = line_is(c, "conditional disabled") ||
					    line_is(c, "conditional force disabled");
	} else if (key_is(key, key_len, "untag_mask")) {
		if (!eat_char(c, '0') || !eat_char(c, 'x') || !parse_hex(c, &st->untag_mask) ||
		    !line_done(c))
			return parse_fail(c, "bad untag_mask");
	} else if (key_is(key, key_len, "x86_Thread_features")) {
		st->has_x86_thread_features = !line_done(c);
	} else if (key_is(key, key_len, "Uid")) {
		*seen |= SEEN_UID;
		return parse_ugids(c, st->uid);
	} else if (key_is(key, key_len, "Gid")) {
		*seen |= SEEN_GID;
		return parse_ugids(c, st->gid);
	}
	return 0;
}

int proc_parse_status(const char *text, size_t len, struct proc_status *ret)
{
	size_t pos = 0, lineno = 0;
	uint32_t seen = 0;
	struct cursor c;
	int r;

	parse_begin();
	memset(ret, 0, sizeof(*ret));
	ret->untag_mask = UINT64_MAX;
	while (next_line(text, len, &pos, &lineno, &c)) {
		r = parse_status_line(&c, ret, &seen);
		if (r < 0)
			return r;
	}
	if ((seen & SEEN_REQUIRED) != SEEN_REQUIRED) {
		c.text = text;
		c.p = text + len;
		c.line = lineno;
		return parse_fail(&c, "a required line is missing");
	}
	return 0;
}

/*
 * The credential lines of status (fs/proc/array.c task_state, task_cap,
 * task_seccomp): "Groups:" lists every supplementary group, each followed
 * by a space, and is empty ("Groups:\t\n") for none; the Cap* lines are 16
 * hex digits.
 */
enum {
	CREDS_UID = 1u << 0,
	CREDS_GID = 1u << 1,
	CREDS_GROUPS = 1u << 2,
	CREDS_CAPINH = 1u << 3,
	CREDS_CAPPRM = 1u << 4,
	CREDS_CAPEFF = 1u << 5,
	CREDS_CAPBND = 1u << 6,
	CREDS_CAPAMB = 1u << 7,
	CREDS_NNP = 1u << 8,
	CREDS_REQUIRED = (1u << 9) - 1,
};

static int parse_groups(struct cursor *c, struct proc_creds *cr)
{
	size_t cap = 0;

	for (;;) {
		uint32_t g, *grown;

		skip_blanks(c);
		if (at_end(c))
			return 0;
		if (cr->nr_groups == PROC_MAX_GROUPS)
			return parse_fail(c, "more groups than NGROUPS_MAX");
		if (!parse_u32(c, &g) || (!at_end(c) && *c->p != ' ' && *c->p != '\t'))
			return parse_fail(c, "bad group");
		if (cr->nr_groups == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(cr->groups, cap * sizeof(*grown));
			if (!grown) {
				parse_fail(c, "out of memory");
				return -ENOMEM;
			}
			cr->groups = grown;
		}
		cr->groups[cr->nr_groups++] = g;
	}
}

static int parse_creds_line(struct cursor *c, struct proc_creds *cr, uint32_t *seen)
{
	static const struct {
		const char *key;
		uint32_t bit;
		size_t off;
	} caps[] = {
		{ "CapInh", CREDS_CAPINH, offsetof(struct proc_creds, cap_inh) },
		{ "CapPrm", CREDS_CAPPRM, offsetof(struct proc_creds, cap_prm) },
		{ "CapEff", CREDS_CAPEFF, offsetof(struct proc_creds, cap_eff) },
		{ "CapBnd", CREDS_CAPBND, offsetof(struct proc_creds, cap_bnd) },
		{ "CapAmb", CREDS_CAPAMB, offsetof(struct proc_creds, cap_amb) },
	};
	const char *key = c->p, *colon;
	size_t key_len, i;
	uint64_t v;

	colon = memchr(c->p, ':', (size_t)(c->end - c->p));
	if (!colon || colon == key)
		return parse_fail(c, "expected a 'Key:' line");
	key_len = (size_t)(colon - key);
	c->p = colon + 1;
	skip_blanks(c);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (!key_is(key, key_len, caps[i].key))
			continue;
		if (!parse_hex(c, &v) || !line_done(c))
			return parse_fail(c, "bad capability set");
		memcpy((char *)cr + caps[i].off, &v, sizeof(v));
		*seen |= caps[i].bit;
		return 0;
	}
	if (key_is(key, key_len, "Uid")) {
		*seen |= CREDS_UID;
		return parse_ugids(c, cr->uid);
	} else if (key_is(key, key_len, "Gid")) {
		*seen |= CREDS_GID;
		return parse_ugids(c, cr->gid);
	} else if (key_is(key, key_len, "Groups")) {
		if (*seen & CREDS_GROUPS)
			return parse_fail(c, "Groups twice");
		*seen |= CREDS_GROUPS;
		return parse_groups(c, cr);
	} else if (key_is(key, key_len, "NoNewPrivs")) {
		if (!parse_dec(c, &v) || v > 1 || !line_done(c))
			return parse_fail(c, "bad NoNewPrivs");
		cr->no_new_privs = v;
		*seen |= CREDS_NNP;
	} else if (key_is(key, key_len, "Seccomp")) {
		if (!parse_int(c, &cr->seccomp) || cr->seccomp < 0 || cr->seccomp > 2 ||
		    !line_done(c))
			return parse_fail(c, "bad Seccomp");
	} else if (key_is(key, key_len, "Seccomp_filters")) {
		if (!parse_u32(c, &cr->seccomp_filters) || !line_done(c))
			return parse_fail(c, "bad Seccomp_filters");
	}
	return 0;
}

int proc_parse_creds(const char *text, size_t len, struct proc_creds *ret)
{
	size_t pos = 0, lineno = 0;
	uint32_t seen = 0;
	struct cursor c = { .text = text, .p = text, .end = text + len, .line = 1 };
	int r;

	parse_begin();
	memset(ret, 0, sizeof(*ret));
	while (next_line(text, len, &pos, &lineno, &c)) {
		r = parse_creds_line(&c, ret, &seen);
		if (r < 0)
			goto fail;
	}
	if ((seen & CREDS_REQUIRED) != CREDS_REQUIRED) {
		c.p = text + len;
		c.line = lineno;
		r = parse_fail(&c, "a credential line is missing");
		goto fail;
	}
	return 0;
fail:
	proc_creds_release(ret);
	return r;
}

void proc_creds_release(struct proc_creds *c)
{
	free(c->groups);
	c->groups = NULL;
	c->nr_groups = 0;
}

/*
 * /proc/PID/limits (fs/proc/base.c proc_pid_limits): a header, then one line
 * per RLIMIT_* in the kernel's order, "%-25s %-20s %-20s %-10s": the name
 * (with spaces in it), the soft and the hard limit ("unlimited" or a
 * decimal), the unit (none for nice and rtprio).  Anyone may read it, unlike
 * prlimit(2) on a process of another uid, which needs CAP_SYS_RESOURCE.
 */
static const char *const limit_names[PROC_NR_RLIMITS] = {
	"Max cpu time",	     "Max file size",	    "Max data size",	 "Max stack size",
	"Max core file size", "Max resident set",    "Max processes",	 "Max open files",
	"Max locked memory",  "Max address space",   "Max file locks",	 "Max pending signals",
	"Max msgqueue size",  "Max nice priority",   "Max realtime priority",
	"Max realtime timeout",
};

static bool parse_limit(struct cursor *c, uint64_t *ret)
{
	static const char unlimited[] = "unlimited";
	size_t n = sizeof(unlimited) - 1;

	skip_blanks(c);
	if ((size_t)(c->end - c->p) >= n && !memcmp(c->p, unlimited, n)) {
		c->p += n;
		*ret = UINT64_MAX; /* RLIM_INFINITY */
	} else if (!parse_dec(c, ret)) {
		return false;
	}
	return at_end(c) || *c->p == ' ';
}

int proc_parse_limits(const char *text, size_t len, struct proc_rlimit ret[PROC_NR_RLIMITS])
{
	size_t pos = 0, lineno = 0, i = 0;
	struct cursor c = { .text = text, .p = text, .end = text + len, .line = 1 };

	parse_begin();
	memset(ret, 0, PROC_NR_RLIMITS * sizeof(*ret));
	if (!next_line(text, len, &pos, &lineno, &c) || (size_t)(c.end - c.p) < 6 ||
	    memcmp(c.p, "Limit ", 6))
		return parse_fail(&c, "expected the header line");
	while (next_line(text, len, &pos, &lineno, &c)) {
		size_t n;

		if (i == PROC_NR_RLIMITS) {
			/* a newer kernel's limit: none of ours, and nothing to restore */
			continue;
		}
		n = strlen(limit_names[i]);
		if ((size_t)(c.end - c.p) <= n || memcmp(c.p, limit_names[i], n) || c.p[n] != ' ')
			return parse_fail(&c, "expected the next limit's name");
		c.p += n;
		if (!parse_limit(&c, &ret[i].cur) || !parse_limit(&c, &ret[i].max))
			return parse_fail(&c, "bad limit");
		if (ret[i].cur > ret[i].max)
			return parse_fail(&c, "soft limit above the hard limit");
		i++;
	}
	if (i < PROC_NR_RLIMITS) {
		c.p = text + len;
		c.line = lineno;
		return parse_fail(&c, "a limit is missing");
	}
	return 0;
}

/* ---- timers ---- */

/* "ID: 3" style: the key and the blank after it; false if the line is another key's. */
static bool eat_key(struct cursor *c, const char *key)
{
	size_t n = strlen(key);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, key, n))
		return false;
	c->p += n;
	skip_blanks(c);
	return true;
}

static int parse_notify(struct cursor *c, struct proc_timer *t)
{
	static const char *const words[] = { "signal/", "none/", "thread/" };
	int i;

	for (i = 0; i < 3 && !eat_key(c, words[i]); i++)
		;
	if (i == 3)
		return parse_fail(c, "unknown notify mode");
	t->notify = i;
	if (eat_key(c, "tid."))
		t->notify |= PROC_TIMER_NOTIFY_TID;
	else if (!eat_key(c, "pid."))
		return parse_fail(c, "expected pid. or tid.");
	if (!parse_pid(c, &t->target) || t->target < 0 || !line_done(c))
		return parse_fail(c, "bad notify target");
	return 0;
}

enum { TIMER_SEEN_ALL = 7 };

/* One line of a timer's record; *seen gets a bit per known key. */
static int parse_timer_line(struct cursor *c, struct proc_timer *t, uint32_t *seen)
{
	if (eat_key(c, "signal:")) {
		if (!parse_int(c, &t->signo) || !eat_char(c, '/') || !parse_hex(c, &t->sigval) ||
		    !line_done(c))
			return parse_fail(c, "bad signal line");
		*seen |= 1;
		return 0;
	}
	if (eat_key(c, "notify:")) {
		*seen |= 2;
		return parse_notify(c, t);
	}
	if (eat_key(c, "ClockID:")) {
		if (!parse_int(c, &t->clockid) || !line_done(c))
			return parse_fail(c, "bad clock id");
		*seen |= 4;
		return 0;
	}
	return 0; /* a newer kernel's line */
}

int proc_parse_timers(const char *text, size_t len, struct proc_timer **ret, size_t *ret_n)
{
	struct cursor c = { .text = text, .p = text, .end = text, .line = 0 };
	struct proc_timer *all = NULL, *grown;
	size_t pos = 0, lineno = 0, n = 0, cap = 0, i;
	uint32_t seen = TIMER_SEEN_ALL;
	int r = 0;

	parse_begin();
	*ret = NULL;
	*ret_n = 0;
	while (next_line(text, len, &pos, &lineno, &c)) {
		if (!eat_key(&c, "ID:")) {
			if (!n) {
				r = parse_fail(&c, "expected ID: first");
				goto fail;
			}
			r = parse_timer_line(&c, &all[n - 1], &seen);
			if (r)
				goto fail;
			continue;
		}
		if (seen != TIMER_SEEN_ALL) {
			r = parse_fail(&c, "the timer before lacks a line");
			goto fail;
		}
		if (n == PROC_TIMERS_MAX) {
			r = parse_fail(&c, "too many timers");
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			grown = realloc(all, cap * sizeof(*all));
			if (!grown) {
				r = -ENOMEM;
				goto fail;
			}
			all = grown;
		}
		memset(&all[n], 0, sizeof(all[n]));
		if (!parse_int(&c, &all[n].id) || all[n].id < 0 || !line_done(&c)) {
			r = parse_fail(&c, "bad timer id");
			goto fail;
		}
		for (i = 0; i < n; i++)
			if (all[i].id == all[n].id) {
				r = parse_fail(&c, "a timer id twice");
				goto fail;
			}
		n++;
		seen = 0;
	}
	if (seen != TIMER_SEEN_ALL) {
		c.p = text + len;
		r = parse_fail(&c, "the last timer lacks a line");
		goto fail;
	}
	*ret = all;
	*ret_n = n;
	return 0;
fail:
	free(all);
	return r;
}

/* ---- readers ---- */

int proc_read_file(const char *path, char **ret, size_t *ret_len)
{
	size_t cap = 16384, len = 0;
	char *buf, *bigger;
	int fd, r;

	*ret = NULL;
	*ret_len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			/* Room for PROC_FILE_MAX bytes and the NUL, never more. */
			size_t new_cap = cap * 2 < PROC_FILE_MAX + 1 ? cap * 2 : PROC_FILE_MAX + 1;

			if (new_cap == cap) {
				r = -EFBIG;
				goto out_free;
			}
			bigger = realloc(buf, new_cap);
			if (!bigger) {
				r = -ENOMEM;
				goto out_free;
			}
			buf = bigger;
			cap = new_cap;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	close(fd);
	return 0;
out_free:
	free(buf);
out_close:
	close(fd);
	return r;
}

static void task_path(char *path, size_t size, pid_t pid, pid_t tid, const char *file)
{
	if (tid)
		snprintf(path, size, "/proc/%d/task/%d/%s", (int)pid, (int)tid, file);
	else
		snprintf(path, size, "/proc/%d/%s", (int)pid, file);
}

/*
 * A task that is gone (ENOENT, or ESRCH from some files) is a race the caller
 * expects while threads exit under it: say it only at debug level.
 */
static int report_open_error(const char *path, int err)
{
	if (err == ENOENT || err == ESRCH)
		log_debug("cannot open %s: %s", path, strerror(err));
	else
		log_error("cannot open %s: %s", path, strerror(err));
	return -err;
}

static int read_logged(const char *path, char **buf, size_t *len)
{
	int r = proc_read_file(path, buf, len);

	if (r == -ENOENT || r == -ESRCH)
		log_debug("cannot read %s: %s", path, strerror(-r));
	else if (r < 0)
		log_error("cannot read %s: %s", path, strerror(-r));
	return r;
}

static void log_parse_error(const char *path)
{
	const struct proc_parse_error *e = proc_parse_last_error();

	log_error("%s line %zu (offset %zu): %s", path, e->line, e->offset,
		  e->reason ? e->reason : "malformed");
}

static int read_maps_file(pid_t pid, bool smaps, struct proc_map **ret, size_t *ret_n)
{
	char path[64], *buf;
	size_t len;
	int r;

	*ret = NULL;
	*ret_n = 0;
	task_path(path, sizeof(path), pid, 0, smaps ? "smaps" : "maps");
	r = read_logged(path, &buf, &len);
	if (r < 0)
		return r;
	r = parse_maps_text(buf, len, smaps, ret, ret_n);
	if (r == -EINVAL)
		log_parse_error(path);
	else if (r < 0)
		log_error("%s: %s", path, strerror(-r));
	free(buf);
	return r;
}

int proc_read_maps(pid_t pid, struct proc_map **ret, size_t *ret_n)
{
	return read_maps_file(pid, false, ret, ret_n);
}

int proc_read_smaps(pid_t pid, struct proc_map **ret, size_t *ret_n)
{
	return read_maps_file(pid, true, ret, ret_n);
}

int proc_read_stat(pid_t pid, pid_t tid, struct proc_stat *ret)
{
	char path[64], *buf;
	size_t len;
	int r;

	task_path(path, sizeof(path), pid, tid, "stat");
	r = read_logged(path, &buf, &len);
	if (r < 0)
		return r;
	r = proc_parse_stat(buf, len, ret);
	if (r < 0)
		log_parse_error(path);
	free(buf);
	return r;
}

int proc_read_status(pid_t pid, pid_t tid, struct proc_status *ret)
{
	char path[64], *buf;
	size_t len;
	int r;

	task_path(path, sizeof(path), pid, tid, "status");
	r = read_logged(path, &buf, &len);
	if (r < 0)
		return r;
	r = proc_parse_status(buf, len, ret);
	if (r < 0)
		log_parse_error(path);
	free(buf);
	return r;
}

int proc_read_creds(pid_t pid, pid_t tid, struct proc_creds *ret)
{
	char path[64], *buf;
	size_t len;
	int r;

	memset(ret, 0, sizeof(*ret));
	task_path(path, sizeof(path), pid, tid, "status");
	r = read_logged(path, &buf, &len);
	if (r < 0)
		return r;
	r = proc_parse_creds(buf, len, ret);
	if (r < 0)
		log_parse_error(path);
	free(buf);
	return r;
}

int proc_read_limits(pid_t pid, struct proc_rlimit ret[PROC_NR_RLIMITS])
{
	char path[64], *buf;
	size_t len;
	int r;

	task_path(path, sizeof(path), pid, 0, "limits");
	r = read_logged(path, &buf, &len);
	if (r < 0)
		return r;
	r = proc_parse_limits(buf, len, ret);
	if (r < 0)
		log_parse_error(path);
	free(buf);
	return r;
}

int proc_read_timers(pid_t pid, struct proc_timer **ret, size_t *ret_n)
{
	char path[64], *buf;
	size_t len;
	int r;

	task_path(path, sizeof(path), pid, 0, "timers");
	r = read_logged(path, &buf, &len);
	if (r < 0)
		return r;
	r = proc_parse_timers(buf, len, ret, ret_n);
	if (r < 0)
		log_parse_error(path);
	free(buf);
	return r;
}

int proc_read_auxv(pid_t pid, void *buf, size_t cap, size_t *ret_len)
{
	char path[64], extra;
	uint64_t last_type;
	size_t len = 0;
	int fd, r = 0;

	*ret_len = 0;
	task_path(path, sizeof(path), pid, 0, "auxv");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return report_open_error(path, errno);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			/* Full: one more byte means it did not fit. */
			n = read(fd, &extra, 1);
			if (n > 0) {
				log_error("%s: longer than %zu bytes", path, cap);
				r = -ENOBUFS;
			} else if (n < 0) {
				r = log_errno("cannot read %s", path);
			}
			break;
		}
		n = read(fd, (char *)buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = log_errno("cannot read %s", path);
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r < 0)
		return r;
	if (len < 16 || len % 16) {
		log_error("%s: %zu bytes is not a whole number of pairs", path, len);
		return -EINVAL;
	}
	memcpy(&last_type, (char *)buf + len - 16, sizeof(last_type));
	if (last_type != 0) {
		log_error("%s: does not end with AT_NULL", path);
		return -EINVAL;
	}
	*ret_len = len;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Numeric entries of a /proc directory, ascending. */
static int list_numeric_dir(const char *path, int **ret, size_t *ret_n)
{
	size_t n = 0, cap = 0;
	int *ids = NULL, *bigger, r = 0;
	struct dirent *de;
	DIR *dir;

	*ret = NULL;
	*ret_n = 0;
	dir = opendir(path);
	if (!dir)
		return report_open_error(path, errno);
	for (;;) {
		char *endp;
		long v;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			if (errno)
				r = log_errno("cannot read %s", path);
			break;
		}
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		errno = 0;
		v = strtol(de->d_name, &endp, 10);
		if (errno || *endp || v < 0 || v > INT_MAX)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = reallocarray(ids, cap, sizeof(*ids));
			if (!bigger) {
				r = -ENOMEM;
				break;
			}
			ids = bigger;
		}
		ids[n++] = (int)v;
	}
	closedir(dir);
	if (r < 0) {
		free(ids);
		return r;
	}
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_int);
	*ret = ids;
	*ret_n = n;
	return 0;
}

int proc_list_tasks(pid_t pid, pid_t **ret_tids, size_t *ret_n)
{
	char path[64];
	size_t i, n;
	int *ids, r;

	*ret_tids = NULL;
	*ret_n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	r = list_numeric_dir(path, &ids, &n);
	if (r < 0)
		return r;
	/* TIDs wrap around, so the leader need not be the smallest. */
	for (i = 0; i < n; i++) {
		if (ids[i] == pid) {
			memmove(ids + 1, ids, i * sizeof(*ids));
			ids[0] = pid;
			break;
		}
	}
	*ret_tids = (pid_t *)ids;
	*ret_n = n;
	return 0;
}

int proc_list_children(pid_t pid, pid_t **ret, size_t *ret_n)
{
	pid_t *tids = NULL, *kids = NULL;
	size_t nr_tids = 0, n = 0, i;
	int r;

	*ret = NULL;
	*ret_n = 0;
	r = proc_list_tasks(pid, &tids, &nr_tids);
	if (r < 0)
		return r;
	for (i = 0; i < nr_tids && r == 0; i++) {
		char path[64], *text = NULL, *p, *end;
		size_t len;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tids[i]);
		if (proc_read_file(path, &text, &len) < 0)
			continue; /* the thread ended */
		for (p = text; r == 0;) {
			long v = strtol(p, &end, 10);
			pid_t *grown;

			if (end == p)
				break;
			p = end;
			if (v <= 0 || v > INT32_MAX)
				continue;
			grown = realloc(kids, (n + 1) * sizeof(*kids));
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			kids = grown;
			kids[n++] = (pid_t)v;
		}
		free(text);
	}
	free(tids);
	if (r < 0) {
		free(kids);
		return r;
	}
	*ret = kids;
	*ret_n = n;
	return 0;
}

bool proc_same_ns(pid_t a, pid_t b, const char *ns)
{
	char pa[64], pb[64];
	struct stat sa, sb;

	snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", (int)a, ns);
	snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", (int)b, ns);
	if (stat(pa, &sa) || stat(pb, &sb))
		return true; /* nothing to tell them apart by: take them as one */
	return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

int proc_list_fds(pid_t pid, int **ret, size_t *ret_n)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	return list_numeric_dir(path, ret, ret_n);
}

int proc_parse_locks(const char *text, size_t len, struct fdinfo_lock **ret, size_t *ret_n)
{
	struct fdinfo_lock *locks = NULL, *grown;
	size_t pos = 0, lineno = 0, n = 0, cap = 0;
	struct cursor c;

	parse_begin();
	*ret = NULL;
	*ret_n = 0;
	while (next_line(text, len, &pos, &lineno, &c)) {
		if (at_end(&c))
			continue;
		if (n == PROC_MAX_LOCKS) {
			free(locks);
			return parse_fail(&c, "too many locks");
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = reallocarray(locks, cap, sizeof(*locks));
			if (!grown) {
				free(locks);
				return -ENOMEM;
			}
			locks = grown;
		}
		if (fdinfo_parse_lock(c.p, c.end, &locks[n])) {
			free(locks);
			return parse_fail(&c, "not a lock");
		}
		n++;
	}
	*ret = locks;
	*ret_n = n;
	return 0;
}

int proc_read_locks(struct fdinfo_lock **ret, size_t *ret_n)
{
	char *buf;
	size_t len;
	int r;

	r = read_logged("/proc/locks", &buf, &len);
	if (r < 0)
		return r;
	r = proc_parse_locks(buf, len, ret, ret_n);
	if (r == -EINVAL)
		log_parse_error("/proc/locks");
	free(buf);
	return r;
}

int proc_read_personality(pid_t pid, uint32_t *ret)
{
	char path[64], *buf;
	struct cursor c;
	uint64_t v;
	size_t len;
	int r;

	task_path(path, sizeof(path), pid, 0, "personality");
	r = read_logged(path, &buf, &len);
	if (r < 0)
		return r;
	c = (struct cursor){ .text = buf, .p = buf, .end = buf + len, .line = 1 };
	if (!parse_hex(&c, &v) || v > UINT32_MAX || !(at_end(&c) || *c.p == '\n')) {
		log_error("%s: not a hex number", path);
		r = -EINVAL;
	} else {
		*ret = (uint32_t)v;
	}
	free(buf);
	return r;
}
