/*
 * imagefs.h - program images as a lazy, content-addressed FUSE filesystem:
 * the layer's whole interface (docs/imagefs.md).
 *
 * An image is a directory tree packed into the chunk store (src/store/):
 * file contents are cut into the store's content-defined chunks (small files
 * packed together into shared chunks), and one index object describes every
 * path (type, mode, owner, size, mtime, xattrs, symlink target, hard links)
 * and where its bytes lie in which chunks.  The SHA-256 of the index is the
 * image's identity.  In the store an image is a store manifest with two
 * files, "imagefs.index" (the index bytes) and "imagefs.data" (every chunk
 * the index references, in the index's order), named "image:NAME"; so gc,
 * verify, push and pull of the store keep and copy images like snapshots.
 *
 * A mount reads only the index; a read fetches the chunks it needs through
 * the store's tiers (RAM, disk cache, remote), once per chunk however many
 * readers want it, each verified before anyone sees it.
 *
 * Functions return 0 or -errno and log once with the object named.
 */
#ifndef THAW_IMAGEFS_IMAGEFS_H
#define THAW_IMAGEFS_IMAGEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"

/* ---- the index (imagefs-index.c) ---- */

#define IMAGEFS_INDEX_VERSION 1
#define IMAGEFS_NAME_PREFIX "image:" /* an image NAME is the store name "image:NAME" */
#define IMAGEFS_FILE_INDEX "imagefs.index"
#define IMAGEFS_FILE_DATA "imagefs.data"
#define IMAGEFS_FILE_PREFETCH "imagefs.prefetch"

/* Bounds every reader enforces (docs/imagefs.md). */
#define IMAGEFS_INDEX_MAX (1024u << 20) /* bytes of one index */
#define IMAGEFS_MAX_INODES (1u << 24)
#define IMAGEFS_MAX_DIRENTS (1u << 24)
#define IMAGEFS_MAX_CHUNKS (1u << 24) /* = STORE_MAX_CHUNKS: the data file lists them all */
#define IMAGEFS_MAX_EXTENTS (1u << 26)
#define IMAGEFS_MAX_XATTRS (1u << 24)
#define IMAGEFS_NAME_MAX 255 /* bytes of one path component */
#define IMAGEFS_TARGET_MAX 4095 /* bytes of a symlink target */
#define IMAGEFS_XATTR_NAME_MAX 255
#define IMAGEFS_XATTR_VALUE_MAX 65536
#define IMAGEFS_HOLE UINT32_MAX /* an extent of zeros, in no chunk */

struct imagefs_chunk {
	struct store_digest digest; /* SHA-256 of the plaintext */
	uint32_t len;
};

/* A piece of a regular file: len bytes at off in a chunk, or zeros (IMAGEFS_HOLE). */
struct imagefs_extent {
	uint32_t chunk;
	uint32_t off;
	uint32_t len;
};

struct imagefs_dirent {
	uint32_t parent; /* inode number (index) of the directory */
	uint32_t ino; /* what the name names */
	uint32_t name_off, name_len; /* in the string table */
};

struct imagefs_xattr {
	uint32_t name_off, name_len, value_off, value_len; /* in the string table */
};

/* Inode 0 is the root directory. */
struct imagefs_inode {
	uint32_t mode; /* S_IFMT type and 07777 */
	uint32_t uid, gid, rdev;
	uint64_t size;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint32_t first, count; /* regular: extents; directory: dirents (sorted by name) */
	uint32_t first_xattr, nr_xattrs;
	uint32_t target_off, target_len; /* symlink target in the string table */
	/* derived by the reader, not stored */
	uint32_t nlink;
	uint32_t parent; /* directories: the directory holding it (root: itself) */
	uint64_t stored; /* regular: bytes in chunks (the rest is holes) */
};

struct imagefs_index {
	uint32_t nr_inodes, nr_dirents, nr_chunks, nr_extents, nr_xattrs;
	struct imagefs_inode *inodes;
	struct imagefs_dirent *dirents;
	struct imagefs_chunk *chunks;
	struct imagefs_extent *extents;
	struct imagefs_xattr *xattrs;
	char *strings; /* a copy; nothing in it is NUL-terminated */
	uint32_t strings_size;
	struct store_digest id; /* SHA-256 of the index bytes: the image's identity */
};

/*
 * Reads an index; every count, size, offset and name is checked (no "..",
 * no '/', no NUL, unique sorted names, extents inside their chunks and
 * adding up to the file's size, a tree reachable from the root).  On a
 * refusal, why says what and where (and nothing is logged: callers know the
 * context).
 */
int imagefs_index_parse(const void *data, size_t len, struct imagefs_index **ret, char *why,
			size_t why_len) __attribute__((warn_unused_result));
