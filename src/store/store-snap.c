/*
 * store-snap.c - snapshots through the store for the engine (store-snap.h).
 *
 * Restore speed is the point here, and a restore needs none of
 * store_get_dir()'s durability but all the cores.  The small files of a
 * snapshot (manifest, index, data.img) are rebuilt in a private directory
 * on tmpfs, where the engine reads them; pages.img, nearly all of it, is
 * not: there it is a sparse placeholder with its header page, and its
 * bytes go to the caller's sink (store_snap_restore_deliver; the
 * repository's page source writes them into the restored processes, once
 * these have mapped their memory): worker threads, each with a store
 * handle of its own (a store is single-threaded; the disk tier is safe for
 * several handles as it is for several processes, and each HTTP handle runs
 * its own concurrent requests), decode and verify runs of chunks into a
 * staging buffer that stays in the cache, and the sink puts each byte in
 * its place: one copy, from a verified chunk to its place, as a restore
 * from a plain directory makes from pages.img (docs/store-engine.md).
 */
#define LOG_TAG "store"

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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/io.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/dirs.h"
#include "store/store-internal.h"
#include "store/store-snap.h"

#define JOB_MAX_CHUNKS 64 /* store_read_file's batch: one HTTP round of requests */
#define JOB_MAX_BYTES_DISK (1u << 20) /* the staging buffer stays in a 2 MiB L2 */
#define JOB_MAX_BYTES_URL (16u << 20) /* a round of 64 concurrent requests */
#define PARK_MAX (512ull << 20) /* decoded ahead, before the memory is mapped */
#define MAX_THREADS 16
#define MAX_FILLERS 4
#define PAGES_FILE "pages.img" /* the engine's page data: the one big file of a snapshot */
#define HEADER_BYTES 4096u /* the placeholder's first page: what image_read checks */

