/*
 * root.c - thaw run --root DIR[:PATH]: the program's files from a tree of
 * its own, under a writable overlay that is thrown away.
 *
 * thaw run first moves into a mount namespace of its own (nothing it
 * mounts is ever seen by the host, and everything goes when its last
 * process does, SIGKILL included) and mounts a tmpfs on a locked directory
 * /run/thaw/roots/root-XXXXXX (what a killed thaw run leaves there is an
 * empty directory, swept by the next one).  Every init it makes (the cold
 * start's, and the engine's at a restore, through enter_root) is a copy of
 * that namespace and builds the program's root in it:
 *
 *   - a fresh tmpfs of its own holds the overlay's upper and work
 *     directories: whatever the program writes dies with its namespace;
 *   - the tree is the overlay's lower layer, mounted as the root of the
 *     namespace with /proc (of the program's PID namespace), a minimal /dev
 *     as a container has one (null zero full random urandom tty, pts, shm,
 *     fd and stdio links), /sys read-only and /tmp on tmpfs, the Python SDK
 *     read-only at /run/thaw/python; then pivot_root, and the old root is
 *     detached: the host's files are out of the program's reach;
 *   - or, with :PATH, the overlay is mounted at PATH beside the host's root
 *     (a venv, a model directory) and nothing else changes.
 *
 * The program sees the same paths on every start and at every restore, so
 * the engine's paths (from /proc, as the program sees them) mean the same
 * thing when it restores.  thaw run itself resolves those paths inside the
 * tree (openat2 RESOLVE_IN_ROOT, so absolute links stay inside it) to
 * check a snapshot before restoring; with :PATH it binds the tree at PATH
 * in its own namespace and sees what the program sees.
 */
#define LOG_TAG "run"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/dirs.h"
#include "base/log.h"
#include "imagefs/imagefs.h"
#include "runtime-internal.h"

#define ROOTS_DIR "/run/thaw/roots"
#define ROOTS_PREFIX "root-"
#define SDK_IN_ROOT "/run/thaw/python"
#define IMAGES_DIR "/run/thaw/images"
#define IMAGE_KEEP_DEFAULT 600
#define FUSE_MAGIC 0x65735546

/* Absolute, no "." or ".." component, nothing the overlay's option string would split on. */
static bool plain_path(const char *p)
{
	const char *c;

	if (p[0] != '/' || strpbrk(p, ",:\\\n"))
		return false;
	for (c = p; c; c = strchr(c + 1, '/'))
		if (!strncmp(c, "/./", 3) || !strcmp(c, "/.") || !strncmp(c, "/../", 4) ||
		    !strcmp(c, "/..") || !strncmp(c, "//", 2))
			return false;
	return true;
}

/*
 * thaw run's own mount namespace (before any thread exists: unshare
 * refuses a process whose threads share its filesystem context) and the
 * tmpfs on its locked directory.
 */
