/*
 * lazy.h - lazy restore: memory served on first touch by a page server
 * (docs/lazy-restore.md).
 *
 * restore.c creates one userfaultfd per process in its helper, the blob
 * registers the process's lazy VMAs with it instead of filling them, and
 * lazy_server_start() leaves behind a process, outside the restored PID
 * namespace, that answers the faults from pages.img and copies the rest in
 * the background until every page is in.
 */
#ifndef THAW_ENGINE_LAZY_H
#define THAW_ENGINE_LAZY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/image.h"

/*
 * Whether v's dumped pages are served lazily: private anonymous memory only,
 * and in a GPU process none that holds device state (image_gpu.state).
 */
bool lazy_vma_eligible(const struct image *img, const struct image_vma *v);

/*
 * A new userfaultfd for the calling process's memory, with the API
 * handshake done (the events the server follows: fork, mremap, madvise
 * removal, munmap; poisoning for pages it cannot supply).  Returns the fd
 * (O_CLOEXEC | O_NONBLOCK) or -errno, logged.
 */
int lazy_uffd_open(void);

/* One fd over a unix socket (SCM_RIGHTS); recv returns the fd, -EPIPE on EOF. */
int lazy_send_fd(int sock, int fd);
int lazy_recv_fd(int sock);

/*
 * Starts the page server for nr processes: imgs[k] (its runs and
 * pages_fd) with uffds[k].  It starts background copying once it reads the
 * word of lazy_server_go() on go_fd (the program runs), exits quietly on EOF there before that (the
 * restore failed), and writes 'd' on done_fd once every page is in, then
 * exits.  The server is a grandchild, in a session of its own: nothing waits
 * for it.  *ret_pid is its PID.  The caller keeps its own copies of every fd.
 *
 * The working set (docs/lazy-restore.md): when imgs[0], the tree's root,
 * holds one, its pages are copied first once the program runs; else, with
 * record_dir set (the snapshot's directory), the faults of a window after
 * the release are recorded, in order, and added to that snapshot.  With src
 * (a store), the server reads the pages and keeps the record through it.
 */
struct engine_page_source;
int lazy_server_start(struct image *const *imgs, const int *uffds, uint32_t nr, int go_fd,
		      int done_fd, const char *record_dir, const struct engine_page_source *src,
		      pid_t *ret_pid)
	__attribute__((warn_unused_result));

/* Bytes pid has written (/proc/PID/io wchar: to a pipe, socket or file); UINT64_MAX: unknown. */
uint64_t lazy_written_bytes(pid_t pid);

/*
 * Tells the server the program runs (one write on go_fd): its recording
 * window ends early once program (a PID as thaw sees it) has written more
 * than wchar0 bytes (lazy_written_bytes() before the release): the
 * program's first output.
 */
int lazy_server_go(int go_fd, pid_t program, uint64_t wchar0);

#endif
