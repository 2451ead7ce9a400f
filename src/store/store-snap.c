/*
 * store-snap.c - snapshots through the store for the engine (store-snap.h).
 *
 * Restore speed is the point here.  store_get_dir() rebuilds a directory one
 * batch at a time on one thread and fsyncs it; a restore needs none of that
 * durability and all the cores.  So the snapshot is rebuilt on tmpfs: each
 * file is created at its full size (zero chunks stay holes, costing nothing)
 * and runs of non-zero chunks are handed to worker threads, each with a
 * store handle of its own (a store is single-threaded; the disk tier is safe
 * for several handles as it is for several processes, and each HTTP handle
 * runs its own concurrent requests).  store_read_file() decodes and verifies
 * a run into the thread's staging buffer, which stays in the cache, and one
 * pwrite puts it into the file.  The engine then restores from that
 * directory as from any other, and the caller removes it once the program
 * runs again.
 */
#define LOG_TAG "store"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/rmtree.h"
#include "store/store-internal.h"
#include "store/store-snap.h"

#define JOB_MAX_CHUNKS 64 /* store_read_file's batch: one HTTP round of requests */
#define JOB_MAX_BYTES_DISK (1u << 20) /* the staging buffer stays in a 2 MiB L2 */
#define JOB_MAX_BYTES_URL (16u << 20) /* a round of 64 concurrent requests */
#define MAX_THREADS 16
#define MAX_FILLERS 4
#define PAGES_FILE "pages.img" /* the engine's page data: the one big file of a snapshot */
#define HUGE_BYTES (2u << 20)
#define HUGE_MIN_SIZE (64u << 10) /* smaller pages files stay in the directory */
#define HEADER_BYTES 4096u /* the placeholder's first page: what image_read checks */

bool store_snap_is_url(const char *location)
{
	return !strncmp(location, "http://", 7) || !strncmp(location, "https://", 8);
}

