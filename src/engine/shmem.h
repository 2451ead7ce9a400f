/*
 * shmem.h - shmem objects: shared anonymous memory and memfds.
 *
 * One object can be reached through many fds and many MAP_SHARED mappings;
 * it is dumped once, by inode, and recreated once at restore so that every
 * fd and mapping shares it again.
 */
#ifndef THAW_ENGINE_SHMEM_H
#define THAW_ENGINE_SHMEM_H

#include <stdint.h>
#include <sys/types.h>

#include "image/image.h"

/* Extents are cut into pieces of at most this size, so the dump buffer stays bounded. */
#define SHMEM_EXTENT_MAX (64u << 20)

/*
 * Dumps the object that path opens (/proc/PID/fd/N or
 * /proc/PID/map_files/START-END) unless inode ino is already in img->shmems.
 * Returns its index in img->shmems or -errno (logged).
 */
int shmem_dump(struct image *img, pid_t pid, const char *path, uint64_t ino)
	__attribute__((warn_unused_result));

/*
 * Creates every object of img->shmems, sized and filled, at fd numbers
 * >= min_fd (with FD_CLOEXEC), into shmem_fds[i].  memfds come back from
 * memfd_create() with their name; shared anonymous memory as an anonymous
 * MAP_SHARED object, so /proc shows it as "/dev/zero (deleted)" again.
 * Seals are not applied: the restorer must map first.  On error every fd
 * made so far is closed.
 */
struct fd_shared;
int shmem_restore(const struct image *img, int min_fd, int *shmem_fds,
		  const struct fd_shared *shared) __attribute__((warn_unused_result));
/* Makes shmem object i of img, filled, at a number >= min_fd; returns it or -errno. */
int shmem_create(const struct image *img, uint32_t i, int min_fd)
	__attribute__((warn_unused_result));

/* Adds the dumped seals of every memfd; called once every mapping exists. */
int shmem_apply_seals(const struct image *img, const int *shmem_fds)
	__attribute__((warn_unused_result));

/* Restore, in init: SysV segments with their ids; removal of those marked for it. */
int shmem_sysv_create(struct image *const *imgs, uint32_t nr)
	__attribute__((warn_unused_result));
void shmem_sysv_finish(struct image *const *imgs, uint32_t nr);

#endif
