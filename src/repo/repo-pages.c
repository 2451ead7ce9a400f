/*
 * repo-pages.c - a restore from the store as the engine's page source.
 *
 * The store hands out the bytes of a snapshot's pages files (store-snap.h:
 * files and offsets, nothing of processes); the engine asks a page source
 * to fill each restored process's data runs (engine.h).  Here the two meet:
 * each process's pages file becomes a destination of the store's restore,
 * its runs are checked against the file, and every byte the store decodes
 * goes by process_vm_writev to the address its run says: one copy, from a
 * verified chunk to its place (docs/store-engine.md).
 */
#define LOG_TAG "repo"
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/log.h"
#include "repo/repo.h"

/* process_vm_writev until done; an error names the process and the address. */
static int write_process(pid_t pid, struct iovec *local, struct iovec *remote, size_t n)
{
	size_t i = 0;

	while (i < n) {
		ssize_t got = process_vm_writev(pid, local + i, n - i, remote + i, n - i, 0);
		int err = errno;

		if (got <= 0) {
			log_error("pid %d: writing %zu bytes of page data at 0x%lx: %s", pid,
				  remote[i].iov_len, (unsigned long)remote[i].iov_base,
				  got < 0 ? strerror(err) : "nothing written");
			return got < 0 ? -err : -EFAULT;
		}
		while (i < n && (size_t)got >= remote[i].iov_len) {
			got -= (ssize_t)remote[i].iov_len;
			i++;
		}
		if (got > 0) { /* stopped inside an entry: the rest of it next */
			local[i].iov_base = (char *)local[i].iov_base + got;
			local[i].iov_len -= (size_t)got;
			remote[i].iov_base = (char *)remote[i].iov_base + got;
			remote[i].iov_len -= (size_t)got;
		}
	}
	return 0;
}

#define IOV_BATCH 256

/* The sink: the bytes [off, off + len) of a process's pages file, in buf, go where its runs say. */
static int write_runs(void *arg, uint64_t off, const uint8_t *buf, uint64_t len)
{
	const struct page_fill_proc *p = arg;
	struct iovec local[IOV_BATCH], remote[IOV_BATCH];
	size_t lo = 0, hi = p->nr_runs, n = 0, i;
	uint64_t end = off + len;
	int rc = 0;

	while (lo < hi) { /* the first run that ends after off */
		size_t mid = (lo + hi) / 2;

		if (p->runs[mid].off + p->runs[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < p->nr_runs && p->runs[i].off < end && !rc; i++) {
		const struct page_fill_run *run = &p->runs[i];
		uint64_t from = run->off > off ? run->off : off;
		uint64_t to = run->off + run->len < end ? run->off + run->len : end;

		local[n] = (struct iovec){ (void *)(buf + (from - off)), to - from };
		remote[n] = (struct iovec){ (void *)(uintptr_t)(run->vaddr + (from - run->off)),
					    to - from };
		if (++n == IOV_BATCH) {
			rc = write_process(p->pid, local, remote, n);
			n = 0;
		}
	}
	if (!rc && n)
		rc = write_process(p->pid, local, remote, n);
	return rc;
}

/* A process's runs: inside its pages file, sorted, none overlapping. */
static int check_runs(const struct repo_pages *pg, const struct page_fill_proc *p)
{
	uint64_t size;
	size_t i;
	int rc = store_snap_restore_file_size(pg->sr, p->pages, &size);

	if (rc)
		return rc;
	for (i = 0; i < p->nr_runs; i++)
		if (p->runs[i].off > size || p->runs[i].len > size - p->runs[i].off ||
		    (i && p->runs[i].off < p->runs[i - 1].off + p->runs[i - 1].len)) {
			log_error("snapshot %s: %s: run %zu (%" PRIu64 " bytes at %" PRIu64
				  ") is outside the file's %" PRIu64
				  " bytes or overlaps the one before",
				  store_snap_restore_name(pg->sr), p->pages, i, p->runs[i].len, p->runs[i].off, size);
			return -EINVAL;
		}
	return 0;
}

static int pages_start(void *arg)
{
	struct repo_pages *pg = arg;

	return store_snap_restore_start(pg->sr);
}

/* A process's runs as ranges of its file: what a lazy restore wants decoded (the rest is the page server's). */
static struct store_snap_range *runs_ranges(const struct page_fill_proc *p)
{
	struct store_snap_range *ranges = calloc(p->nr_runs ? p->nr_runs : 1, sizeof(*ranges));
	size_t i;

	for (i = 0; ranges && i < p->nr_runs; i++)
		ranges[i] = (struct store_snap_range){ p->runs[i].off, p->runs[i].len };
	return ranges;
}

static int pages_fill(void *arg, const struct page_fill_proc *procs, uint32_t nr)
{
	struct repo_pages *pg = arg;
	struct store_snap_dest *dests = calloc(nr ? nr : 1, sizeof(*dests));
	uint32_t k;
	int rc = dests ? 0 : -ENOMEM;

	for (k = 0; !rc && k < nr; k++) {
		rc = check_runs(pg, &procs[k]);
		dests[k] = (struct store_snap_dest){ procs[k].pages, (void *)&procs[k],
						     runs_ranges(&procs[k]), procs[k].nr_runs };
		if (!rc && !dests[k].ranges)
			rc = -ENOMEM;
	}
	if (!rc)
		rc = store_snap_restore_deliver(pg->sr, dests, nr, write_runs);
	for (k = 0; dests && k < nr; k++)
		free((void *)dests[k].ranges);
	free(dests);
	return rc;
}

/* A lazy restore's page server (engine/lazy.c): a store handle of its own, reads, the working set. */
static int pages_reader_open(void *arg)
{
	struct repo_pages *pg = arg;

	return store_snap_restore_reader_open(pg->sr);
}

static int pages_read(void *arg, const char *pages, uint64_t off, void *buf, size_t len)
{
	struct repo_pages *pg = arg;

	return store_snap_restore_read(pg->sr, pages, off, buf, len);
}

static int pages_put(void *arg, const struct page_file *files, uint32_t nr)
{
	struct repo_pages *pg = arg;
	struct store_snap_file *sf = calloc(nr ? nr : 1, sizeof(*sf));
	uint32_t k;
	int rc;

	if (!sf)
		return -ENOMEM;
	for (k = 0; k < nr; k++)
		sf[k] = (struct store_snap_file){ files[k].name, files[k].data, files[k].len };
	rc = store_snap_restore_put(pg->sr, sf, nr);
	free(sf);
	return rc;
}

void repo_pages_init(struct repo_pages *pg, struct store_snap_restore *sr)
{
	pg->sr = sr;
	pg->source = (struct engine_page_source){ pages_start,	     pages_fill, pg,
						  pages_reader_open, pages_read, pages_put };
}