static int setup_ns(struct run_root *rr)
{
	int ret;

	/* what killed thaw runs left: empty directories (their mounts died with them) */
	sweep_locked_dirs(ROOTS_DIR, ROOTS_PREFIX, 1);
	ret = make_dirs(ROOTS_DIR);
	if (ret < 0) {
		log_error("--root: cannot create %s: %s", ROOTS_DIR, strerror(-ret));
		return ret;
	}
	snprintf(rr->base, sizeof(rr->base), "%s/%sXXXXXX", ROOTS_DIR, ROOTS_PREFIX);
	ret = make_locked_dir(rr->base, &rr->lock);
	if (ret < 0) {
		log_error("--root: cannot create a directory in %s: %s", ROOTS_DIR, strerror(-ret));
		return ret;
	}
	/* from here on nothing thaw run mounts is the host's */
	if (unshare(CLONE_NEWNS) < 0) {
		ret = log_errno("--root: a mount namespace for thaw run");
		return ret;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("thaw-root", rr->base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0) {
		ret = log_errno("--root: mounting a tmpfs on %s", rr->base);
		return ret;
	}
	{
		char p[96];

		snprintf(p, sizeof(p), "%s/scratch", rr->base);
		if (mkdir(p, 0700) < 0) {
			ret = log_errno("--root: %s", p);
			return ret;
		}
	}
	return 0;
}

static void root_init(struct run_root *rr)
{
	memset(rr, 0, sizeof(*rr));
	rr->lock = -1;
	rr->lower_fd = -1;
	rr->server = -1;
	rr->image_lock = -1;
}

/* :PATH of --root or --image: a directory of the host to mount the tree on. */
static int set_mountpoint(struct run_root *rr, const char *opt, const char *spec, const char *path)
{
	struct stat st;

	if (!plain_path(path) || !strcmp(path, "/") || strlen(path) >= sizeof(rr->mountpoint)) {
		log_error("%s %s: %s is not a plain absolute path below /", opt, spec, path);
		return -EINVAL;
	}
	snprintf(rr->mountpoint, sizeof(rr->mountpoint), "%s", path);
	if (stat(rr->mountpoint, &st) || !S_ISDIR(st.st_mode)) {
		log_error("%s %s: %s is not a directory on this host (make one, empty, to mount "
			  "the tree on)", opt, spec, rr->mountpoint);
		return -ENOTDIR;
	}
	return 0;
}

/*
 * A fresh rr for spec (DIR or NAME, then :PATH): its head into head, the
 * mount point checked, the SDK noted.
 */
static int parse_spec(struct run_root *rr, const char *opt, const char *spec, char *head,
		      size_t len, const char *sdk)
{
	char *colon;

	root_init(rr);
	if (sdk && sdk[0] && plain_path(sdk))
		snprintf(rr->sdk, sizeof(rr->sdk), "%s", sdk);
	snprintf(head, len, "%s", spec);
	colon = strchr(head, ':');
	if (!colon)
		return 0;
	*colon = '\0';
	return set_mountpoint(rr, opt, spec, colon + 1);
}

/*
 * The mount flags of lower that the overlay must keep: it is a mount of its
 * own, and would otherwise honour setuid bits and device nodes its lower
 * layer does not (an image's FUSE mount is nosuid,nodev: a device node an
 * image brings, a host's disk left mode 0666, would open in the program).
 */
static int lower_mount_flags(struct run_root *rr)
{
	struct statfs sf;

	if (fstatfs(rr->lower_fd, &sf) < 0)
		return log_errno("%s: statfs", rr->lower);
	rr->lower_flags = ((sf.f_flags & ST_NOSUID) ? MS_NOSUID : 0) |
			  ((sf.f_flags & ST_NODEV) ? MS_NODEV : 0) |
			  ((sf.f_flags & ST_NOEXEC) ? MS_NOEXEC : 0);
	return 0;
}

/* thaw run sees at PATH what the program sees, less what it writes. */
static int bind_mountpoint(struct run_root *rr)
{
	if (rr->mountpoint[0] &&
	    (mount(rr->lower, rr->mountpoint, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	     mount(NULL, rr->mountpoint, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | rr->lower_flags,
		   NULL) < 0))
		return log_errno("binding %s at %s", rr->lower, rr->mountpoint);
	return 0;
}

int root_prepare(struct run_root *rr, const char *spec, const char *sdk)
{
	char dir[PATH_MAX], *real = NULL;
	struct stat st;
	int ret;

	ret = parse_spec(rr, "--root", spec, dir, sizeof(dir), sdk);
	if (ret < 0)
		return ret;
	real = realpath(dir, NULL);
	if (!real || stat(real, &st) || !S_ISDIR(st.st_mode)) {
		log_error("--root %s: %s is not a directory", spec, dir);
		free(real);
		return -ENOTDIR;
	}
	if (!plain_path(real) || !strcmp(real, "/") || strlen(real) >= sizeof(rr->lower)) {
		log_error("--root %s: %s cannot be an overlay's lower layer (',', ':' or '\\' in "
			  "it, or the host's root)", spec, real);
		free(real);
		return -EINVAL;
	}
	snprintf(rr->lower, sizeof(rr->lower), "%s", real);
	free(real);
	rr->lower_fd = open(rr->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rr->lower_fd < 0)
		return log_errno("--root: opening %s", rr->lower);
	ret = lower_mount_flags(rr);
	if (ret < 0)
		goto fail;

	ret = setup_ns(rr);
	if (ret < 0)
		goto fail;
	ret = bind_mountpoint(rr);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	root_release(rr);
	return ret;
}

void root_release(struct run_root *rr)
{
	int status;

	/* the image's server: its mount is this namespace's, and goes with it anyway */
	if (rr->server > 0) {
		/* the server unmounts its filesystem as it ends; nothing else may hold it */
		if (rr->mountpoint[0])
			umount2(rr->mountpoint, MNT_DETACH);
		kill(rr->server, SIGTERM);
		while (waitpid(rr->server, &status, 0) < 0 && errno == EINTR)
			;
		rr->server = -1;
	}
	if (rr->image_lock >= 0)
		close(rr->image_lock); /* the shared mount may go once no one else holds it */
	rr->image_lock = -1;
	imagefs_image_free(rr->image);
	rr->image = NULL;
	store_close(rr->store);
	rr->store = NULL;
	if (rr->lower_fd >= 0)
		close(rr->lower_fd);
	rr->lower_fd = -1;
	/*
	 * The tmpfs is this namespace's: it goes with its last process.  The
	 * directory under it is the host's; a sweep takes it if this fails.
	 */
	if (rr->base[0]) {
		umount2(rr->base, MNT_DETACH);
		if (rmdir(rr->base) < 0 && errno != ENOENT)
			log_debug("%s stays until the next --root sweeps it: %s", rr->base,
				  strerror(errno));
	}
	if (rr->lock >= 0)
		close(rr->lock);
	rr->lock = -1;
	rr->base[0] = '\0';
}

/* ------------------------------------------------- inside the namespace */

/*
 * The functions below run in an init made by a raw clone (the engine's at
 * a restore): stack buffers and system calls only.
 */

static int fail(const char *what, const char *path)
{
	int err = errno;

	log_error("setting up the program's root: %s %s: %s", what, path, strerror(err));
	return -err;
}

/* mkdir -p of dir/rel, rel relative. */
static int mkdir_in(const char *dir, const char *rel, mode_t mode)
{
	char p[2 * PATH_MAX];
	size_t i, len;

	len = (size_t)snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if (len >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return fail("mkdir", rel);
	}
	for (i = strlen(dir) + 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return fail("mkdir", p);
		p[i] = i < len ? '/' : '\0';
	}
	return 0;
}

static int mount_in(const char *root, const char *rel, const char *src, const char *type,
		    unsigned long flags, const char *data)
{
	char p[2 * PATH_MAX];

	if (mkdir_in(root, rel, 0755) < 0)
		return -errno;
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (mount(src, p, type, flags, data) < 0)
		return fail("mounting on", p);
	return 0;
}

/* The /dev of a container: a tmpfs with the harmless devices, pts and shm. */
static int make_dev(const char *root)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} nodes[] = { { "null", 1, 3 },	   { "zero", 1, 5 }, { "full", 1, 7 },
		      { "random", 1, 8 },  { "urandom", 1, 9 }, { "tty", 5, 0 } };
	static const struct {
		const char *name, *target;
	} links[] = { { "fd", "/proc/self/fd" },	   { "stdin", "/proc/self/fd/0" },
		      { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
		      { "ptmx", "pts/ptmx" } };
	char dev[PATH_MAX + 8], p[PATH_MAX + 64];
	size_t i;
	int ret;

	ret = mount_in(root, "dev", "thaw-dev", "tmpfs", MS_NOSUID | MS_STRICTATIME,
		       "mode=755,size=65536k");
	if (ret < 0)
		return ret;
	snprintf(dev, sizeof(dev), "%s/dev", root);
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dev, nodes[i].name);
		if (mknod(p, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0 ||
		    chmod(p, 0666) < 0)
			return fail("mknod", p);
	}
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dev, links[i].name);
		if (symlink(links[i].target, p) < 0)
			return fail("symlink", p);
	}
	ret = mount_in(dev, "pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
		       "newinstance,ptmxmode=0666,mode=0620,gid=5");
	if (ret == 0)
		ret = mount_in(dev, "shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			       "mode=1777,size=65536k");
	return ret;
}