void imagefs_index_free(struct imagefs_index *ix);
/* Looks name up in directory dir; returns the inode or -ENOENT / -ENOTDIR. */
int64_t imagefs_lookup(const struct imagefs_index *ix, uint32_t dir, const char *name,
		       size_t len);
/* Resolves a '/'-separated path from the root without following symlinks. */
int64_t imagefs_resolve(const struct imagefs_index *ix, const char *path);

/* ---- images in a store (imagefs-push.c, imagefs-image.c) ---- */

struct imagefs_push_stats {
	uint64_t files, dirs, symlinks, others, hardlinks;
	uint64_t bytes; /* of regular files, holes included */
	uint64_t chunks; /* distinct chunks the image references */
	uint64_t chunk_bytes; /* their plaintext bytes */
	uint64_t index_bytes;
};

/*
 * Packs the tree at root (not crossing mount points) into the store as
 * image name; *ret_id is the index digest.  Pushing the same tree twice
 * stores nothing new.
 */
int imagefs_push(struct store *s, const char *root, const char *name,
		 struct imagefs_push_stats *stats, struct store_digest *ret_id)
	__attribute__((warn_unused_result));

/* An image read from a store: its manifest (holding the chunk refs) and index. */
struct imagefs_image {
	char *name;
	struct store_digest manifest;
	struct store_manifest *m;
	const struct store_file *data; /* the manifest's "imagefs.data": refs of index->chunks */
	struct imagefs_index *index;
	uint32_t *prefetch; /* chunk numbers a recorded start read, in order, or NULL */
	uint32_t nr_prefetch;
};
int imagefs_image_open(struct store *s, const char *name, struct imagefs_image **ret)
	__attribute__((warn_unused_result));
void imagefs_image_free(struct imagefs_image *img);
/* Image names in the store, sorted, without the prefix; free each and the array. */
int imagefs_image_list(struct store *s, char ***ret, size_t *nr)
	__attribute__((warn_unused_result));
/* Removes the name (the objects go at the next gc). */
int imagefs_image_remove(struct store *s, const char *name) __attribute__((warn_unused_result));
/* Keeps a recorded start (chunk numbers in order) with the image: a new manifest, same index. */
int imagefs_image_set_prefetch(struct store *s, const char *name, const uint32_t *chunks,
			       uint32_t n) __attribute__((warn_unused_result));
bool imagefs_name_valid(const char *name);

/* ---- the FUSE filesystem (imagefs-fuse.c) ---- */

struct imagefs_mount_opts {
	const struct store_config *store; /* where the image is (dir, url, cache, key...) */
	const char *name; /* the image */
	const char *mountpoint;
	uint64_t ram_limit; /* bytes of verified chunks kept in RAM; 0: 256 MiB */
	unsigned fetch_timeout_ms; /* a read waiting longer for a chunk answers EIO; 0: 60000 */
	unsigned threads; /* FUSE worker threads at most; 0: 16 */
	unsigned prefetch_threads; /* 0: 8; prefetch runs when the image has a recorded start */
	bool no_prefetch;
	const char *record; /* if set: write the chunk numbers first read, in order, here */
	int ready_fd; /* >= 0: one byte written once the mount answers, then closed */
	/*
	 * A mount shared by its users (thaw run --image): each holds a shared
	 * flock on idle_lock while it uses the mount; once no one has held it
	 * for idle_exit_s seconds the server detaches the mount and exits.
	 * A server that ends with the lock free removes its mount point, the
	 * lock, the pid file and an empty log (a user opening the lock checks
	 * that it is still the file at its path once it holds it).
	 */
	const char *idle_lock;
	unsigned idle_exit_s;
	const char *log_path; /* once mounted, the server's stderr appends here; NULL: as is */
	const char *pid_path; /* once mounted, the server's pid is written here */
	const struct store_digest *expect_id; /* if set: any other image under the name is refused */
};

/*
 * Serves the image at mountpoint in this process until it is unmounted
 * (or SIGTERM/SIGINT/SIGHUP).  A stale mount at mountpoint (a dead server's,
 * answering ENOTCONN) is detached first.  Returns 0 after a clean unmount.
 */
int imagefs_serve(const struct imagefs_mount_opts *o) __attribute__((warn_unused_result));

/*
 * Forks a server (imagefs_serve in a new session, holding no descriptor of
 * the caller's but its standard error) and returns once the mount answers,
 * with the server's pid; the caller owns that process (imagefs_umount ends
 * it).  On failure nothing is left mounted or running.
 */
int imagefs_mount_spawn(const struct imagefs_mount_opts *o, pid_t *ret_pid)
	__attribute__((warn_unused_result));

/* Unmounts (a busy mount is detached lazily); the server then exits. */
int imagefs_umount(const char *mountpoint) __attribute__((warn_unused_result));

#endif
