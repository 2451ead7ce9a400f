/*
 * shmem.c - shmem objects (memfds, shared anonymous memory): dump once by
 * inode, recreate once, share between every fd and mapping.
 *
 * Dump reads the object through a fresh open of it (so seeking is ours to
 * do): SEEK_DATA/SEEK_HOLE find the pages ever written, and runs of zeros
 * inside them are left out too; both come back as holes, which read as zero.
 * Restore gives a memfd its name back (the program may look at
 * /proc/self/fd) and shared anonymous memory its "/dev/zero (deleted)"
 * identity, by creating it the way the kernel does: an anonymous MAP_SHARED
 * mapping, whose object is then opened through /proc/self/map_files.
 */
#define LOG_TAG "shmem"

#include "engine/shmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/fds.h"
#include "engine/proc.h"

static bool all_zero(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

/* Takes the name out of "/memfd:NAME (deleted)". */
static char *memfd_name(const char *link)
{
	static const char suffix[] = " (deleted)";
	size_t n = strlen(link), s = sizeof(suffix) - 1, p = strlen("/memfd:");

	if (n >= p + s && !strcmp(link + n - s, suffix))
		n -= s;
	return strndup(link + p, n - p);
}

struct extents {
	uint32_t nr, cap;
	struct image_shmem_extent *v;
};

static int add_extent(struct extents *x, uint64_t off, const struct image_blob *blob)
{
	struct image_shmem_extent *nv;

	if (x->nr >= IMAGE_MAX_VMAS)
		return -E2BIG;
	if (x->nr == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 16;
		nv = realloc(x->v, x->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		x->v = nv;
	}
	x->v[x->nr].off = off;
	x->v[x->nr].data = *blob;
	x->nr++;
	return 0;
}

/* Saves the non-hole, non-zero bytes of fd (size bytes) as extents. */
static int dump_extents(struct image *img, int fd, uint64_t size, const char *what,
			struct extents *x)
{
	size_t piece_max = SHMEM_EXTENT_MAX;
	char *buf;
	off_t data, hole;
	uint64_t off = 0;
	int ret = 0;

	buf = malloc(piece_max);
	if (!buf)
		return -ENOMEM;
	while (off < size) {
		data = lseek(fd, (off_t)off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0) {
			ret = log_errno("%s: SEEK_DATA at %llu", what, (unsigned long long)off);
			goto out;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			ret = log_errno("%s: SEEK_HOLE at %lld", what, (long long)data);
			goto out;
		}
		if ((uint64_t)hole > size)
			hole = (off_t)size;
		for (off = (uint64_t)data; off < (uint64_t)hole;) {
			size_t len = (uint64_t)hole - off < piece_max ? (size_t)((uint64_t)hole - off) :
									 piece_max;
			struct image_blob blob;
			ssize_t n = pread(fd, buf, len, (off_t)off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				ret = n < 0 ? log_errno("%s: read at %llu", what,
							(unsigned long long)off) :
					      -EIO;
				if (!n)
					log_error("%s: shrank while being saved", what);
				goto out;
			}
			if (!all_zero(buf, (size_t)n)) {
				ret = image_add_blob(img, buf, (size_t)n, &blob);
				if (!ret)
					ret = add_extent(x, off, &blob);
				if (ret) {
					log_error("%s: saving contents: %s", what, strerror(-ret));
					goto out;
				}
			}
			off += (uint64_t)n;
		}
	}
out:
	free(buf);
	return ret;
}

/* The name under which st's file is linked in pid's /dev/shm now, or NULL. */
static char *linked_name(pid_t pid, const struct stat *st)
{
	char dir[64], *name = NULL;
	struct dirent *e;
	struct stat est;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/root/dev/shm", pid);
	d = opendir(dir);
	if (!d)
		return NULL;
	while (!name && (e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    fstatat(dirfd(d), e->d_name, &est, AT_SYMLINK_NOFOLLOW) ||
		    est.st_ino != st->st_ino || est.st_dev != st->st_dev || !S_ISREG(est.st_mode))
			continue;
		if (asprintf(&name, "%s%s", IMAGE_SHMEM_DEV_SHM, e->d_name) < 0)
			name = NULL;
	}
	closedir(d);
	return name;
}

/* POSIX objects in /dev/shm and SysV segments: what restore needs to make them again. */
static int describe_kind(struct image_shmem *s, pid_t pid, const char *link, const struct stat *st)
{
	size_t len = strlen(link);

	if (!strncmp(link, "/SYSV", 5)) {
		struct shmid_ds ds;

		s->is_sysv = true;
		s->sysv_key = (int32_t)strtoul(link + 5, NULL, 16);
		s->sysv_id = (int32_t)s->ino; /* the kernel numbers a segment's inode by its id */
		s->mode = 0600;
		if (proc_same_ns(pid, getpid(), "ipc") && shmctl(s->sysv_id, IPC_STAT, &ds) == 0)
			s->mode = ds.shm_perm.mode & (0777 | SHM_DEST);
		return 0;
	}
	if (strncmp(link, IMAGE_SHMEM_DEV_SHM, strlen(IMAGE_SHMEM_DEV_SHM)))
		return 0;
	s->is_deleted = st->st_nlink == 0;
	if (len > 10 && !strcmp(link + len - 10, " (deleted)")) {
		len -= 10;
		/* sem_open maps a temporary name, then links the file as sem.NAME */
		if (!s->is_deleted && !(s->path = linked_name(pid, st)))
			s->is_deleted = true;
	}
	if (!s->path)
		s->path = strndup(link, len);
	s->mode = st->st_mode & 07777;
	if (!s->path)
		return -ENOMEM;
	if (strchr(s->path + strlen(IMAGE_SHMEM_DEV_SHM), '/')) {
		log_error("pid %d: %s: shared memory in a subdirectory of /dev/shm is not supported",
			  pid, s->path);
		return -ENOTSUP;
	}
	return 0;
}

int shmem_dump(struct image *img, pid_t pid, const char *path, uint64_t ino)
{
	struct extents x = { 0 };
	struct image_shmem *s;
	char link[PATH_MAX], what[PATH_MAX + 64];
	struct statfs sfs;
	struct stat st;
	char *name = NULL;
	bool is_memfd;
	int fd, seals, ret;
	ssize_t n;
	uint32_t i;

	for (i = 0; i < img->nr_shmems; i++)
		if (img->shmems[i].ino == ino)
			return (int)i;
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return log_errno("pid %d: readlink %s", pid, path);
	link[n] = '\0';
	snprintf(what, sizeof(what), "pid %d %s (%s)", pid, path, link);
	is_memfd = !strncmp(link, "/memfd:", 7);
	if (!is_memfd && strncmp(link, "/dev/zero", 9) && strncmp(link, "/SYSV", 5) &&
	    strncmp(link, IMAGE_SHMEM_DEV_SHM, strlen(IMAGE_SHMEM_DEV_SHM))) {
		log_error("%s: this kind of shared memory is not supported", what);
		return -ENOTSUP;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno("%s: open", what);
	if (fstat(fd, &st)) {
		ret = log_errno("%s: fstat", what);
		goto out;
	}
	if (st.st_ino != ino) {
		log_error("%s: inode %llu, expected %llu", what, (unsigned long long)st.st_ino,
			  (unsigned long long)ino);
		ret = -ESTALE;
		goto out;
	}
	if (!fstatfs(fd, &sfs) && sfs.f_type == HUGETLBFS_MAGIC) {
		log_error("%s: hugetlb memory is not supported yet", what);
		ret = -ENOTSUP;
		goto out;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		seals = 0;
	if (is_memfd) {
		name = memfd_name(link);
		if (!name) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = dump_extents(img, fd, (uint64_t)st.st_size, what, &x);
	if (ret)
		goto out;
	s = image_new_shmem(img);
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	s->ino = ino;
	s->size = (uint64_t)st.st_size;
	s->is_memfd = is_memfd;
	s->mode = is_memfd ? st.st_mode & 07777 : 0;
	s->name = name;
	s->seals = (uint32_t)seals;
	s->nr_extents = x.nr;
	s->extents = x.v;
	name = NULL;
	x.v = NULL;
	ret = describe_kind(s, pid, link, &st);
	if (ret < 0)
		goto out;
	if (s->is_memfd || s->path) {
		s->uid = st.st_uid;
		s->gid = st.st_gid;
	}
	ret = (int)(s - img->shmems);
	log_debug("%s: %llu bytes in %u extents, seals %#x", what, (unsigned long long)st.st_size,
		  s->nr_extents, s->seals);
out:
	free(name);
	free(x.v);
	close(fd);
	return ret;
}

/* Shared anonymous memory, made the way mmap(MAP_SHARED|MAP_ANONYMOUS) makes it. */
static int create_anon_shared(uint64_t size)
{
	char path[64];
	void *addr;
	int fd, err;

	if (!size || size % IMAGE_PAGE_SIZE || size > (1ull << 46))
		return -EINVAL;
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (addr == MAP_FAILED)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)addr,
		 (unsigned long)addr + size);
	fd = open(path, O_RDWR | O_CLOEXEC);
	err = errno;
	munmap(addr, size);
	return fd < 0 ? -err : fd;
}

static int fill(const struct image *img, const struct image_shmem *s, int fd)
{
	uint32_t i;
	void *data;
	int ret;

	for (i = 0; i < s->nr_extents; i++) {
		const struct image_shmem_extent *x = &s->extents[i];
		uint64_t done = 0;

		if (x->off > s->size || x->data.len > s->size - x->off)
			return -EINVAL;
		ret = image_read_blob(img, &x->data, &data);
		if (ret)
			return ret;
		while (done < x->data.len) {
			ssize_t n = pwrite(fd, (char *)data + done, x->data.len - done,
					   (off_t)(x->off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				ret = n < 0 ? -errno : -EIO;
				free(data);
				return ret;
			}
			done += (uint64_t)n;
		}
		free(data);
	}
	return 0;
}

/*
 * A POSIX object in the restore's private /dev/shm (restore.c mounts it):
 * at its name, or, unlinked, made at its name (or beside it) and unlinked.
 */
static int create_posix(const struct image_shmem *s)
{
	char path[300];
	int fd, n;

	if (!s->is_deleted) {
		fd = open(s->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, s->mode & 0777);
		if (fd < 0)
			return log_errno("recreating %s", s->path);
	} else {
		snprintf(path, sizeof(path), "%s", s->path);
		for (n = 0;; n++) {
			fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				  s->mode & 0777);
			if (fd >= 0 || errno != EEXIST || n == 100)
				break;
			snprintf(path, sizeof(path), "%s.%d", s->path, n);
		}
		if (fd < 0)
			return log_errno("recreating %s (deleted)", s->path);
		unlink(path);
	}
	if (fchown(fd, s->uid, s->gid) || fchmod(fd, s->mode & 07777) ||
	    ftruncate(fd, (off_t)s->size)) {
		n = log_errno("recreating %s: owner %u:%u, size %llu", s->path, s->uid, s->gid,
			      (unsigned long long)s->size);
		close(fd);
		return n;
	}
	return fd;
}

/* Makes shmem object i of img, filled, at a number >= min_fd. */
int shmem_create(const struct image *img, uint32_t i, int min_fd)
{
	const struct image_shmem *s = &img->shmems[i];
	const char *what = s->is_memfd ? "memfd" : "shared memory";
	int fd, moved, ret;

	if (s->path) {
		fd = create_posix(s);
		if (fd < 0)
			return fd;
	} else if (s->is_memfd) {
		fd = memfd_create(s->name ? s->name : "", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			return log_errno("shmem %u: memfd_create \"%s\"", i, s->name ? s->name : "");
		/*
		 * memfd_create() makes it 0777 and thaw's; the program may have
		 * changed that (fchmod, fchown), and it may run as someone else
		 */
		if (ftruncate(fd, (off_t)s->size) || fchown(fd, s->uid, s->gid) ||
		    fchmod(fd, s->mode & 07777)) {
			ret = log_errno("shmem %u: memfd size %llu, owner %u:%u, mode %04o", i,
					(unsigned long long)s->size, s->uid, s->gid, s->mode & 07777);
			close(fd);
			return ret;
		}
	} else {
		fd = create_anon_shared(s->size);
		if (fd < 0) {
			log_error("shmem %u: shared memory of %llu bytes: %s", i,
				  (unsigned long long)s->size, strerror(-fd));
			return fd;
		}
	}
	ret = fill(img, s, fd);
	if (ret) {
		log_error("shmem %u (%s): filling: %s", i, what, strerror(-ret));
		close(fd);
		return ret;
	}
	moved = fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
	if (moved < 0)
		ret = log_errno("shmem %u: moving above fd %d", i, min_fd);
	close(fd);
	return moved < 0 ? ret : moved;
}

int shmem_restore(const struct image *img, int min_fd, int *shmem_fds, const struct fd_shared *sh)
{
	uint32_t i;
	int ret = 0;

	for (i = 0; i < img->nr_shmems; i++)
		shmem_fds[i] = -1;
	for (i = 0; i < img->nr_shmems; i++) {
		int shared = fd_shared_find(sh, FD_SHARED_SHMEM, img->shmems[i].ino);

		if (img->shmems[i].is_sysv)
			continue; /* made by init, attached by the restorer */
		/* one object for every process of the tree that maps or holds it */
		if (shared >= 0)
			shmem_fds[i] = fcntl(shared, F_DUPFD_CLOEXEC, min_fd);
		else
			shmem_fds[i] = shmem_create(img, i, min_fd);
		if (shmem_fds[i] < 0) {
			ret = shared >= 0 ? log_errno("shmem %u: dup", i) : shmem_fds[i];
			shmem_fds[i] = -1;
			goto fail;
		}
	}
	return 0;
fail:
	for (i = 0; i < img->nr_shmems; i++)
		if (shmem_fds[i] >= 0) {
			close(shmem_fds[i]);
			shmem_fds[i] = -1;
		}
	return ret;
}

int shmem_apply_seals(const struct image *img, const int *shmem_fds)
{
	uint32_t i;

	for (i = 0; i < img->nr_shmems; i++) {
		const struct image_shmem *s = &img->shmems[i];

		int cur;

		if (!s->is_memfd || !s->seals)
			continue;
		/* a memfd shared in a tree is sealed once */
		cur = fcntl(shmem_fds[i], F_GET_SEALS);
		if (cur >= 0 && ((uint32_t)cur & s->seals) == s->seals)
			continue;
		if (fcntl(shmem_fds[i], F_ADD_SEALS, s->seals))
			return log_errno("shmem %u: memfd \"%s\": adding seals %#x", i,
					 s->name ? s->name : "", s->seals);
	}
	return 0;
}

/*
 * SysV segments, in init's fresh IPC namespace: each with its id (through
 * shm_next_id), key, mode and contents.  Segments of several processes are
 * made once.
 */
int shmem_sysv_create(struct image *const *imgs, uint32_t nr)
{
	uint32_t k, i, j;
	int ret;

	for (k = 0; k < nr; k++)
		for (i = 0; i < imgs[k]->nr_shmems; i++) {
			const struct image_shmem *s = &imgs[k]->shmems[i];
			struct shmid_ds ds;
			char id[16];
			void *at;
			int fd, got;

			if (!s->is_sysv || shmctl(s->sysv_id, IPC_STAT, &ds) == 0)
				continue;
			fd = open("/proc/sys/kernel/shm_next_id", O_WRONLY | O_CLOEXEC);
			j = (uint32_t)snprintf(id, sizeof(id), "%d", s->sysv_id);
			if (fd < 0 || write(fd, id, j) != (ssize_t)j) {
				ret = log_errno("SysV segment %d: setting shm_next_id", s->sysv_id);
				if (fd >= 0)
					close(fd);
				return ret;
			}
			close(fd);
			got = shmget(s->sysv_key ? s->sysv_key : IPC_PRIVATE, s->size,
				     IPC_CREAT | IPC_EXCL | (int)(s->mode & 0777));
			if (got != s->sysv_id) {
				log_error("SysV segment %d (key 0x%x): made as %d: %s", s->sysv_id,
					  (unsigned)s->sysv_key, got, got < 0 ? strerror(errno) : "");
				return got < 0 ? -errno : -EEXIST;
			}
			at = shmat(got, NULL, 0);
			if (at == (void *)-1)
				return log_errno("SysV segment %d: attaching to fill it", got);
			ret = 0;
			for (j = 0; ret == 0 && j < s->nr_extents; j++) {
				const struct image_shmem_extent *x = &s->extents[j];
				void *data;

				if (x->off > s->size || x->data.len > s->size - x->off) {
					ret = -EINVAL;
					break;
				}
				ret = image_read_blob(imgs[k], &x->data, &data);
				if (ret == 0) {
					memcpy((char *)at + x->off, data, x->data.len);
					free(data);
				}
			}
			shmdt(at);
			if (ret < 0) {
				log_error("SysV segment %d: filling: %s", got, strerror(-ret));
				return ret;
			}
		}
	return 0;
}

/* Segments the program had marked for removal go once every process is attached. */
void shmem_sysv_finish(struct image *const *imgs, uint32_t nr)
{
	uint32_t k, i;

	for (k = 0; k < nr; k++)
		for (i = 0; i < imgs[k]->nr_shmems; i++) {
			const struct image_shmem *s = &imgs[k]->shmems[i];

			if (s->is_sysv && (s->mode & SHM_DEST))
				shmctl(s->sysv_id, IPC_RMID, NULL);
		}
}