int root_enter(void *arg)
{
	const struct run_root *rr = arg;
	char scratch[96], root[128], opts[PATH_MAX + 256], sdk[192];
	const char *target;
	int ret;

	/* this namespace's own: what the program writes goes with it */
	snprintf(scratch, sizeof(scratch), "%s/scratch", rr->base);
	if (mount("thaw-scratch", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
		return fail("mounting a tmpfs on", scratch);
	if (mkdir_in(scratch, "upper", 0755) < 0 || mkdir_in(scratch, "work", 0700) < 0 ||
	    mkdir_in(scratch, "root", 0755) < 0)
		return -errno;
	snprintf(root, sizeof(root), "%s/root", scratch);
	/* :PATH: the tree is bound there already (root_prepare); the overlay goes on top */
	target = rr->mountpoint[0] ? rr->mountpoint : root;
	if ((size_t)snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s/upper,workdir=%s/work",
			     rr->lower, scratch, scratch) >= sizeof(opts)) {
		errno = ENAMETOOLONG;
		return fail("overlay on", target);
	}
	if (mount("overlay", target, "overlay", rr->lower_flags, opts) < 0)
		return fail("mounting the overlay on", target);
	if (rr->mountpoint[0])
		return 0;

	ret = mount_in(root, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (ret == 0)
		ret = make_dev(root);
	if (ret == 0)
		ret = mount_in(root, "sys", "sysfs", "sysfs",
			       MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (ret == 0)
		ret = mount_in(root, "tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	if (ret == 0 && rr->sdk[0]) {
		ret = mount_in(root, SDK_IN_ROOT + 1, rr->sdk, NULL, MS_BIND | MS_REC, NULL);
		snprintf(sdk, sizeof(sdk), "%s%s", root, SDK_IN_ROOT);
		if (ret == 0 &&
		    mount(NULL, sdk, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL) < 0)
			ret = fail("making read-only", sdk);
	}
	if (ret < 0)
		return ret;
	/* the old root goes on top of the new one, and is then detached */
	if (chdir(root) < 0)
		return fail("chdir", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail("pivot_root to", root);
	if (umount2(".", MNT_DETACH) < 0)
		return fail("detaching the host's root from", root);
	if (chdir("/") < 0)
		return fail("chdir", "/");
	return 0;
}

/* ---------------------------------------------- paths as the program sees them */

const char *root_python_sdk(const struct run_root *rr)
{
	if (!rr->sdk[0])
		return NULL;
	return rr->mountpoint[0] ? rr->sdk : SDK_IN_ROOT;
}

int root_open(const struct run_root *rr, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd;

	if (!rr || rr->mountpoint[0]) {
		fd = open(path, flags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	fd = (int)syscall(SYS_openat2, rr->lower_fd, path, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

int root_stat(const struct run_root *rr, const char *path, struct stat *st)
{
	int fd = root_open(rr, path, O_PATH), ret = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The path inside the tree of what fd (opened by root_open) is; caller frees. */
static char *path_in_root(const struct run_root *rr, int fd)
{
	char link[64], host[PATH_MAX];
	size_t n = strlen(rr->lower);
	ssize_t len;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, host, sizeof(host) - 1);
	if (len < 0)
		return NULL;
	host[len] = '\0';
	if (rr->mountpoint[0])
		return strdup(host);
	if (strncmp(host, rr->lower, n) || (host[n] != '/' && host[n] != '\0'))
		return NULL;
	return strdup(host[n] ? host + n : "/");
}

char *root_find_exe(const struct run_root *rr, const char *cmd)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path || strchr(cmd, '/')) {
		const char *end = strchrnul(path, ':');
		int n = (int)(end - path), fd;
		struct stat st;

		if (strchr(cmd, '/'))
			snprintf(buf, sizeof(buf), "%s%s", cmd[0] == '/' ? "" : "/", cmd);
		else
			snprintf(buf, sizeof(buf), "%.*s/%s", n ? n : 1, n ? path : "/", cmd);
		fd = root_open(rr, buf, O_PATH);
		if (fd >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
			char *out = path_in_root(rr, fd);

			close(fd);
			return out;
		}
		if (fd >= 0)
			close(fd);
		if (strchr(cmd, '/'))
			return NULL;
		path = *end ? end + 1 : end;
	}
	return NULL;
}

/* ------------------------------------------------------------ --image */

/*
 * The image's FUSE server: a child of thaw run that dies with it
 * (PR_SET_PDEATHSIG), in its own process group (a terminal's ^C is the
 * program's business, not the filesystem's), serving the image at
 * base/image in thaw run's namespace, which every init copies.
 */
static int start_server(struct run_root *rr, const struct store_config *cfg, const char *name)
{
	struct imagefs_mount_opts o = { .store = cfg, .name = name, .mountpoint = rr->lower,
					 .expect_id = &rr->image->index->id };
	int p[2], status;
	ssize_t n;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return log_errno("pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return log_errno("fork");
	}
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		setpgid(0, 0);
		/* its "mounted" line is not the program's run's business; -v shows it */
		if (log_max_level == LOG_INFO)
			log_max_level = LOG_WARN;
		o.ready_fd = p[1];
		_exit(imagefs_serve(&o) ? 1 : 0);
	}
	close(p[1]);
	do
		n = read(p[0], &c, 1);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == 1) {
		rr->server = pid;
		return 0;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	log_error("--image %s: the image could not be mounted", name);
	return -EIO;
}

/*
 * A shared mount (thaw run --image without --image-keep 0).  Once its
 * image is mounted, the page cache of its files outlives any one run, as a
 * host's own files' does: a restored start maps torch's libraries from
 * pages that are already there instead of reading them through FUSE again.
 *
 * /run/thaw/images/KEY, KEY a digest of the image's identity and of where
 * its bytes come from (store, cache, key file), is mounted in the host's
 * namespace by a server of its own (imagefs_mount_spawn: a new session,
 * none of thaw run's descriptors), before thaw run moves into its
 * namespace, which then holds a copy of it.  KEY.lock orders its users:
 * whoever mounts holds it exclusively, and every thaw run holds it shared
 * while it lives; the server detaches the mount and ends once it has been
 * free for keep seconds (imagefs-fuse.c).  KEY.pid names the server,
 * KEY.log has what it says once mounted.
 */
static void shared_key(const char *id, const struct store_config *cfg, char key[33])
{
	char buf[4 * PATH_MAX + 128], hex[65];
	int n;

	n = snprintf(buf, sizeof(buf), "%s\n%s\n%s\n%s\n%s", id, cfg->dir ? cfg->dir : "",
		     cfg->url ? cfg->url : "", cfg->s3_endpoint ? cfg->s3_endpoint : "",
		     cfg->key_file ? cfg->key_file : "");
	runtime_sha256_hex(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1, hex);
	memcpy(key, hex, 32);
	key[32] = '\0';
}

/* Mounts the image shared, or finds it mounted: rr->lower, rr->image_lock held shared. */
static int shared_mount(struct run_root *rr, const struct store_config *cfg, unsigned keep)
{
	struct imagefs_mount_opts o = { .store = cfg, .name = rr->image_name, .ready_fd = -1 };
	char key[33], lockp[PATH_MAX + 8], logp[PATH_MAX + 8], pidp[PATH_MAX + 8];
	int ret, level = log_max_level;
	struct statfs sf;
	pid_t pid;

	shared_key(rr->image_id, cfg, key);
	snprintf(rr->lower, sizeof(rr->lower), "%s/%s", IMAGES_DIR, key);
	snprintf(lockp, sizeof(lockp), "%s.lock", rr->lower);
	snprintf(logp, sizeof(logp), "%s.log", rr->lower);
	snprintf(pidp, sizeof(pidp), "%s.pid", rr->lower);
	ret = make_dirs(IMAGES_DIR);
	if (ret < 0) {
		log_error("--image: cannot create %s: %s", IMAGES_DIR, strerror(-ret));
		return ret;
	}
	/* the lock at its path once held: a server that ended may have removed it */
	for (;;) {
		struct stat held, now;

		rr->image_lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (rr->image_lock < 0 || flock(rr->image_lock, LOCK_EX) < 0 ||
		    fstat(rr->image_lock, &held) < 0)
			return log_errno("--image: %s", lockp);
		if (stat(lockp, &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev)
			break;
		close(rr->image_lock);
	}
	if (statfs(rr->lower, &sf) < 0 || sf.f_type != FUSE_MAGIC) {
		if (mkdir(rr->lower, 0755) < 0 && errno != EEXIST)
			return log_errno("--image: %s", rr->lower);
		o.mountpoint = rr->lower;
		o.idle_lock = lockp;
		o.idle_exit_s = keep;
		o.log_path = logp;
		o.pid_path = pidp;
		o.expect_id = &rr->image->index->id;
		/* its "mounted" line is not the program's run's business; -v shows it */
		if (log_max_level == LOG_INFO)
			log_max_level = LOG_WARN;
		ret = imagefs_mount_spawn(&o, &pid);
		log_max_level = level;
		if (ret < 0) {
			rmdir(rr->lower);
			log_error("--image %s: the image could not be mounted", rr->image_name);
			return ret;
		}
		log_info("image %s mounted at %s (server pid %d), shared by its runs until %u s "
			 "after the last one", rr->image_name, rr->lower, (int)pid, keep);
	}
	/* shared from here: other runs may come in, the server may not go */
	if (flock(rr->image_lock, LOCK_SH) < 0)
		return log_errno("--image: %s", lockp);
	return 0;
}

int root_prepare_image(struct run_root *rr, const char *spec, const struct store_config *cfg,
		       const char *sdk, int keep_s)
{
	char name[256];
	int ret;

	ret = parse_spec(rr, "--image", spec, name, sizeof(name), sdk);
	if (ret < 0)
		return ret;
	if (!imagefs_name_valid(name)) {
		log_error("--image %s: not an image name", spec);
		return -EINVAL;
	}
	snprintf(rr->image_name, sizeof(rr->image_name), "%s", name);
	/*
	 * Before unshare, which refuses a process with threads: reading an
	 * image starts none (the store's threads are its restores' and puts').
	 */
	ret = store_open(cfg, &rr->store);
	if (ret == 0)
		ret = imagefs_image_open(rr->store, name, &rr->image);
	if (ret < 0) {
		/* the store and the image said what was wrong, naming them; not a lack of memory */
		if (ret == -ENOMEM)
			log_error("--image %s: cannot open the image: %s", name, strerror(-ret));
		goto fail;
	}
	store_digest_hex(&rr->image->index->id, rr->image_id);
	/* in the host's namespace, before thaw run leaves it */
	if (keep_s >= 0) {
		ret = shared_mount(rr, cfg, keep_s ? (unsigned)keep_s : IMAGE_KEEP_DEFAULT);
		if (ret < 0)
			goto fail;
	}
	ret = setup_ns(rr);
	if (ret < 0)
		goto fail;
	if (keep_s < 0) {
		snprintf(rr->lower, sizeof(rr->lower), "%s/image", rr->base);
		if (mkdir(rr->lower, 0755) < 0) {
			ret = log_errno("--image: %s", rr->lower);
			goto fail;
		}
		ret = start_server(rr, cfg, name);
		if (ret < 0)
			goto fail;
	}
	rr->lower_fd = open(rr->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rr->lower_fd < 0) {
		ret = log_errno("--image: opening %s", rr->lower);
		goto fail;
	}
	ret = lower_mount_flags(rr);
	if (ret < 0)
		goto fail;
	ret = bind_mountpoint(rr);
	if (ret < 0)
		goto fail;
	return 0;
fail:
	root_release(rr);
	return ret;
}

/*
 * The content digest of a regular file of the image, from its index alone:
 * SHA-256 of its size and its extents (each chunk's SHA-256, or none for a
 * hole, with offset and length).  Two images whose file has the same bytes
 * cut the same way give the same digest.  path is the program's.
 */
int root_image_digest(const struct run_root *rr, const char *path, char hex[65])
{
	const struct imagefs_index *ix;
	const struct imagefs_inode *n;
	unsigned char *buf;
	char *in_root;
	size_t len = 0;
	int64_t ino;
	uint32_t i;
	int fd;

	if (!rr || !rr->image)
		return -ENOENT;
	ix = rr->image->index;
	fd = root_open(rr, path, O_PATH);
	if (fd < 0)
		return fd;
	in_root = path_in_root(rr, fd);
	close(fd);
	/* a file of another mount (/tmp, /dev, the host's): not the image's */
	if (!in_root || (rr->mountpoint[0] &&
			 (strncmp(in_root, rr->mountpoint, strlen(rr->mountpoint)) ||
			  in_root[strlen(rr->mountpoint)] != '/'))) {
		free(in_root);
		return -ENOENT;
	}
	ino = imagefs_resolve(ix, rr->mountpoint[0] ? in_root + strlen(rr->mountpoint) : in_root);
	free(in_root);
	if (ino < 0)
		return (int)ino;
	n = &ix->inodes[ino];
	if (!S_ISREG(n->mode))
		return -EINVAL;
	buf = malloc(8 + (size_t)n->count * (STORE_DIGEST_SIZE + 8));
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &n->size, 8), len = 8;
	for (i = 0; i < n->count; i++) {
		const struct imagefs_extent *e = &ix->extents[n->first + i];

		if (e->chunk == IMAGEFS_HOLE)
			memset(buf + len, 0, STORE_DIGEST_SIZE);
		else
			memcpy(buf + len, ix->chunks[e->chunk].digest.b, STORE_DIGEST_SIZE);
		memcpy(buf + len + STORE_DIGEST_SIZE, &e->off, 4);
		memcpy(buf + len + STORE_DIGEST_SIZE + 4, &e->len, 4);
		len += STORE_DIGEST_SIZE + 8;
	}
	runtime_sha256_hex(buf, len, hex);
	free(buf);
	return 0;
}
