/*
 * fdinfo.c - parser of /proc/PID/fdinfo/N (see fdinfo.h).
 *
 * The formats come from the kernel's show_fdinfo handlers: fs/proc/fd.c
 * (pos, flags in octal, mnt_id, ino), fs/eventfd.c (count in hex), fs/
 * eventpoll.c (one "tfd:" line per watch, hex fields), fs/signalfd.c (the
 * mask as 16 hex digits), fs/timerfd.c (clockid, ticks, octal flags and two
 * "(sec, nsec)" pairs), fs/locks.c (one "lock:" line per lock taken through
 * the file, in the format of /proc/locks).  Numbers are parsed by hand:
 * strtoull() would accept signs, "0x" prefixes and overflow silently.
 */
#include "engine/fdinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void skip_blanks(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* Leading blanks, then at least one digit of base; no sign, no prefix, no overflow past max. */
static int parse_u64(const char **p, const char *end, unsigned int base, uint64_t max,
		     uint64_t *ret)
{
	const char *s;
	uint64_t v = 0;
	int d;

	skip_blanks(p, end);
	s = *p;
	while (*p < end && (d = digit_value(**p)) < (int)base) {
		if ((uint64_t)d > max || v > (max - (uint64_t)d) / base)
			return -EINVAL;
		v = v * base + (uint64_t)d;
		(*p)++;
	}
	if (*p == s)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Signed decimal for pos (loff_t) and tfd numbers, bounded to [min, max]. */
static int parse_s64(const char **p, const char *end, int64_t min, int64_t max, int64_t *ret)
{
	bool neg = false;
	uint64_t v;

	skip_blanks(p, end);
	if (*p < end && **p == '-') {
		neg = true;
		(*p)++;
	}
	if (parse_u64(p, end, 10, neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max, &v))
		return -EINVAL;
	if (neg) {
		*ret = v ? -(int64_t)(v - 1) - 1 : 0;
		if (*ret < min)
			return -EINVAL;
	} else {
		*ret = (int64_t)v;
	}
	return 0;
}

/* The rest of the line must be blank. */
static int expect_eol(const char *p, const char *end)
{
	skip_blanks(&p, end);
	return p == end ? 0 : -EINVAL;
}

static int expect_word(const char **p, const char *end, const char *word)
{
	size_t n = strlen(word);

	skip_blanks(p, end);
	if ((size_t)(end - *p) < n || memcmp(*p, word, n))
		return -EINVAL;
	*p += n;
	return 0;
}

/* "(sec, nsec)" */
static int parse_pair(const char *p, const char *end, uint64_t *sec, uint64_t *nsec)
{
	if (expect_word(&p, end, "(") || parse_u64(&p, end, 10, UINT64_MAX, sec) ||
	    expect_word(&p, end, ",") || parse_u64(&p, end, 10, 999999999, nsec) ||
	    expect_word(&p, end, ")"))
		return -EINVAL;
	return expect_eol(p, end);
}

/*
 * Room for element nr of array (nr used, capacity the next power of two, at
 * most max): the array, perhaps moved, or NULL (full or out of memory).
 */
static void *grow(void *array, uint32_t nr, uint32_t max, size_t elem_size)
{
	if (nr >= max)
		return NULL;
	if (nr & (nr - 1))
		return array; /* not a power of two: room left */
	return realloc(array, (nr ? (size_t)nr * 2 : 4) * elem_size);
}

static int parse_tfd(const char *p, const char *end, struct fdinfo *info)
{
	struct fdinfo_tfd t = { 0 }, *tfds;
	uint64_t v;
	int64_t s;

	if (parse_s64(&p, end, 0, INT32_MAX, &s))
		return -EINVAL;
	t.tfd = (int32_t)s;
	if (expect_word(&p, end, "events:") || parse_u64(&p, end, 16, UINT32_MAX, &v))
		return -EINVAL;
	t.events = (uint32_t)v;
	if (expect_word(&p, end, "data:") || parse_u64(&p, end, 16, UINT64_MAX, &t.data))
		return -EINVAL;
	if (expect_word(&p, end, "pos:") || parse_s64(&p, end, 0, INT64_MAX, &s))
		return -EINVAL;
	t.pos = (uint64_t)s;
	if (expect_word(&p, end, "ino:") || parse_u64(&p, end, 16, UINT64_MAX, &t.ino))
		return -EINVAL;
	if (expect_word(&p, end, "sdev:") || parse_u64(&p, end, 16, UINT32_MAX, &v))
		return -EINVAL;
	t.sdev = (uint32_t)v;
	/* later kernels may append fields: ignore the rest of the line */

	tfds = grow(info->tfds, info->nr_tfds, FDINFO_MAX_TFDS, sizeof(*tfds));
	if (!tfds)
		return info->nr_tfds >= FDINFO_MAX_TFDS ? -E2BIG : -ENOMEM;
	info->tfds = tfds;
	info->tfds[info->nr_tfds++] = t;
	return 0;
}

/* The next blank-separated word: *ret and *ret_len (0 at the end of the line). */
static void next_word(const char **p, const char *end, const char **ret, size_t *ret_len)
{
	skip_blanks(p, end);
	*ret = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*ret_len = (size_t)(*p - *ret);
}

/* Index of word in names[], or nr when it is none of them. */
static uint32_t word_index(const char *w, size_t len, const char *const *names, uint32_t nr)
{
	uint32_t i;

	for (i = 0; i < nr; i++)
		if (strlen(names[i]) == len && !memcmp(w, names[i], len))
			return i;
	return nr;
}

int fdinfo_parse_lock(const char *p, const char *end, struct fdinfo_lock *ret)
{
	/* in enum fdinfo_lock_kind order */
	static const char *const kinds[] = { "POSIX", "OFDLCK", "FLOCK", "LEASE", "DELEG",
					     "ACCESS", "UNKNOWN" };
	/* in enum fdinfo_lock_mode order */
	static const char *const modes[] = { "ADVISORY", "MANDATORY", "*NOINODE*", "ACTIVE",
					     "BREAKING", "BREAKER", "UNKNOWN" };
	static const char *const types[] = { "READ", "WRITE", "UNLCK" };
	static const int32_t type_values[] = { F_RDLCK, F_WRLCK, F_UNLCK };
	struct fdinfo_lock l = { 0 };
	const char *w;
	size_t wlen;
	uint64_t v;
	int64_t s;
	uint32_t i;

	/* "N:" */
	if (parse_u64(&p, end, 10, INT64_MAX, &v) || p == end || *p++ != ':')
		return -EINVAL;
	next_word(&p, end, &w, &wlen);
	if (wlen == 2 && !memcmp(w, "->", 2)) {
		l.is_waiter = true;
		next_word(&p, end, &w, &wlen);
	}
	l.kind = word_index(w, wlen, kinds, FDINFO_LOCK_UNKNOWN + 1);
	if (l.kind > FDINFO_LOCK_UNKNOWN)
		return -EINVAL;
	next_word(&p, end, &w, &wlen);
	l.mode = word_index(w, wlen, modes, FDINFO_LOCK_MODE_UNKNOWN + 1);
	if (l.mode > FDINFO_LOCK_MODE_UNKNOWN)
		return -EINVAL;
	next_word(&p, end, &w, &wlen);
	i = word_index(w, wlen, types, 3);
	if (i == 3)
		return -EINVAL;
	l.type = type_values[i];
	if (parse_s64(&p, end, -1, INT32_MAX, &s))
		return -EINVAL;
	l.pid = (int32_t)s;
	skip_blanks(&p, end);
	if (end - p >= 6 && !memcmp(p, "<none>", 6)) {
		p += 6;
		if (expect_word(&p, end, ":") || parse_u64(&p, end, 10, 0, &v))
			return -EINVAL;
	} else {
		if (parse_u64(&p, end, 16, UINT32_MAX, &v) || p == end || *p++ != ':')
			return -EINVAL;
		l.dev_major = (uint32_t)v;
		/* the blanks the parsers skip may not sit inside "maj:min:ino" */
		if (p == end || *p == ' ' || *p == '\t' || parse_u64(&p, end, 16, UINT32_MAX, &v) ||
		    p == end || *p++ != ':' || p == end || *p == ' ' || *p == '\t')
			return -EINVAL;
		l.dev_minor = (uint32_t)v;
		if (parse_u64(&p, end, 10, UINT64_MAX, &l.ino))
			return -EINVAL;
	}
	if (parse_u64(&p, end, 10, INT64_MAX, &l.start))
		return -EINVAL;
	next_word(&p, end, &w, &wlen);
	if (wlen == 3 && !memcmp(w, "EOF", 3)) {
		l.end = FDINFO_LOCK_EOF;
	} else {
		const char *q = w;

		if (parse_u64(&q, w + wlen, 10, INT64_MAX, &l.end) || q != w + wlen ||
		    l.end < l.start)
			return -EINVAL;
	}
	if (expect_eol(p, end))
		return -EINVAL;
	*ret = l;
	return 0;
}

static int add_lock(const char *p, const char *end, struct fdinfo *info)
{
	struct fdinfo_lock l, *locks;

	if (fdinfo_parse_lock(p, end, &l))
		return -EINVAL;
	locks = grow(info->locks, info->nr_locks, FDINFO_MAX_LOCKS, sizeof(*locks));
	if (!locks)
		return info->nr_locks >= FDINFO_MAX_LOCKS ? -E2BIG : -ENOMEM;
	info->locks = locks;
	info->locks[info->nr_locks++] = l;
	return 0;
}

/* "wd:1 ino:3c51a sdev:fe00000 mask:fff ignored_mask:0 [fhandle-bytes:8 fhandle-type:1 f_handle:1ac5...]" */
static int parse_inotify(const char *p, const char *end, struct fdinfo *info)
{
	struct fdinfo_inotify w = { 0 }, *arr;
	uint64_t v;
	int64_t s;
	uint32_t i;

	if (parse_s64(&p, end, 1, INT32_MAX, &s) || s < 1)
		return -EINVAL;
	w.wd = (int32_t)s;
	if (expect_word(&p, end, "ino:") || parse_u64(&p, end, 16, UINT64_MAX, &w.ino) ||
	    expect_word(&p, end, "sdev:") || parse_u64(&p, end, 16, UINT32_MAX, &v))
		return -EINVAL;
	w.sdev = (uint32_t)v;
	if (expect_word(&p, end, "mask:") || parse_u64(&p, end, 16, UINT32_MAX, &v))
		return -EINVAL;
	w.mask = (uint32_t)v;
	if (expect_word(&p, end, "ignored_mask:") || parse_u64(&p, end, 16, UINT32_MAX, &v))
		return -EINVAL;
	w.ignored_mask = (uint32_t)v;
	skip_blanks(&p, end);
	if (p < end) {
		if (expect_word(&p, end, "fhandle-bytes:") ||
		    parse_u64(&p, end, 16, FDINFO_MAX_HANDLE, &v) || !v)
			return -EINVAL;
		w.handle_bytes = (uint32_t)v;
		if (expect_word(&p, end, "fhandle-type:") ||
		    parse_s64(&p, end, INT32_MIN, INT32_MAX, &s) || expect_word(&p, end, "f_handle:"))
			return -EINVAL;
		w.handle_type = (int32_t)s;
		for (i = 0; i < w.handle_bytes; i++) {
			int hi, lo;

			if (end - p < 2 || (hi = digit_value(p[0])) > 15 || (lo = digit_value(p[1])) > 15)
				return -EINVAL;
			w.handle[i] = (uint8_t)(hi << 4 | lo);
			p += 2;
		}
	}
	arr = grow(info->inotify, info->nr_inotify, FDINFO_MAX_TFDS, sizeof(*arr));
	if (!arr)
		return info->nr_inotify >= FDINFO_MAX_TFDS ? -E2BIG : -ENOMEM;
	info->inotify = arr;
	info->inotify[info->nr_inotify++] = w;
	return expect_eol(p, end);
}

static int parse_line(const char *key, size_t klen, const char *p, const char *end,
		      struct fdinfo *info)
{
	uint64_t v;
	int64_t s;

#define KEY(k) (klen == sizeof(k) - 1 && !memcmp(key, k, klen))
	if (KEY("pos")) {
		if (parse_s64(&p, end, 0, INT64_MAX, &s))
			return -EINVAL;
		info->pos = (uint64_t)s;
	} else if (KEY("flags")) {
		if (parse_u64(&p, end, 8, UINT32_MAX, &v))
			return -EINVAL;
		info->flags = (uint32_t)v;
	} else if (KEY("mnt_id")) {
		if (parse_s64(&p, end, INT32_MIN, INT32_MAX, &s))
			return -EINVAL;
		info->mnt_id = (int32_t)s;
	} else if (KEY("ino")) {
		if (parse_u64(&p, end, 10, UINT64_MAX, &info->ino))
			return -EINVAL;
	} else if (KEY("eventfd-count")) {
		if (parse_u64(&p, end, 16, UINT64_MAX, &info->eventfd_count))
			return -EINVAL;
		info->has_eventfd = true;
	} else if (KEY("eventfd-semaphore")) {
		if (parse_u64(&p, end, 10, 1, &v))
			return -EINVAL;
		info->eventfd_semaphore = v;
	} else if (KEY("sigmask")) {
		if (parse_u64(&p, end, 16, UINT64_MAX, &info->sigmask))
			return -EINVAL;
		info->has_sigmask = true;
	} else if (KEY("clockid")) {
		if (parse_s64(&p, end, 0, INT32_MAX, &s))
			return -EINVAL;
		info->clockid = (int32_t)s;
		info->has_timerfd = true;
	} else if (KEY("ticks")) {
		if (parse_u64(&p, end, 10, UINT64_MAX, &info->ticks))
			return -EINVAL;
	} else if (KEY("settime flags")) {
		if (parse_u64(&p, end, 8, UINT32_MAX, &v))
			return -EINVAL;
		info->settime_flags = (uint32_t)v;
	} else if (KEY("it_value")) {
		return parse_pair(p, end, &info->it_value_sec, &info->it_value_nsec);
	} else if (KEY("it_interval")) {
		return parse_pair(p, end, &info->it_interval_sec, &info->it_interval_nsec);
	} else if (KEY("tfd")) {
		return parse_tfd(p, end, info);
	} else if (KEY("Pid")) {
		if (parse_s64(&p, end, -1, INT32_MAX, &s) || s == 0)
			return -EINVAL;
		info->pid = (int32_t)s;
		info->has_pid = true;
	} else if (KEY("NSpid")) {
		/* one pid per namespace level, outermost first; at most 32 levels */
		for (info->nspid_depth = 0; info->nspid_depth < 33; info->nspid_depth++) {
			skip_blanks(&p, end);
			if (p == end)
				break;
			if (parse_s64(&p, end, 1, INT32_MAX, &s) || s < 1)
				return -EINVAL;
			info->nspid_inner = (int32_t)s;
		}
		if (!info->nspid_depth || info->nspid_depth > 32)
			return -EINVAL;
	} else if (KEY("inotify wd")) {
		return parse_inotify(p, end, info);
	} else if (KEY("lock")) {
		return add_lock(p, end, info);
	} else {
		return 0; /* eventfd-id, inotify ...: not needed */
	}
#undef KEY
	return expect_eol(p, end);
}

int fdinfo_parse(const char *buf, size_t len, struct fdinfo *info, size_t *err_off)
{
	const char *line = buf, *end = buf + len;
	int ret;

	memset(info, 0, sizeof(*info));
	*err_off = 0;
	if (len > FDINFO_MAX_BYTES)
		return -E2BIG;
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *colon;

		if (!eol)
			eol = end;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon) {
			/* only an empty line may lack a key */
			if (eol != line) {
				ret = -EINVAL;
				goto fail;
			}
		} else {
			ret = parse_line(line, (size_t)(colon - line), colon + 1, eol, info);
			if (ret)
				goto fail;
		}
		line = eol + 1;
	}
	return 0;
fail:
	*err_off = (size_t)(line - buf);
	fdinfo_release(info);
	return ret;
}

void fdinfo_release(struct fdinfo *info)
{
	free(info->tfds);
	info->tfds = NULL;
	info->nr_tfds = 0;
	free(info->inotify);
	info->inotify = NULL;
	info->nr_inotify = 0;
	free(info->locks);
	info->locks = NULL;
	info->nr_locks = 0;
}

int fdinfo_read(int pid, int fd, char **ret_buf, size_t *ret_len)
{
	char path[64];
	size_t len = 0, cap = 4096;
	char *buf, *nbuf;
	int dfd, ret;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	dfd = open(path, O_RDONLY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= FDINFO_MAX_BYTES) {
				ret = -E2BIG;
				goto fail;
			}
			cap *= 2;
			nbuf = realloc(buf, cap + 1);
			if (!nbuf) {
				ret = -ENOMEM;
				goto fail;
			}
			buf = nbuf;
		}
		n = read(dfd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	ret = 0;
	goto out;
fail:
	free(buf);
out:
	close(dfd);
	return ret;
}
