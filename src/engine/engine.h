/*
 * engine.h - the checkpoint/restore engine's whole interface.
 *
 * engine_dump() freezes a process, collects its state into a snapshot
 * image and kills it (or lets it run on).  engine_restore() recreates it in a
 * fresh PID namespace with its original PID and TIDs.  engine_check() probes
 * the kernel features both need.  See DESIGN.md, "The engine".
 */
#ifndef THAW_ENGINE_ENGINE_H
#define THAW_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>


struct image;

struct engine_dump_opts {
	pid_t pid; /* as the caller sees it */
	const char *dir; /* published atomically; must not exist yet */
	bool leave_running;
	/* fds not dumped but provided by whoever restores, at the same numbers */
	const int *external_fds;
	size_t nr_external_fds;
	unsigned gpu_lock_timeout_ms; /* CUDA processes; 0 = GPU_LOCK_TIMEOUT_MS (10 s) */
	bool tcp_close; /* established TCP connections come back reset, not a dump error */
	/*
	 * The process runs in a root its caller set up as the root of its mount
	 * namespace (thaw run --root/--image): /proc shows paths of that root,
	 * which thaw's own root does not reach.  They are kept as the process
	 * sees them (image_root.container), and only a restore with enter_root
	 * restores the snapshot.
	 */
	bool container_root;
	/*
	 * If set: called once the snapshot is published in dir, while the tree
	 * is still frozen, before it is killed or let go.  An error fails the
	 * dump (the tree runs on; dir stays, for the caller to remove).  dump
	 * --store names the snapshot in the store here, so that the program
	 * dies only once its snapshot has a name.
	 */
	int (*on_published)(void *arg);
	void *on_published_arg;
};

struct engine_dump_stats {
	double freeze_ms, collect_ms, write_ms, total_ms;
	unsigned long long pages_dumped, pages_zero, bytes_written;
};

int engine_dump(const struct engine_dump_opts *opts, struct engine_dump_stats *stats)
	__attribute__((warn_unused_result));

/* Where a restored process's page data goes: runs of its pages file and the addresses they fill. */
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

/* A small file of a snapshot, whole: the working set a lazy restore keeps (lazy.c). */
struct page_file {
	const char *name;
	const void *data;
	size_t len;
};

/*
 * Page data from somewhere other than pages.img: the store (repo/repo.h)
 * streams verified chunks straight into the restored memory, with no copy
 * of the snapshot in between.  engine_restore() calls start() (if set) once
 * the namespace's init exists, so that the source can decode on threads of
 * its own while the engine builds the processes (not before: init is made
 * by a raw clone3, which would copy a malloc lock one of them held), and
 * fill() in the caller's process once every process of the tree has mapped
 * its memory; fill() writes each process's data runs
 * into procs[k].pid (process_vm_writev).  Both return
 * 0 or a negative errno, which fails the restore: nothing of the tree
 * runs, the snapshot is untouched.
 */
struct engine_page_source {
	int (*start)(void *arg);
	int (*fill)(void *arg, const struct page_fill_proc *procs, uint32_t nr);
	void *arg;
	/*
	 * A lazy restore (engine_restore_opts.lazy) needs these too.  Then
	 * start is not called and fill gets only the runs outside lazy memory;
	 * the page server, a process of its own, calls reader_open once, then
	 * read for the bytes [off, off + len) of a pages file (its page runs,
	 * checked by their crc as pages.img's), and put once to keep the
	 * working set it recorded with the snapshot (NULL: none is kept).
	 */
	int (*reader_open)(void *arg);
	int (*read)(void *arg, const char *pages, uint64_t off, void *buf, size_t len);
	int (*put)(void *arg, const struct page_file *files, uint32_t nr);
};

struct engine_restore_opts {
	const char *dir;
	bool detach; /* return once the program runs again; init stays behind it */
	const char *pidfile; /* receives the program's PID as the caller sees it */
	bool die_with_caller; /* detached: init (and so the program) dies with the caller */
	pid_t *ret_init_pid; /* if set: the namespace's init, as the caller sees it */
	pid_t *ret_program_pid; /* if set: the program, as the caller sees it */
	/* if set: the snapshot in dir, already read by the caller; used, not freed */
	struct image *image;
	/* if set: called once the program runs again with its memory filled, before a
	 * foreground restore waits for it; the snapshot's files are no longer read
	 * (a caller that rebuilt them on tmpfs removes them here) */
	void (*on_restored)(void *arg);
	void *on_restored_arg;
	/* if set: the data runs come from here; pages.img is read for nothing else */
	const struct engine_page_source *pages;
	/*
	 * Before the restored tree runs, read its state back with the dump's own
	 * collectors and compare it with the snapshot; a difference fails the
	 * restore (the tree is killed) with a message naming the process and the
	 * field.  Costs time (README.md, "Restore"): off unless asked for.
	 */
	bool verify;
	/*
	 * Private anonymous memory is served on first touch by a page server
	 * left behind (lazy.c, docs/lazy-restore.md) instead of being filled
	 * before the program runs.  With pages only if it can read for the
	 * page server (engine_page_source).  A
	 * snapshot's first lazy restore records its working set into it
	 * (workset.idx); later ones copy that first.
	 */
	bool lazy;
	bool lazy_no_record; /* dir is a copy that goes away: record no working set there */
	/*
	 * If set: called in the restore's init (PID 1 of its new PID and mount
	 * namespaces, before any process of the tree exists) to set up the root
	 * the program ran in (engine_dump_opts.container_root, or a directory
	 * mounted beside the host's root) and enter it; the snapshot's files are
	 * then validated there, not in the caller's root.  It must not use
	 * locks another thread of the caller could hold (init is a raw clone).
	 * Returns 0 or -errno (logged): the restore fails.
	 */
	int (*enter_root)(void *arg);
	void *enter_root_arg;
};

/*
 * Restores the snapshot in dir.  In the foreground it returns once the
 * program has ended, with *ret_status its exit status (128+signal when
 * killed); with detach it returns once the program runs again.
 */
int engine_restore(const struct engine_restore_opts *opts, int *ret_status)
	__attribute__((warn_unused_result));

/* Prints one line per kernel feature; returns 0 when all are there, else -ENOSYS. */
int engine_check(FILE *out);

#endif
