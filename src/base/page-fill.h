/*
 * page-fill.h - where a restored process's page data goes: runs of its
 * pages file and the addresses they fill.
 *
 * The engine hands these to a page source (engine.h, engine_page_source)
 * once the processes' memory is mapped; the store's snapshot reader
 * (store/store-snap.h) is one such source.  They live here, below both, so
 * that the store knows bytes and addresses and never the engine.
 */
#ifndef THAW_BASE_PAGE_FILL_H
#define THAW_BASE_PAGE_FILL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct page_fill_run {
	uint64_t off; /* in the process's pages file */
	uint64_t vaddr;
	uint64_t len;
};

struct page_fill_proc {
	pid_t pid; /* as the caller sees it */
	const char *pages; /* its pages file in the snapshot: "pages.img", "proc-PID/pages.img" */
	const struct page_fill_run *runs; /* sorted by off, none overlapping */
	size_t nr_runs;
};

#endif
