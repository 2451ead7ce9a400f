/*
 * fdinfo.c - parser of /proc/PID/fdinfo/N (see fdinfo.h).
 *
 * The formats come from the kernel's show_fdinfo handlers: fs/proc/fd.c
 * (pos, flags in octal, mnt_id, ino), fs/eventfd.c (count in hex), fs/
 * eventpoll.c (one "tfd:" line per watch, hex fields), fs/signalfd.c (the
 * mask as 16 hex digits), fs/timerfd.c (clockid, ticks, octal flags and two
 * "(sec, nsec)" pairs).  Numbers are parsed by hand: strtoull() would accept
 * signs, "0x" prefixes and overflow silently.
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

	if (info->nr_tfds >= FDINFO_MAX_TFDS)
		return -E2BIG;
	if ((info->nr_tfds & (info->nr_tfds - 1)) == 0) {
		size_t cap = info->nr_tfds ? (size_t)info->nr_tfds * 2 : 8;

		tfds = realloc(info->tfds, cap * sizeof(*tfds));
		if (!tfds)
			return -ENOMEM;
		info->tfds = tfds;
	}
	info->tfds[info->nr_tfds++] = t;
	return 0;
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
	} else {
		return 0; /* eventfd-id, lock:, inotify ...: not needed */
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