int store_snap_config(const char *location, const char *cache, struct store_config *cfg,
		      char **ret_alloc)
{
	const char *home = getenv("HOME");

	*ret_alloc = NULL;
	store_config_init(cfg);
	if (!store_snap_is_url(location)) {
		cfg->dir = location;
		return 0;
	}
	cfg->url = location;
	cfg->disk_limit = 10ull << 30;
	cfg->token = getenv("THAW_STORE_TOKEN");
	if (cache) {
		cfg->dir = cache;
		return 0;
	}
	if (!home || !*home)
		home = "/root";
	if (asprintf(ret_alloc, "%s/.cache/thaw/chunks", home) < 0) {
		*ret_alloc = NULL;
		return -ENOMEM;
	}
	cfg->dir = *ret_alloc;
	return 0;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int store_snap_stage(const struct store_config *cfg, char *buf, size_t len)
{
	int rc;

	if (!cfg->dir) {
		log_error("staging a dump needs a local directory for the store");
		return -EINVAL;
	}
	rc = mkdir_p(cfg->dir);
	if (rc) {
		log_error("%s: %s", cfg->dir, strerror(-rc));
		return rc;
	}
	/* not under tmp/: gc sweeps stale files there, and a dump is a tree */
	if (snprintf(buf, len, "%s/dump-XXXXXX", cfg->dir) >= (int)len)
		return -ENAMETOOLONG;
	if (!mkdtemp(buf))
		return log_errno("cannot create a staging directory in %s", cfg->dir);
	if (strlen(buf) + sizeof("/snapshot") > len) {
		rmdir(buf);
		return -ENAMETOOLONG;
	}
	strcat(buf, "/snapshot");
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}


/*
 * A restore through a URL fills the local cache from the rebuilt copy once
 * the program runs (store_snap_remove, called from the engine's on_restored),
 * not on the way: writing every chunk to disk while fetching it was half
 * the CPU of an HTTP restore.  One restore per process, so one pending fill.
 */
static struct {
	char dir[PATH_MAX]; /* the rebuilt copy; empty: none */
	char cache[PATH_MAX];
	char key_file[PATH_MAX];
	char context[STORE_NAME_MAX + 16];
	struct store_config cfg; /* the cache alone */
	struct store_manifest *m; /* NULL: no fill pending */
	bool has_pages_fd; /* pages.img lies on a huge tmpfs of its own: */
	int pages_fd; /* the copy itself (dir holds a placeholder) */
	uint32_t pages_file; /* its index in the manifest */
} pending;

struct filler {
	int dfd;
	unsigned tid, n; /* this thread takes the chunks whose index is tid modulo n */
	uint64_t chunks, bytes;
	int rc;
};

static int fill_file(struct store *s, struct filler *fl, uint32_t fi, uint8_t *buf)
{
	const struct store_file *f = &pending.m->files[fi];
	bool huge = pending.has_pages_fd && fi == pending.pages_file;
	int fd, rc = 0;
	uint32_t i;

	fd = huge ? pending.pages_fd : openat(fl->dfd, f->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	for (i = fl->tid; i < f->nr_chunks && !rc; i += fl->n) {
		const struct store_chunk_ref *r = &f->chunks[i];
		ssize_t n;

		if (r->flags & STORE_CHUNK_ZERO)
			continue;
		rc = store_disk_has_chunk(s, r);
		if (rc) {
			rc = rc < 0 ? rc : 0;
			continue;
		}
		n = pread(fd, buf, r->len, (off_t)r->off);
		if (n != (ssize_t)r->len) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		rc = store_disk_fill(s, r, buf);
		if (!rc) {
			fl->chunks++;
			fl->bytes += r->len;
		}
	}
	if (!huge)
		close(fd);
	return rc;
}

/* One filler thread: a store handle of its own (the disk tier is safe for several). */
static void *fill_thread(void *arg)
{
	struct filler *fl = arg;
	struct store *s = NULL;
	uint8_t *buf = malloc(STORE_CHUNK_MAX_LIMIT);
	uint32_t i;

	fl->rc = !buf ? -ENOMEM : store_open(&pending.cfg, &s);
	for (i = 0; !fl->rc && i < pending.m->nr_files; i++)
		fl->rc = fill_file(s, fl, i, buf);
	store_close(s);
	free(buf);
	return NULL;
}

/*
 * Best effort: the program already runs; a failure only costs a later fetch.
 * On every CPU, as the fetch was: re-encoding and writing 1 GiB of chunk
 * files on one thread took longer than the whole restore.
 */
static void fill_pending(uint64_t *chunks, uint64_t *bytes)
{
	struct filler fl[MAX_FILLERS];
	pthread_t tids[MAX_FILLERS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus < 1 ? 1 : cpus > MAX_FILLERS ? MAX_FILLERS : (unsigned)cpus, started = 0;
	int dfd = open(pending.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	unsigned t;

	if (dfd < 0) {
		rc = -errno;
		goto out;
	}
	for (t = 0; t < n; t++)
		fl[t] = (struct filler){ .dfd = dfd, .tid = t, .n = n };
	/* this thread is filler 0 */
	for (t = 1; t < n; t++) {
		if (pthread_create(&tids[t], NULL, fill_thread, &fl[t]))
			break;
		started = t;
	}
	if (started + 1 < n) { /* fewer threads than planned: redo the split */
		for (t = 1; t <= started; t++)
			pthread_join(tids[t], NULL);
		fl[0] = (struct filler){ .dfd = dfd, .tid = 0, .n = 1 };
		started = 0;
		n = 1;
	}
	fill_thread(&fl[0]);
	for (t = 1; t <= started; t++)
		pthread_join(tids[t], NULL);
	for (t = 0; t < n; t++) {
		*chunks += fl[t].chunks;
		*bytes += fl[t].bytes;
		if (!rc)
			rc = fl[t].rc;
	}
	close(dfd);
out:
	if (rc)
		log_warn("%s: filling the local cache %s from the restored copy: %s (chunks will be "
			 "fetched again next time)", pending.context, pending.cache, strerror(-rc));
}

void store_snap_remove(const char *dir)
{
	char parent[PATH_MAX], *slash;
	uint64_t chunks = 0, bytes = 0;
	double t0 = now_ms();
	bool filled = false;

	if (pending.dir[0] && !strcmp(dir, pending.dir)) {
		if (pending.m)
			fill_pending(&chunks, &bytes);
		store_manifest_free(pending.m);
		pending.m = NULL;
		pending.dir[0] = 0;
		if (pending.has_pages_fd)
			close(pending.pages_fd);
		pending.has_pages_fd = false;
		filled = true;
	}
	rm_tree(AT_FDCWD, dir, 1); /* a tree's copy has the other processes' directories */
	/* bench/store.py reads this line: work done after the program runs again */
	if (filled)
		log_debug("%s: after the program runs, %" PRIu64 " chunks (%" PRIu64
			  " bytes) written to the local cache and the copy removed in %.1f ms",
			  pending.context, chunks, bytes, now_ms() - t0);
	if (snprintf(parent, sizeof(parent), "%s", dir) >= (int)sizeof(parent))
		return;
	slash = strrchr(parent, '/');
	if (slash && !strcmp(slash, "/snapshot")) { /* a staging directory: its parent too */
		*slash = 0;
		rmdir(parent);
	}
}

int store_snap_unname(const struct store_config *cfg, const char *name)
{
	char path[PATH_MAX];

	if (cfg->url || !cfg->dir)
		return -EOPNOTSUPP;
	if (!store_name_valid(name))
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/names/%s", cfg->dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (unlink(path) < 0)
		return errno == ENOENT ? -ENOENT : log_errno("removing the name %s", path);
	return 0;
}

int store_snap_pages_fd(const char *dir)
{
	if (!pending.has_pages_fd || strcmp(dir, pending.dir))
		return -1;
	return pending.pages_fd;
}

/* ---- materialising ---- */

struct job {
	uint32_t file, first, nr;
};

struct mat {
	const struct store_config *cfg;
	const struct store_manifest *m;
	const char *context;
	int *fds;
	bool pages_apart; /* the caller takes pages.img's fd (store_snap_pages_fd) */
	int huge_file; /* index of the file on a huge tmpfs, -1: none */
	uint8_t *huge_map; /* that file, mapped shared: decoded into in place */
	int placeholder_fd; /* its stand-in in the directory */
	struct job *jobs;
	size_t nr_jobs, job_max; /* job_max: bytes of the largest job (staging buffer) */
	atomic_size_t next;
	atomic_int rc; /* the first error; stops the others */
	atomic_uint_fast64_t fetched;
	bool defer_fill;
};

static void set_error(struct mat *mt, int rc)
{
	int none = 0;

	atomic_compare_exchange_strong(&mt->rc, &none, rc);
}

/*
 * Each job is decoded into this thread's staging buffer, small enough to stay
 * in the cache, and written to the tmpfs file with pwrite.  Decoding straight
 * into a shared mapping of a file on /dev/shm cost more than decoding itself:
 * every 4 KiB page was faulted in, zeroed and then overwritten, and unmapped
 * again (over a third of the rebuild on the 2-core VM, docs/store-engine.md).
 * On a huge tmpfs (huge_file) it is the other way round: a fault brings a
 * whole 2 MiB page, and pwrite would serialise the threads on the inode's
 * lock and zero every huge page it writes in part (chunks are cut by content,
 * so job boundaries fall anywhere), so that file is decoded in place.
 */
static int run_jobs(struct mat *mt, struct store *s)
{
	uint8_t *buf = malloc(mt->job_max ? mt->job_max : 1);
	size_t i;

	if (!buf) {
		set_error(mt, -ENOMEM);
		return -ENOMEM;
	}
	while (!atomic_load(&mt->rc) && (i = atomic_fetch_add(&mt->next, 1)) < mt->nr_jobs) {
		const struct job *j = &mt->jobs[i];
		const struct store_file *f = &mt->m->files[j->file];
		const struct store_chunk_ref *last = &f->chunks[j->first + j->nr - 1];
		uint64_t off = f->chunks[j->first].off, len = last->off + last->len - off, done = 0;
		bool in_place = (int)j->file == mt->huge_file;
		int rc = store_read_file(s, f, off, in_place ? mt->huge_map + off : buf, len);

		while (!rc && !in_place && done < len) {
			ssize_t n = pwrite(mt->fds[j->file], buf + done, len - done,
					   (off_t)(off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				rc = n < 0 ? log_errno("writing %s of the rebuilt snapshot", f->name) :
					     -EIO;
			else
				done += (uint64_t)n;
		}
		if (rc) {
			set_error(mt, rc);
			free(buf);
			return rc;
		}
		atomic_fetch_add(&mt->fetched, len);
	}
	free(buf);
	return 0;
}

static void *worker(void *arg)
{
	struct mat *mt = arg;
	struct store *s;
	int rc = store_open(mt->cfg, &s);

	if (rc) {
		set_error(mt, rc);
		return NULL;
	}
	s->context = mt->context;
	s->defer_fill = mt->defer_fill;
	run_jobs(mt, s);
	store_close(s);
	return NULL;
}

/* Runs of non-zero chunks, each at most JOB_MAX_CHUNKS chunks and max_bytes (or one chunk). */
static int plan_jobs(struct mat *mt, uint64_t max_bytes)
{
	size_t cap = 0, n = 0;
	uint32_t fi, i;

	for (fi = 0; fi < mt->m->nr_files; fi++)
		cap += mt->m->files[fi].nr_chunks;
	mt->jobs = calloc(cap ? cap : 1, sizeof(*mt->jobs));
	if (!mt->jobs)
		return -ENOMEM;
	for (fi = 0; fi < mt->m->nr_files; fi++) {
		const struct store_file *f = &mt->m->files[fi];

		for (i = 0; i < f->nr_chunks;) {
			uint64_t bytes = 0;
			uint32_t k = 0;

			if (f->chunks[i].flags & STORE_CHUNK_ZERO) {
				i++;
				continue;
			}
			while (i + k < f->nr_chunks && k < JOB_MAX_CHUNKS &&
			       !(f->chunks[i + k].flags & STORE_CHUNK_ZERO) &&
			       (k == 0 || bytes + f->chunks[i + k].len <= max_bytes)) {
				bytes += f->chunks[i + k].len;
				k++;
			}
			if (bytes > mt->job_max)
				mt->job_max = bytes;
			mt->jobs[n++] = (struct job){ .file = fi, .first = i, .nr = k };
			i += k;
		}
	}
	mt->nr_jobs = n;
	return 0;
}

static const char *default_parent(void)
{
	const char *t = getenv("TMPDIR");
	struct stat st;

	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	return t && *t ? t : "/tmp";
}

/*
 * A file of size bytes on a tmpfs of its own, mounted with huge=within_size and
 * attached nowhere (fsopen/fsmount): /dev/shm and memfds get 4 KiB pages
 * here (shmem_enabled is "never" on the development VM), and allocating,
 * writing, reading back and freeing 1 GiB of them was most of a restore
 * from the store (docs/store-engine.md).  The file's fd is the only way in;
 * the tmpfs goes away with its last fd.  Needs CAP_SYS_ADMIN, as a restore
 * does anyway: any failure returns -errno and the copy stays in the
 * directory.
 */
static int huge_file(uint64_t size)
{
	uint64_t limit = (size + 2ull * HUGE_BYTES - 1) / HUGE_BYTES * HUGE_BYTES;
	char opt[32];
	int fs = fsopen("tmpfs", FSOPEN_CLOEXEC), mnt = -1, fd = -1, rc = 0;

	if (fs < 0)
		return -errno;
	snprintf(opt, sizeof(opt), "%" PRIu64, limit);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "huge", "within_size", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "size", opt, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC,
		      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSUID);
	if (mnt < 0)
		goto fail;
	fd = openat(mnt, PAGES_FILE, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		goto fail;
	goto out;
fail:
	rc = -errno;
	if (fd >= 0)
		close(fd);
	fd = rc;
out:
	if (mnt >= 0)
		close(mnt);
	close(fs);
	return fd;
}

static int create_file(int dfd, const char *dir, const struct store_file *f)
{
	int fd = openat(dfd, f->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return log_errno("%s/%s", dir, f->name);
	if (ftruncate(fd, (off_t)f->size) < 0) {
		int rc = log_errno("%s/%s: %" PRIu64 " bytes", dir, f->name, f->size);

		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Creates every file at its size and keeps it open; zero chunks stay holes.
 * A large pages.img goes on a huge tmpfs (huge_file), and the directory
 * gets a placeholder of the same size, sparse but for its first page
 * (copied in by finish_placeholder), so that image_read() of the directory
 * passes: the caller swaps the real file's fd in (store_snap_pages_fd).
 */
static int create_files(struct mat *mt, int dfd, const char *dir)
{
	uint32_t i;
	int fd;

	int rc = store_make_subdirs(dfd, mt->m, dir);

	if (rc)
		return rc;
	for (i = 0; i < mt->m->nr_files; i++) {
		const struct store_file *f = &mt->m->files[i];

		fd = create_file(dfd, dir, f);
		if (fd < 0)
			return fd;
		mt->fds[i] = fd;
		if (!mt->pages_apart || mt->huge_file >= 0 || strcmp(f->name, PAGES_FILE) ||
		    f->size < HUGE_MIN_SIZE)
			continue;
		/* the tests' way to take the other road */
		fd = getenv("THAW_RESTORE_NO_HUGE") ? -EPERM : huge_file(f->size);
		if (fd < 0) {
			log_debug("%s: no tmpfs with huge pages (%s): the copy of %s stays in %s",
				  mt->context, strerror(-fd), f->name, dir);
			continue;
		}
		mt->placeholder_fd = mt->fds[i];
		mt->fds[i] = fd;
		mt->huge_file = (int)i;
	}
	return 0;
}

/*
 * Allocates the huge copy's pages where chunks will go (holes stay holes):
 * decoding into the mapping, a page the tmpfs cannot get is a SIGBUS or an
 * OOM kill at the fault; here it is an error that names the file.  Cheap:
 * the pages are only zeroed when first touched, as they would be anyway.
 */
static int reserve_huge(struct mat *mt, const char *dir)
{
	const struct store_file *f;
	size_t i;

	if (mt->huge_file < 0)
		return 0;
	f = &mt->m->files[mt->huge_file];
	for (i = 0; i < mt->nr_jobs; i++) {
		const struct job *j = &mt->jobs[i];
		const struct store_chunk_ref *last = &f->chunks[j->first + j->nr - 1];
		uint64_t off = f->chunks[j->first].off;

		if ((int)j->file != mt->huge_file)
			continue;
		if (fallocate(mt->fds[mt->huge_file], 0, (off_t)off,
			      (off_t)(last->off + last->len - off)) < 0)
			return log_errno("%s: memory for the copy of %s (%" PRIu64 " bytes)", dir,
					 f->name, f->size);
	}
	return 0;
}

static int map_huge(struct mat *mt, const char *dir)
{
	const struct store_file *f;
	void *p;

	if (mt->huge_file < 0)
		return 0;
	f = &mt->m->files[mt->huge_file];
	p = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED, mt->fds[mt->huge_file], 0);
	if (p == MAP_FAILED)
		return log_errno("%s: mapping the copy of %s (%" PRIu64 " bytes)", dir, f->name,
				 f->size);
	mt->huge_map = p;
	return 0;
}

/* Unmaps the huge copy; on success, its first page goes into the placeholder. */
static int unmap_huge(struct mat *mt, const char *dir, bool ok)
{
	const struct store_file *f;
	size_t n;
	int rc = 0;

	if (!mt->huge_map)
		return 0;
	f = &mt->m->files[mt->huge_file];
	n = f->size < HEADER_BYTES ? (size_t)f->size : HEADER_BYTES;
	if (ok && pwrite(mt->placeholder_fd, mt->huge_map, n, 0) != (ssize_t)n)
		rc = log_errno("%s/%s: writing the placeholder's first page", dir, f->name);
	munmap(mt->huge_map, f->size);
	mt->huge_map = NULL;
	return rc;
}

static int materialize(const struct store_config *cfg, const char *name, const char *parent,
		       unsigned threads, bool pages_apart, char *buf, size_t len,
		       struct store_snap_stats *stats)
{
	struct store_manifest *m = NULL;
	struct store *s = NULL;
	struct mat mt = { .cfg = cfg, .pages_apart = pages_apart, .huge_file = -1,
			  .placeholder_fd = -1 };
	pthread_t tids[MAX_THREADS];
	char ctxbuf[STORE_NAME_MAX + 16];
	struct store_digest d;
	unsigned started = 0, t;
	double t0 = now_ms();
	int dfd = -1, rc;
	uint32_t i;

	if (!parent)
		parent = default_parent();
	if (!threads) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		threads = cpus > 0 ? (unsigned)cpus : 1;
		if (cfg->url && threads < 4)
			threads = 4; /* overlap round trips, not just decoding */
	}
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	/*
	 * Each chunk is read into a fresh buffer of up to a few MiB; above
	 * glibc's default threshold every one would be a new mmap, faulted in
	 * page by page and unmapped again, which costs more than decoding.
	 * Kept in the heap, the buffers are reused (a process-wide setting; thaw
	 * restore is short-lived and this is its main work).
	 */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	snprintf(ctxbuf, sizeof(ctxbuf), "snapshot %s", name);
	mt.context = ctxbuf;
	rc = store_open(cfg, &s);
	if (rc)
		return rc;
	s->context = ctxbuf;
	/* behind a URL, the cache is filled from the rebuilt copy after the program runs */
	mt.defer_fill = cfg->url && cfg->dir && !pending.dir[0] &&
			strlen(cfg->dir) < sizeof(pending.cache) &&
			(!cfg->key_file || strlen(cfg->key_file) < sizeof(pending.key_file));
	s->defer_fill = mt.defer_fill;
	rc = store_name_get(s, name, &d);
	if (!rc)
		rc = store_manifest_get(s, &d, &m);
	if (rc)
		goto out;
	mt.m = m;
	mt.fds = malloc((m->nr_files ? m->nr_files : 1) * sizeof(*mt.fds));
	rc = -ENOMEM;
	if (!mt.fds)
		goto out;
	for (i = 0; i < m->nr_files; i++)
		mt.fds[i] = -1;
	if (snprintf(buf, len, "%s/thaw-restore-XXXXXX", parent) >= (int)len) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	if (!mkdtemp(buf)) {
		rc = log_errno("cannot create a directory in %s", parent);
		goto out;
	}
	dfd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = log_errno("%s", buf);
		goto fail;
	}
	rc = create_files(&mt, dfd, buf);
	if (!rc)
		rc = map_huge(&mt, buf);
	if (rc)
		goto fail;
	rc = plan_jobs(&mt, cfg->url ? JOB_MAX_BYTES_URL : JOB_MAX_BYTES_DISK);
	if (!rc)
		rc = reserve_huge(&mt, buf);
	if (rc)
		goto fail;
	/* this thread works too, with the handle it has */
	for (t = 1; t < threads && t < mt.nr_jobs; t++) {
		if (pthread_create(&tids[started], NULL, worker, &mt))
			break;
		started++;
	}
	run_jobs(&mt, s);
	for (t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	rc = atomic_load(&mt.rc);
	if (!rc)
		rc = unmap_huge(&mt, buf, true);
	if (rc)
		goto fail;
	if (stats) {
		stats->bytes = 0;
		for (i = 0; i < m->nr_files; i++)
			stats->bytes += m->files[i].size;
		stats->fetched = atomic_load(&mt.fetched);
		stats->threads = started + 1;
		stats->ms = now_ms() - t0;
	}
	log_debug("snapshot %s rebuilt in %s%s: %u threads, %.1f ms", name, buf,
		  mt.huge_file >= 0 ? " (pages on a tmpfs with huge pages)" : "", started + 1,
		  now_ms() - t0);
	snprintf(pending.dir, sizeof(pending.dir), "%s", buf);
	snprintf(pending.context, sizeof(pending.context), "%s", ctxbuf);
	pending.has_pages_fd = mt.huge_file >= 0;
	if (pending.has_pages_fd) {
		pending.pages_fd = mt.fds[mt.huge_file];
		pending.pages_file = (uint32_t)mt.huge_file;
		mt.fds[mt.huge_file] = -1;
	}
	if (mt.defer_fill) {
		snprintf(pending.cache, sizeof(pending.cache), "%s", cfg->dir);
		pending.cfg = *cfg;
		pending.cfg.url = NULL;
		pending.cfg.token = NULL;
		pending.cfg.ram_limit = 0;
		pending.cfg.dir = pending.cache;
		if (cfg->key_file) {
			snprintf(pending.key_file, sizeof(pending.key_file), "%s", cfg->key_file);
			pending.cfg.key_file = pending.key_file;
		}
		pending.m = m;
		m = NULL;
	}
	goto out;
fail:
	unmap_huge(&mt, buf, false);
	for (i = 0; mt.fds && i < mt.m->nr_files; i++)
		if (mt.fds[i] >= 0) {
			close(mt.fds[i]);
			mt.fds[i] = -1;
		}
	store_snap_remove(buf);
	buf[0] = 0;
out:
	for (i = 0; mt.fds && i < mt.m->nr_files; i++)
		if (mt.fds[i] >= 0)
			close(mt.fds[i]);
	if (mt.placeholder_fd >= 0)
		close(mt.placeholder_fd);
	if (dfd >= 0)
		close(dfd);
	free(mt.fds);
	free(mt.jobs);
	store_manifest_free(m);
	store_close(s);
	return rc;
}

int store_snap_materialize(const struct store_config *cfg, const char *name, const char *parent,
			   unsigned threads, char *buf, size_t len, struct store_snap_stats *stats)
{
	return materialize(cfg, name, parent, threads, false, buf, len, stats);
}

int store_snap_materialize_pages_apart(const struct store_config *cfg, const char *name,
				       const char *parent, unsigned threads, char *buf, size_t len,
				       struct store_snap_stats *stats)
{
	return materialize(cfg, name, parent, threads, true, buf, len, stats);
}