bool store_snap_is_url(const char *location)
{
	return store_is_remote(location);
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

int store_snap_stage(const struct store_config *cfg, char *buf, size_t len, int *ret_lock)
{
	int rc;

	if (!cfg->dir) {
		log_error("staging a dump needs a local directory for the store");
		return -EINVAL;
	}
	rc = make_dirs(cfg->dir);
	if (rc) {
		log_error("%s: %s", cfg->dir, strerror(-rc));
		return rc;
	}
	/* not under tmp/: gc sweeps stale files there by age, and a dump is a tree */
	rc = make_staging_dir(cfg->dir, buf, len, ret_lock);
	if (rc)
		log_error("cannot create a staging directory in %s: %s", cfg->dir, strerror(-rc));
	return rc;
}

void store_snap_remove(const char *dir)
{
	char parent[PATH_MAX], *slash;

	rm_tree(AT_FDCWD, dir, 1); /* a tree's copy has the other processes' directories */
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


/* ---- restoring ---- */

/* A chunk fetched from behind the first tier, kept for the cache until the program runs. */
struct fetched {
	char id[STORE_ID_MAX];
	struct store_chunk_ref ref;
	struct store_buf stored;
};

struct job {
	uint32_t file, first, nr;
};

/* Runs of chunks to decode, each one store_read_file(). */
struct plan {
	struct job *jobs;
	size_t nr, max; /* max: bytes of the largest job (staging buffer) */
};

/* Rebuilding files: jobs shared out among threads, each with a store handle of its own. */
struct work {
	struct store_snap_restore *r;
	int *fds; /* the directory's files, by manifest index */
	struct plan p;
	atomic_size_t next;
	atomic_int rc; /* the first error; stops the others */
};

/*
 * The pages, decoded from the moment the restore starts: until the caller
 * knows where they go (store_snap_restore_deliver), a
 * decoded job is parked, up to park_max bytes; then parked jobs are
 * written first and the rest go straight through a buffer per thread.
 */
struct stream {
	struct plan p; /* every chunk of every pages file */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t **parked; /* by job: its decoded bytes while no destination is known */
	size_t *ready, nr_ready; /* the parked jobs */
	size_t next, done; /* the next job to decode; jobs written */
	uint64_t parked_bytes, park_max, bytes;
	bool delivering; /* the destinations are known (store_snap_restore_deliver) */
	const struct store_snap_dest *dests;
	store_snap_sink_fn sink;
	int32_t *dest_of_file; /* by manifest index: its destination, -1 none */
	bool stop;
	int rc;
	pthread_t tids[MAX_THREADS];
	unsigned nr_tids;
};

struct store_snap_restore {
	struct store_config cfg; /* the caller's strings, which outlive this */
	struct store_manifest *m;
	struct store *reader; /* a lazy restore's page server: its own handle */
	char dir[PATH_MAX];
	char context[STORE_NAME_MAX + 16];
	unsigned threads;
	uint64_t fetched_max; /* bytes kept for the cache at most; beyond, filled on the way */
	pthread_mutex_t lock;
	struct fetched *fetched;
	size_t nr_fetched, cap_fetched;
	uint64_t fetched_bytes;
	struct stream st;
};

static void set_error(struct work *w, int rc)
{
	int none = 0;

	atomic_compare_exchange_strong(&w->rc, &none, rc);
}

/*
 * Behind a URL the local cache is not written while the restore waits
 * (that was half the CPU of an HTTP restore): a chunk fetched from the
 * server is kept, still encoded, and written once the program runs.
 * Beyond fetched_max bytes the store fills the cache on the way.
 */
static bool keep_fetched(void *arg, const char *id, const struct store_chunk_ref *ref,
			 struct store_buf *stored)
{
	struct store_snap_restore *r = arg;
	bool kept = false;

	pthread_mutex_lock(&r->lock);
	if (r->fetched_bytes + stored->len <= r->fetched_max) {
		if (r->nr_fetched == r->cap_fetched) {
			size_t cap = r->cap_fetched ? 2 * r->cap_fetched : 256;
			struct fetched *p = realloc(r->fetched, cap * sizeof(*p));

			if (p) {
				r->fetched = p;
				r->cap_fetched = cap;
			}
		}
		if (r->nr_fetched < r->cap_fetched) {
			struct fetched *f = &r->fetched[r->nr_fetched++];

			memcpy(f->id, id, STORE_ID_MAX);
			f->ref = *ref;
			f->stored = *stored;
			*stored = (struct store_buf){ 0 };
			r->fetched_bytes += f->stored.len;
			kept = true;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return kept;
}

/* ---- the files but the pages: rebuilt in the directory ---- */

static int write_job(struct work *w, const struct job *j, const uint8_t *buf, uint64_t off,
		     uint64_t len)
{
	int ret = io_pwrite_all(w->fds[j->file], buf, len, off);

	if (ret)
		log_error("%s/%s: %s", w->r->dir, w->r->m->files[j->file].name, strerror(-ret));
	return ret;
}

/* The bytes of its file a job covers. */
static void job_range(const struct store_snap_restore *r, const struct job *j, uint64_t *off,
		      uint64_t *len)
{
	const struct store_file *f = &r->m->files[j->file];
	const struct store_chunk_ref *last = &f->chunks[j->first + j->nr - 1];

	*off = f->chunks[j->first].off;
	*len = last->off + last->len - *off;
}

static int run_jobs(struct work *w, struct store *s)
{
	uint8_t *buf = malloc(w->p.max ? w->p.max : 1);
	size_t i;

	if (!buf) {
		set_error(w, -ENOMEM);
		return -ENOMEM;
	}
	while (!atomic_load(&w->rc) && (i = atomic_fetch_add(&w->next, 1)) < w->p.nr) {
		const struct job *j = &w->p.jobs[i];
		uint64_t off, len;
		int rc;

		job_range(w->r, j, &off, &len);
		rc = store_read_file(s, &w->r->m->files[j->file], off, buf, len);

		if (!rc)
			rc = write_job(w, j, buf, off, len);
		if (rc) {
			set_error(w, rc);
			free(buf);
			return rc;
		}
	}
	free(buf);
	return 0;
}

static int open_handle(struct store_snap_restore *r, struct store **s)
{
	int rc = store_open(&r->cfg, s);

	if (rc)
		return rc;
	(*s)->context = r->context;
	if (r->cfg.url && r->cfg.dir) {
		(*s)->keep_fetched = keep_fetched;
		(*s)->keep_fetched_arg = r;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct work *w = arg;
	struct store *s;
	int rc = open_handle(w->r, &s);

	if (rc) {
		set_error(w, rc);
		return NULL;
	}
	run_jobs(w, s);
	store_close(s);
	return NULL;
}

/* Runs the jobs on the restore's threads, this one included (with s). */
static int run_workers(struct work *w, struct store *s)
{
	pthread_t tids[MAX_THREADS];
	unsigned started = 0, t;

	for (t = 1; t < w->r->threads && t < w->p.nr; t++) {
		if (pthread_create(&tids[started], NULL, worker, w))
			break;
		started++;
	}
	run_jobs(w, s);
	for (t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	return atomic_load(&w->rc);
}

static bool is_pages_file(const char *name)
{
	const char *slash = strrchr(name, '/');

	return !strcmp(slash ? slash + 1 : name, PAGES_FILE);
}

/* Jobs for the chunks [from, to) of f (file fi): at most JOB_MAX_CHUNKS and max_bytes each. */
static void add_jobs(struct plan *p, const struct store_file *f, uint32_t fi, uint32_t from,
		     uint32_t to, uint64_t max_bytes)
{
	uint32_t i = from;

	while (i < to) {
		uint64_t bytes = 0;
		uint32_t k = 0;

		while (i + k < to && k < JOB_MAX_CHUNKS &&
		       (k == 0 || bytes + f->chunks[i + k].len <= max_bytes)) {
			bytes += f->chunks[i + k].len;
			k++;
		}
		if (bytes > p->max)
			p->max = bytes;
		p->jobs[p->nr++] = (struct job){ .file = fi, .first = i, .nr = k };
		i += k;
	}
}

/* Room for a job per chunk of m, the most there can be. */
static int plan_alloc(struct plan *p, const struct store_manifest *m)
{
	size_t cap = 0;
	uint32_t fi;

	for (fi = 0; fi < m->nr_files; fi++)
		cap += m->files[fi].nr_chunks;
	p->jobs = calloc(cap ? cap : 1, sizeof(*p->jobs));
	return p->jobs ? 0 : -ENOMEM;
}

static uint64_t job_bytes(const struct store_snap_restore *r)
{
	return r->cfg.url ? JOB_MAX_BYTES_URL : JOB_MAX_BYTES_DISK;
}

/*
 * Every file at its size (zero chunks stay holes); a pages file is a
 * placeholder, sparse but for its header page, which is all that
 * image_read() checks of it: its data goes straight to the sink.
 */
static int rebuild_files(struct store_snap_restore *r, struct store *s, int dfd)
{
	struct work w = { .r = r };
	uint8_t header[HEADER_BYTES];
	uint32_t i;
	int rc;

	w.fds = malloc((r->m->nr_files ? r->m->nr_files : 1) * sizeof(int));
	rc = w.fds ? plan_alloc(&w.p, r->m) : -ENOMEM;
	for (i = 0; w.fds && i < r->m->nr_files; i++)
		w.fds[i] = -1;
	if (!rc)
		rc = store_make_subdirs(dfd, r->m, r->dir);
	for (i = 0; !rc && i < r->m->nr_files; i++) {
		const struct store_file *f = &r->m->files[i];
		size_t n = f->size < HEADER_BYTES ? (size_t)f->size : HEADER_BYTES;
		uint32_t first = 0, c;

		w.fds[i] = openat(dfd, f->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
				  0600);
		if (w.fds[i] < 0 || ftruncate(w.fds[i], (off_t)f->size) < 0) {
			rc = log_errno("%s/%s: %" PRIu64 " bytes", r->dir, f->name, f->size);
			break;
		}
		if (is_pages_file(f->name)) {
			rc = store_read_file(s, f, 0, header, n);
			if (!rc && pwrite(w.fds[i], header, n, 0) != (ssize_t)n)
				rc = log_errno("%s/%s", r->dir, f->name);
			continue;
		}
		for (c = 0; c <= f->nr_chunks; c++) {
			if (c < f->nr_chunks && !(f->chunks[c].flags & STORE_CHUNK_ZERO))
				continue;
			add_jobs(&w.p, f, i, first, c, job_bytes(r));
			first = c + 1;
		}
	}
	if (!rc)
		rc = run_workers(&w, s);
	for (i = 0; w.fds && i < r->m->nr_files; i++)
		if (w.fds[i] >= 0)
			close(w.fds[i]);
	free(w.fds);
	free(w.p.jobs);
	return rc;
}

static const char *default_parent(void)
{
	const char *t = getenv("TMPDIR");
	struct stat st;

	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	return t && *t ? t : "/tmp";
}

static unsigned nr_threads(const struct store_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus > 0 ? (unsigned)cpus : 1;

	if (cfg->url && n < 4)
		n = 4; /* overlap round trips, not just decoding */
	return n > MAX_THREADS ? MAX_THREADS : n;
}

/* ---- the pages: through the caller's sink ---- */

/* Job i, decoded into buf, to the sink (if a destination wants its file). */
static int stream_write(struct store_snap_restore *r, size_t i, const uint8_t *buf)
{
	const struct job *j = &r->st.p.jobs[i];
	int32_t k = r->st.dest_of_file[j->file];
	uint64_t off, len;

	if (k < 0)
		return 0;
	job_range(r, j, &off, &len);
	return r->st.sink(r->st.dests[k].arg, off, buf, len);
}

/* With the lock held: job i is written (rc its result); parked: the bytes it held. */
static void stream_done(struct stream *st, int rc, uint64_t len, uint64_t parked)
{
	st->parked_bytes -= parked;
	st->done++;
	st->bytes += len;
	progress_add(len);
	if (rc && !st->rc)
		st->rc = rc;
	if (rc || st->done == st->p.nr || parked)
		pthread_cond_broadcast(&st->cond);
}

/*
 * One thread of the stream, with a store handle of its own: decode the next
 * job, park it while no destination is known (waiting once park_max bytes
 * are parked), write parked jobs once they are known, and stop when nothing is
 * left for it or on the first error.
 */
static void *stream_worker(void *arg)
{
	struct store_snap_restore *r = arg;
	struct stream *st = &r->st;
	struct store *s = NULL;
	uint8_t *own = NULL; /* the staging buffer once the destinations are known */
	int rc = open_handle(r, &s);

	pthread_mutex_lock(&st->lock);
	if (rc && !st->rc)
		st->rc = rc;
	while (!st->rc && !st->stop) {
		uint64_t off, len;
		uint8_t *buf;
		size_t i;
		bool park;

		if (st->delivering && st->nr_ready) {
			i = st->ready[--st->nr_ready];
			buf = st->parked[i];
			st->parked[i] = NULL;
			job_range(r, &st->p.jobs[i], &off, &len);
			pthread_mutex_unlock(&st->lock);
			rc = stream_write(r, i, buf);
			free(buf);
			pthread_mutex_lock(&st->lock);
			stream_done(st, rc, len, len);
			continue;
		}
		if (st->next == st->p.nr && st->delivering)
			break; /* the others finish what they hold */
		if (st->next == st->p.nr ||
		    (!st->delivering && st->parked_bytes + st->p.max > st->park_max)) {
			pthread_cond_wait(&st->cond, &st->lock);
			continue;
		}
		i = st->next++;
		job_range(r, &st->p.jobs[i], &off, &len);
		park = !st->delivering;
		if (park)
			st->parked_bytes += len;
		pthread_mutex_unlock(&st->lock);
		if (!park && !own)
			own = malloc(st->p.max);
		buf = park ? malloc(len) : own;
		rc = buf ? store_read_file(s, &r->m->files[st->p.jobs[i].file], off, buf, len) :
			   -ENOMEM;
		pthread_mutex_lock(&st->lock);
		if (!rc && park && !st->delivering) {
			st->parked[i] = buf;
			st->ready[st->nr_ready++] = i;
			continue;
		}
		if (!rc) { /* the destinations are known (perhaps only since the decode began) */
			pthread_mutex_unlock(&st->lock);
			rc = stream_write(r, i, buf);
			pthread_mutex_lock(&st->lock);
		}
		if (park)
			free(buf);
		stream_done(st, rc, len, park ? len : 0);
	}
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	free(own);
	store_close(s);
	return NULL;
}

/*
 * store_snap_restore_start plans every chunk of every pages file and starts
 * decoding on all but one of the restore's threads: the caller's own work
 * until it knows where the pages go (the engine mapping the memory) needs
 * that one; store_snap_restore_deliver's thread joins then.
 */
static int find_file(const struct store_manifest *m, const char *name, uint32_t *fi);

/* Jobs for the chunks of d's file that hold bytes of its ranges (all of it without any). */
static int plan_dest(struct store_snap_restore *r, const struct store_snap_dest *d)
{
	const struct store_file *f;
	uint8_t *needed;
	uint32_t fi, c = 0, from;
	size_t i;

	if (find_file(r->m, d->file, &fi))
		return 0; /* take_file says so */
	f = &r->m->files[fi];
	if (!d->ranges) {
		add_jobs(&r->st.p, f, fi, 0, f->nr_chunks, job_bytes(r));
		return 0;
	}
	needed = calloc(f->nr_chunks ? f->nr_chunks : 1, 1);
	if (!needed)
		return -ENOMEM;
	for (i = 0; i < d->nr_ranges; i++) {
		uint64_t end = d->ranges[i].off + d->ranges[i].len;

		while (c < f->nr_chunks && f->chunks[c].off + f->chunks[c].len <= d->ranges[i].off)
			c++;
		for (; c < f->nr_chunks && f->chunks[c].off < end; c++)
			needed[c] = 1;
		if (c)
			c--; /* the next range may start in the chunk this one ended in */
	}
	for (c = 0; c < f->nr_chunks;) {
		if (!needed[c]) {
			c++;
			continue;
		}
		for (from = c; c < f->nr_chunks && needed[c]; c++)
			;
		add_jobs(&r->st.p, f, fi, from, c, job_bytes(r));
	}
	free(needed);
	return 0;
}

/*
 * Plans the chunks to decode (every chunk of every pages file, or with
 * dests those their ranges want) and starts decoding on all but one of the
 * restore's threads.
 */
static int stream_begin(struct store_snap_restore *r, const struct store_snap_dest *dests,
			uint32_t nr)
{
	struct stream *st = &r->st;
	long pages = sysconf(_SC_AVPHYS_PAGES);
	uint64_t avail = pages > 0 ? (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
	uint32_t fi;
	unsigned t;
	int rc;

	st->park_max = avail / 8 < PARK_MAX ? avail / 8 : PARK_MAX;
	rc = plan_alloc(&st->p, r->m);
	for (fi = 0; !rc && !dests && fi < r->m->nr_files; fi++)
		if (is_pages_file(r->m->files[fi].name))
			add_jobs(&st->p, &r->m->files[fi], fi, 0, r->m->files[fi].nr_chunks,
				 job_bytes(r));
	for (fi = 0; !rc && dests && fi < nr; fi++)
		rc = plan_dest(r, &dests[fi]);
	if (rc)
		return rc;
	progress_begin("restore", 0);
	for (fi = 0; fi < st->p.nr; fi++) {
		uint64_t off, len;

		job_range(r, &st->p.jobs[fi], &off, &len);
		progress_more(len);
	}
	st->parked = calloc(st->p.nr ? st->p.nr : 1, sizeof(*st->parked));
	st->ready = calloc(st->p.nr ? st->p.nr : 1, sizeof(*st->ready));
	st->dest_of_file = malloc((r->m->nr_files ? r->m->nr_files : 1) * sizeof(int32_t));
	if (!st->parked || !st->ready || !st->dest_of_file)
		return -ENOMEM;
	for (fi = 0; fi < r->m->nr_files; fi++)
		st->dest_of_file[fi] = -1;
	for (t = 1; t < r->threads && t < st->p.nr; t++) {
		if (pthread_create(&st->tids[st->nr_tids], NULL, stream_worker, r))
			break;
		st->nr_tids++;
	}
	return 0;
}

int store_snap_restore_start(struct store_snap_restore *r)
{
	return stream_begin(r, NULL, 0);
}

static void stream_stop(struct store_snap_restore *r)
{
	struct stream *st = &r->st;
	size_t i;

	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	for (i = 0; i < st->nr_tids; i++)
		pthread_join(st->tids[i], NULL);
	st->nr_tids = 0;
	for (i = 0; st->parked && i < st->p.nr; i++)
		free(st->parked[i]);
	free(st->parked);
	free(st->ready);
	free(st->dest_of_file);
	free(st->p.jobs);
	st->parked = NULL;
	st->ready = NULL;
	st->dest_of_file = NULL;
	st->p.jobs = NULL;
}

static int find_file(const struct store_manifest *m, const char *name, uint32_t *fi)
{
	for (*fi = 0; *fi < m->nr_files; (*fi)++)
		if (!strcmp(m->files[*fi].name, name))
			return 0;
	return -ENOENT;
}

int store_snap_restore_file_size(const struct store_snap_restore *r, const char *name,
				 uint64_t *size)
{
	uint32_t fi;

	if (find_file(r->m, name, &fi)) {
		log_error("%s has no %s", r->context, name);
		return -ENOENT;
	}
	*size = r->m->files[fi].size;
	return 0;
}

/* Destination k's file, which no other destination may have. */
static int take_file(struct store_snap_restore *r, const struct store_snap_dest *d, uint32_t k)
{
	uint32_t fi;

	if (find_file(r->m, d->file, &fi)) {
		log_error("%s has no %s", r->context, d->file);
		return -ENOENT;
	}
	if (r->st.dest_of_file[fi] >= 0) {
		log_error("%s: two destinations have %s", r->context, d->file);
		return -EINVAL;
	}
	r->st.dest_of_file[fi] = (int32_t)k;
	return 0;
}

int store_snap_restore_deliver(struct store_snap_restore *r, const struct store_snap_dest *dests,
			       uint32_t nr, store_snap_sink_fn sink)
{
	struct stream *st = &r->st;
	double t0 = now_ms();
	size_t parked;
	unsigned threads = st->nr_tids + 1;
	uint32_t k;
	int rc = 0;

	if (!st->p.jobs) { /* not started: a lazy restore, which wants only the ranges */
		rc = stream_begin(r, dests, nr);
		if (rc)
			return rc;
		threads = st->nr_tids + 1;
	}
	pthread_mutex_lock(&st->lock);
	for (k = 0; !rc && k < nr; k++)
		rc = take_file(r, &dests[k], k);
	if (rc && !st->rc)
		st->rc = rc;
	st->dests = dests;
	st->sink = sink;
	st->delivering = true;
	parked = st->nr_ready;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	stream_worker(r);
	pthread_mutex_lock(&st->lock);
	while (!st->rc && st->done < st->p.nr)
		pthread_cond_wait(&st->cond, &st->lock);
	rc = st->rc;
	pthread_mutex_unlock(&st->lock);
	stream_stop(r);
	progress_end();
	if (!rc)
		log_debug("%s: %" PRIu64 " bytes of pages decoded into %u file%s on %u threads, "
			  "%zu of %zu jobs decoded before the memory was mapped; %.1f ms since",
			  r->context, st->bytes, nr, nr == 1 ? "" : "s", threads, parked,
			  st->p.nr, now_ms() - t0);
	return rc;
}

/* ---- opening ---- */

int store_snap_restore_open(const struct store_config *cfg, const char *name, const char *parent,
			    struct store_snap_restore **ret)
{
	struct store_snap_restore *r = calloc(1, sizeof(*r));
	struct store *s = NULL;
	struct store_digest d;
	double t0 = now_ms();
	long pages = sysconf(_SC_AVPHYS_PAGES);
	int dfd = -1, rc;

	*ret = NULL;
	if (!r)
		return -ENOMEM;
	/*
	 * Each chunk is read into a fresh buffer of up to a few MiB; above
	 * glibc's default threshold every one would be a new mmap, faulted in
	 * page by page and unmapped again, which costs more than decoding.
	 * Kept in the heap, the buffers are reused (a process-wide setting; a
	 * restore is short-lived and this is its main work).
	 */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->st.lock, NULL);
	pthread_cond_init(&r->st.cond, NULL);
	r->cfg = *cfg;
	r->threads = nr_threads(cfg);
	r->fetched_max = pages > 0 ? (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) / 4 : 0;
	snprintf(r->context, sizeof(r->context), "snapshot %s", name);
	rc = open_handle(r, &s);
	if (!rc)
		rc = store_name_get(s, name, &d);
	if (!rc)
		rc = store_manifest_get(s, &d, &r->m);
	if (rc)
		goto fail;
	if (!parent)
		parent = default_parent();
	if (snprintf(r->dir, sizeof(r->dir), "%s/thaw-restore-XXXXXX", parent) >=
	    (int)sizeof(r->dir)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	if (!mkdtemp(r->dir)) {
		rc = log_errno("cannot create a directory in %s", parent);
		r->dir[0] = 0;
		goto fail;
	}
	dfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = dfd < 0 ? log_errno("%s", r->dir) : rebuild_files(r, s, dfd);
	if (dfd >= 0)
		close(dfd);
	if (rc)
		goto fail;
	store_close(s);
	log_debug("snapshot %s: files rebuilt in %s, pages to follow, in %.1f ms", name, r->dir,
		  now_ms() - t0);
	*ret = r;
	return 0;
fail:
	store_close(s);
	store_snap_restore_close(r);
	return rc;
}

const char *store_snap_restore_dir(const struct store_snap_restore *r)
{
	return r->dir;
}

const char *store_snap_restore_name(const struct store_snap_restore *r)
{
	return r->context + strlen("snapshot ");
}

/* ---- a lazy restore's page server ---- */

int store_snap_restore_reader_open(struct store_snap_restore *r)
{
	int rc = store_open(&r->cfg, &r->reader);

	if (rc)
		return rc;
	/* no keep_fetched: behind a URL, what it fetches goes to the local cache on the way */
	r->reader->context = r->context;
	return 0;
}

int store_snap_restore_read(struct store_snap_restore *r, const char *file, uint64_t off,
			    void *buf, size_t len)
{
	uint32_t fi;

	if (!r->reader)
		return -EBADF;
	if (find_file(r->m, file, &fi)) {
		log_error("%s has no %s", r->context, file);
		return -ENOENT;
	}
	return store_read_file(r->reader, &r->m->files[fi], off, buf, len);
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct store_file *)a)->name, ((const struct store_file *)b)->name);
}

/*
 * A manifest like the snapshot's with files put in (replacing the ones of
 * the same name), and the snapshot's name moved to it: the other files'
 * chunks are the ones it had, nothing else is stored again.
 */
int store_snap_restore_put(struct store_snap_restore *r, const struct store_snap_file *files,
			   uint32_t nr)
{
	struct store_tier *disk = r->reader ? store_disk_tier(r->reader) : NULL;
	struct store_manifest m = { .created = r->m->created };
	struct store_file *added = calloc(nr ? nr : 1, sizeof(*added));
	struct store_digest d;
	uint32_t i, k;
	int rc = 0;

	m.files = calloc(r->m->nr_files + nr, sizeof(*m.files));
	if (!r->reader || !added || !m.files) {
		rc = r->reader ? -ENOMEM : -EBADF;
		goto out;
	}
	for (k = 0; !rc && k < nr; k++) {
		added[k].name = strdup(files[k].name);
		added[k].mode = 0600;
		rc = added[k].name ? store_put_buf(r->reader, &added[k], files[k].data, files[k].len) :
				     -ENOMEM;
	}
	for (i = 0; !rc && i < r->m->nr_files; i++) {
		for (k = 0; k < nr && strcmp(r->m->files[i].name, files[k].name); k++)
			;
		if (k == nr)
			m.files[m.nr_files++] = r->m->files[i]; /* shared with r->m: not freed here */
	}
	for (k = 0; !rc && k < nr; k++)
		m.files[m.nr_files++] = added[k];
	qsort(m.files, m.nr_files, sizeof(*m.files), cmp_files);
	if (!rc && disk)
		rc = store_disk_lock(disk, false);
	if (!rc) {
		rc = store_manifest_put(r->reader, &m, &d);
		if (!rc)
			rc = store_name_set(r->reader, store_snap_restore_name(r), &d);
		if (disk)
			store_disk_unlock(disk);
	}
	if (rc)
		log_error("%s: adding %u file%s: %s", r->context, nr, nr == 1 ? "" : "s",
			  strerror(-rc));
out:
	for (k = 0; added && k < nr; k++) {
		free(added[k].name);
		free(added[k].chunks);
	}
	free(added);
	free(m.files);
	return rc;
}

/* ---- afterwards: the cache, the directory ---- */

/* Writing the kept chunks into the local cache, on several threads. */
struct cache_fill {
	struct store_snap_restore *r;
	struct store_config cfg; /* the cache alone */
	atomic_size_t next; /* the next chunk to write */
	atomic_uint_fast64_t chunks, bytes;
	atomic_int rc; /* the first error */
};

static void *fill_thread(void *arg)
{
	struct cache_fill *cf = arg;
	struct store *s = NULL;
	int rc = store_open(&cf->cfg, &s), none = 0;
	size_t i;

	while (!rc && (i = atomic_fetch_add(&cf->next, 1)) < cf->r->nr_fetched) {
		const struct fetched *f = &cf->r->fetched[i];

		rc = store_disk_fill_stored(s, f->id, &f->ref, &f->stored);
		if (!rc) {
			atomic_fetch_add(&cf->chunks, 1);
			atomic_fetch_add(&cf->bytes, f->ref.len);
		}
	}
	if (rc)
		atomic_compare_exchange_strong(&cf->rc, &none, rc);
	store_close(s);
	return NULL;
}

/*
 * Best effort: the program already runs; a failure only costs a later fetch.
 * On every CPU, as the fetch was: re-encoding and writing 1 GiB of chunk
 * files on one thread took longer than the whole restore.
 */
static void fill_cache(struct store_snap_restore *r)
{
	struct cache_fill cf = { .r = r, .cfg = r->cfg };
	pthread_t tids[MAX_FILLERS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus < 1 ? 1 : cpus > MAX_FILLERS ? MAX_FILLERS : (unsigned)cpus, started = 0;
	double t0 = now_ms();
	unsigned t;
	int rc;

	cf.cfg.url = NULL;
	cf.cfg.token = NULL;
	cf.cfg.ram_limit = 0;
	for (t = 1; t < n && pthread_create(&tids[started], NULL, fill_thread, &cf) == 0; t++)
		started++;
	fill_thread(&cf); /* this thread too: whatever the others leave, it takes */
	for (t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	rc = atomic_load(&cf.rc);
	if (rc)
		log_warn("%s: filling the local cache %s: %s (chunks will be fetched again next "
			 "time)", r->context, r->cfg.dir, strerror(-rc));
	/* bench/store.py reads this line: work done after the program runs again */
	log_debug("%s: after the program runs, %" PRIu64 " chunks (%" PRIu64
		  " bytes) written to the local cache in %.1f ms",
		  r->context, (uint64_t)atomic_load(&cf.chunks), (uint64_t)atomic_load(&cf.bytes),
		  now_ms() - t0);
}

void store_snap_restore_close(struct store_snap_restore *r)
{
	size_t i;

	if (!r)
		return;
	stream_stop(r); /* before the cache fill: its threads keep chunks for it */
	progress_end(); /* a restore that failed before its pages were filled */
	if (r->nr_fetched)
		fill_cache(r);
	for (i = 0; i < r->nr_fetched; i++)
		store_buf_release(&r->fetched[i].stored);
	free(r->fetched);
	if (r->dir[0])
		store_snap_remove(r->dir);
	store_close(r->reader);
	store_manifest_free(r->m);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->st.lock);
	pthread_cond_destroy(&r->st.cond);
	free(r);
}
