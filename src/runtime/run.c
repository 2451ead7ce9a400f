/*
 * run.c - runtime_run(): cold start, snapshot at the snapshot point, restore.
 *
 * Processes on the cold path:
 *   thaw run   outside; holds the control socket's other end, dumps
 *   init       PID 1 of a fresh PID + mount namespace (private /proc):
 *              reaps, forwards signals, exits with the program's status
 *   program    PID 2, exec'd with the control socket at THAW_CONTROL_FD
 * engine_restore() builds the same shape on the restore path, so the
 * program sees the same PIDs on both.  thaw run dumps the program by its
 * outer PID (ptrace works from outside the namespace) with the control
 * socket and the stdio it shares with thaw run as external fds: a restore
 * hands it thaw run's own stdio and a fresh control socket at the same
 * numbers, on which "restored" is already waiting.
 *
 * A program without the SDK gets its snapshot point from outside
 * (--snap-on-stdout/-port/-http, trigger.c): thaw run dumps it the same
 * way without telling it; with --snap-on-stdout its stdout is a pipe thaw
 * run relays, recorded as external fd 1 and handed over anew at a restore.
 *
 * Whatever goes wrong before the restored program runs is a cold start with
 * the reason said; nothing here makes the program fail because of thaw.
 */
#define LOG_TAG "run"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/dirs.h"
#include "base/log.h"
#include "engine/proc.h"
#include "engine/engine.h"
#include "image/image.h"
#include "repo/repo.h"
#include "store/store-snap.h"
#include "digest.h"
#include "runtime-internal.h"

extern char **environ;

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
#define NR_FORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

struct run {
	const struct runtime_run_opts *opts;
	struct repo *repo; /* where its snapshots are kept */
	char name[256];
	char key[RUNTIME_KEY_LEN + 1];
	char *exe;
	json_t *ingredients;
	struct events ev;
	int control_fd; /* the number the program sees */
	int sock; /* our end of the control socket, -1 once closed */
	pid_t init; /* our child: PID 1 of the program's namespace */
	pid_t program; /* as we see it */
	bool restored, snapshot_done;
	/* --snap-on-*: snapshot points the program does not know about */
	int out_r, out_w; /* CMD's stdout, relayed to ours; -1: not relayed */
	regex_t re;
	bool re_ok, matching; /* matching: still looking for the first matching line */
	char line[4096]; /* the line being matched; a longer one is matched on its start */
	size_t line_len;
	struct trigger *trig;
	double deadline_ms; /* the condition gives up then */
	/* --root: the program's own files (root.c); NULL: the host's */
	struct run_root *root;
	struct run_root root_storage;
	char sdk[PATH_MAX]; /* the Python SDK on the host, "" when not found */
};

/* ------------------------------------------------------ log capture */

/*
 * The engine logs why a dump or restore failed.  While it works we keep its
 * messages in a memfd, so the first error can be the cold start's reason;
 * with -v they are shown as well.
 */
struct capture {
	int fd;
};

static void capture_start(struct capture *c)
{
	c->fd = memfd_create("thaw-log", MFD_CLOEXEC);
	if (c->fd >= 0)
		log_set_fd(c->fd);
}

/* Stops capturing; *reason gets the first error message (caller frees) or NULL. */
static void capture_stop(struct capture *c, char **reason)
{
	char buf[16384], *line, *save = NULL;
	ssize_t n;

	*reason = NULL;
	log_set_fd(STDERR_FILENO);
	if (c->fd < 0)
		return;
	n = pread(c->fd, buf, sizeof(buf) - 1, 0);
	close(c->fd);
	c->fd = -1;
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (log_max_level >= LOG_DEBUG)
		dprintf(STDERR_FILENO, "%s", buf);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *err = strstr(line, ": error: ");

		if (err && !*reason)
			*reason = strdup(err + 9);
	}
}

/* ---------------------------------------------------------- helpers */

static int pick_control_fd(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= RUNTIME_CONTROL_FD)
		return rl.rlim_cur > 16 ? (int)rl.rlim_cur - 1 : -1;
	return RUNTIME_CONTROL_FD;
}

static pid_t first_child(pid_t pid)
{
	pid_t *kids = NULL, child = -1;
	size_t n = 0;

	if (proc_list_children(pid, &kids, &n) == 0 && n)
		child = kids[0];
	free(kids);
	return child;
}

/* The program: init's only child; it may still be on its way (fork just ran). */
static pid_t find_program(pid_t init)
{
	int i;

	for (i = 0; i < 2000; i++) {
		pid_t pid = first_child(init);

		if (pid > 0)
			return pid;
		usleep(1000);
	}
	return -1;
}

static void derive_name(struct run *r)
{
	char *const *argv = r->opts->argv;
	const char *base, *pick = argv[0];
	struct stat st;
	size_t len;

	if (r->opts->name) {
		snprintf(r->name, sizeof(r->name), "%s", r->opts->name);
		return;
	}
	/* "python3 worker.py": the script names it better than the interpreter */
	if (argv[1] && argv[1][0] != '-' && !stat(argv[1], &st) && S_ISREG(st.st_mode))
		pick = argv[1];
	base = strrchr(pick, '/');
	base = base ? base + 1 : pick;
	len = strcspn(base, ".");
	if (len == 0)
		len = strlen(base);
	snprintf(r->name, sizeof(r->name), "%.*s", (int)len, base);
}

/* "python3 worker.py --x": for listings. */
static char *command_line(char *const *argv)
{
	size_t len = 1, i;
	char *s;

	for (i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	for (i = 0; s && argv[i]; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* Where the Python SDK lives: beside the thaw binary's source tree, or THAW_PYTHON_SDK. */
static void python_sdk_dir(char *buf, size_t len)
{
	static const char *const rel[] = { "/../sdk/python", "/../../sdk/python",
					   "/../share/thaw/python" };
	char exe[PATH_MAX], probe[PATH_MAX + 64], *slash;
	const char *env = getenv("THAW_PYTHON_SDK");
	ssize_t n;
	size_t i;

	buf[0] = '\0';
	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char *real;

		snprintf(probe, sizeof(probe), "%s%s/thaw/__init__.py", exe, rel[i]);
		if (access(probe, R_OK))
			continue;
		snprintf(probe, sizeof(probe), "%s%s", exe, rel[i]);
		real = realpath(probe, NULL);
		if (real) {
			snprintf(buf, len, "%s", real);
			free(real);
		}
		return;
	}
}

/* ------------------------------------------------------- cold start */

static void reset_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;
	size_t i;

	for (i = 0; i < NR_FORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static __attribute__((noreturn)) void exec_program(struct run *r, int child_end)
{
	const char *old, *sdk = r->root ? root_python_sdk(r->root) : r->sdk;
	char fdnum[16], *pp;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (r->out_w >= 0 && dup2(r->out_w, STDOUT_FILENO) < 0) {
		dprintf(STDERR_FILENO, "thaw run: stdout pipe: %s\n", strerror(errno));
		_exit(127);
	}
	if (child_end != r->control_fd) {
		if (dup2(child_end, r->control_fd) < 0) {
			dprintf(STDERR_FILENO, "thaw run: control socket: %s\n", strerror(errno));
			_exit(127);
		}
		close(child_end);
	} else {
		fcntl(child_end, F_SETFD, 0);
	}
	snprintf(fdnum, sizeof(fdnum), "%d", r->control_fd);
	setenv("THAW_CONTROL_FD", fdnum, 1);
	if (sdk && sdk[0]) {
		old = getenv("PYTHONPATH");
		if (old && *old) {
			if (asprintf(&pp, "%s:%s", old, sdk) > 0)
				setenv("PYTHONPATH", pp, 1);
		} else {
			setenv("PYTHONPATH", sdk, 1);
		}
	}
	/*
	 * libuv (node, uvloop) uses io_uring when it can, and the engine cannot
	 * dump io_uring: ask it for epoll.  A value the user set is left alone.
	 */
	setenv("UV_USE_IO_URING", "0", 0);
	/*
	 * --fixed-layout: every start maps the same addresses, so snapshots of
	 * the same program share their pages in a chunk store; exec keeps it.
	 */
	if (r->opts->fixed_layout) {
		int cur = personality(0xffffffff);
		char seed[16], prefix[9];

		if (cur < 0 || personality((unsigned long)cur | ADDR_NO_RANDOMIZE) < 0) {
			dprintf(STDERR_FILENO, "thaw run: --fixed-layout: personality: %s\n",
				strerror(errno));
			_exit(126);
		}
		/*
		 * Python's string hashing is the other randomisation that moves a
		 * whole heap: a seed of the launch key's own (not a well-known
		 * one) unless the caller chose one.  Restored copies share the
		 * snapshot's seed anyway.
		 */
		snprintf(prefix, sizeof(prefix), "%.8s", r->key); /* hex: 32 bits */
		snprintf(seed, sizeof(seed), "%lu", strtoul(prefix, NULL, 16));
		setenv("PYTHONHASHSEED", seed, 0);
	}
	reset_signals();
	/* by the name given, not the resolved path: comm and argv[0] stay what they would be */
	execvp(r->opts->argv[0], r->opts->argv);
	dprintf(STDERR_FILENO, "thaw run: %s: %s\n", r->opts->argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

static volatile sig_atomic_t init_child;

static void init_forward(int sig)
{
	if (init_child > 0)
		kill(init_child, sig);
}

/* PID 1: like tini, it reaps everything and exits with the program's status. */
static __attribute__((noreturn)) void init_main(struct run *r, int child_end)
{
	struct sigaction sa = { .sa_handler = init_forward, .sa_flags = SA_RESTART };
	sigset_t none;
	pid_t pid;
	size_t i;
	int devnull;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		log_warn("could not mount a private /proc: %s", strerror(errno));
	if (r->root && root_enter(r->root) < 0)
		_exit(126);
	close(r->sock);
	if (r->out_r >= 0)
		close(r->out_r);
	for (i = 0; i < NR_FORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);
	pid = fork();
	if (pid < 0) {
		log_error("starting %s: fork: %s", r->opts->argv[0], strerror(errno));
		_exit(127);
	}
	if (pid == 0)
		exec_program(r, child_end);
	init_child = pid;
	close(child_end);
	if (r->out_w >= 0)
		close(r->out_w);
	if (r->ev.json_fd >= 0)
		close(r->ev.json_fd);
	/* the program holds its own stdio: do not keep a caller's pipes open */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		close(devnull);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (;;) {
		int status;
		pid_t got = waitpid(-1, &status, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			_exit(127);
		if (got != pid)
			continue;
		_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
	}
}

/* The pipe CMD's stdout goes through; our end non-blocking: the main loop drains it. */
static int relay_pipe(struct run *r)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return log_errno("stdout pipe");
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	r->out_r = p[0];
	r->out_w = p[1];
	return 0;
}

static void close_relay_write(struct run *r)
{
	if (r->out_w >= 0)
		close(r->out_w);
	r->out_w = -1;
}

static int cold_start(struct run *r)
{
	struct clone_args ca = { .flags = CLONE_NEWPID | CLONE_NEWNS, .exit_signal = SIGCHLD };
	int sv[2];
	pid_t pid;

	if (r->control_fd < 0) {
		log_error("RLIMIT_NOFILE is too low for the control socket");
		return -EMFILE;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return log_errno("control socketpair");
	r->sock = sv[0];
	if (r->opts->snap_on_stdout && !r->opts->no_snapshot && relay_pipe(r) < 0) {
		close(sv[0]);
		close(sv[1]);
		r->sock = -1;
		return -EMFILE;
	}
	fflush(NULL);
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0) {
		int err = log_errno("creating a PID namespace for %s", r->opts->argv[0]);

		close(sv[0]);
		close(sv[1]);
		r->sock = -1;
		close_relay_write(r);
		return err;
	}
	if (pid == 0)
		init_main(r, sv[1]);
	close(sv[1]);
	close_relay_write(r);
	r->init = pid;
	r->program = find_program(pid);
	return 0;
}

/* ---------------------------------------------------------- snapshot */

/* fd n of the program is the very file thaw run holds at n: a restore hands over ours. */
static bool shares_our_fd(pid_t pid, int n)
{
	struct stat theirs, ours;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, n);
	return !stat(path, &theirs) && !fstat(n, &ours) && theirs.st_dev == ours.st_dev &&
	       theirs.st_ino == ours.st_ino;
}

static void reply(struct run *r, const char *text)
{
	if (r->sock >= 0 && send(r->sock, text, strlen(text), MSG_NOSIGNAL) < 0)
		log_warn("answering the program: %s", strerror(errno));
}

/* fd n of the program is the write end of our stdout relay. */
static bool is_our_relay(pid_t pid, int n, int out_r)
{
	struct stat theirs, ours;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, n);
	return out_r >= 0 && !stat(path, &theirs) && !fstat(out_r, &ours) &&
	       theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
}

static void snapshot_failed(struct run *r, const char *why)
{
	events_emit(&r->ev, "snapshot_failed",
		    json_pack("{s:s, s:s, s:s}", "name", r->name, "key", r->key, "reason", why),
		    "no snapshot of %s: %s", r->name, why);
}

/*
 * Content digests: asked for, or an --image, whose files' digests come from
 * its index for nothing (and are then what says a file is the same).
 */
static bool digests_on(const struct run *r)
{
	return digest_wanted(r->opts) || (r->root && r->root->image);
}

/* The content digests go into the snapshot before any start can see it. */
static void record_digests(const char *dir, void *arg)
{
	struct run *r = arg;

	if (digests_on(r) && digest_record(dir, r->root) < 0)
		log_warn("no content digests for %s: a start with --verify-digest will be cold",
			 r->key);
}

/*
 * Into a chunk store, the put's first error is the reason given (a plain
 * directory's errors are said as they happen); the program runs on either way.
 */
static int publish(struct run *r, const char *staged, struct repo_meta *meta)
{
	struct capture cap;
	char *why = NULL;
	int ret;

	if (!repo_is_chunk_store(r->repo))
		return repo_publish(r->repo, staged, meta, record_digests, r);
	capture_start(&cap);
	ret = repo_publish(r->repo, staged, meta, record_digests, r);
	capture_stop(&cap, &why);
	if (ret < 0) {
		char *text;

		if (asprintf(&text, "storing it in %s failed: %s", repo_label(r->repo),
			     why ? why : strerror(-ret)) < 0)
			text = NULL;
		snapshot_failed(r, text ? text : "storing it failed");
		free(text);
	}
	free(why);
	return ret;
}

/*
 * asked: the program sent "snapshot" and waits for the answer; else a
 * --snap-on-* condition fired and the program knows nothing of it.
 */
static void take_snapshot(struct run *r, bool asked)
{
	struct engine_dump_stats stats = { 0 };
	/*
	 * A snapshot from outside comes between requests at best: a probe's or
	 * warm-up's connection the server has not closed yet comes back reset.
	 */
	struct engine_dump_opts o = { .leave_running = true, .tcp_close = !asked };
	struct repo_meta meta = { 0 };
	char staged[PATH_MAX] = "", answer[600], *why = NULL;
	struct capture cap;
	struct timespec now;
	int ext[4], n = 0, i, ret, lock = -1;
	double t0 = now_ms();

	if (r->opts->no_snapshot || r->snapshot_done || r->restored) {
		if (asked)
			reply(r, r->opts->no_snapshot ? "disabled" : "failed: the snapshot point was passed");
		return;
	}
	r->snapshot_done = true;
	if (r->program <= 0)
		r->program = find_program(r->init);
	for (i = 0; i < 3; i++)
		if (shares_our_fd(r->program, i) || is_our_relay(r->program, i, r->out_r))
			ext[n++] = i;
	meta.stdout_pipe = is_our_relay(r->program, STDOUT_FILENO, r->out_r);
	ext[n++] = r->control_fd;
	o.pid = r->program;
	o.dir = staged;
	o.container_root = r->root && !r->root->mountpoint[0];
	o.external_fds = ext;
	o.nr_external_fds = (size_t)n;
	capture_start(&cap);
	ret = repo_stage(r->repo, staged, sizeof(staged), &lock);
	if (ret >= 0)
		ret = engine_dump(&o, &stats);
	capture_stop(&cap, &why);
	if (ret < 0) {
		snprintf(answer, sizeof(answer), "failed: %s", why ? why : strerror(-ret));
		if (asked)
			reply(r, answer);
		if (lock >= 0)
			remove_staging_dir(staged, lock);
		snapshot_failed(r, answer + 8);
		free(why);
		return;
	}
	free(why);
	/* the program goes on while we publish */
	if (asked)
		reply(r, "snapshotted");
	meta.name = r->name;
	memcpy(meta.key, r->key, sizeof(meta.key));
	meta.command = command_line(r->opts->argv);
	clock_gettime(CLOCK_REALTIME, &now);
	meta.created = (int64_t)now.tv_sec;
	meta.created_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	meta.control_fd = r->control_fd;
	meta.ingredients = r->ingredients;
	ret = publish(r, staged, &meta);
	remove_staging_dir(staged, lock); /* what is left of it: published, or failed */
	free(meta.command);
	if (ret < 0)
		return;
	events_emit(&r->ev, "snapshot_created",
		    json_pack("{s:s, s:s, s:I, s:f, s:f}", "name", r->name, "key", r->key, "bytes",
			      (json_int_t)meta.size, "dump_ms", stats.total_ms, "ms",
			      now_ms() - t0),
		    "snapshot created %s %s (%.1f MiB in %.0f ms)", r->name, r->key,
		    (double)meta.size / (1 << 20), now_ms() - t0);
}

/* ----------------------------------------------------------- restore */

/* Files whose contents the restore trusts: mapped, the executable, or open read-only. */
static bool file_must_match(const struct image *img, uint32_t idx)
{
	uint32_t i;

	if (img->proc.exe == (int32_t)idx)
		return true;
	for (i = 0; i < img->nr_vmas; i++)
		if (img->vmas[i].file == (int32_t)idx)
			return true;
	for (i = 0; i < img->nr_fds; i++)
		if (img->fds[i].file == (int32_t)idx && img->fds[i].kind == IMAGE_FD_FILE &&
		    (img->fds[i].flags & O_ACCMODE) == O_RDONLY)
			return true;
	return false;
}

/* The first file that is not what the snapshot saw; NULL when all are (caller frees). */
static char *changed_file(const struct run_root *rr, const struct image *img)
{
	struct stat st;
	uint32_t i;
	char *out;

	for (i = 0; i < img->nr_files; i++) {
		const struct image_file *f = &img->files[i];
		int64_t mtime;

		char hex[65];

		if (f->is_deleted || !S_ISREG(f->mode) || !file_must_match(img, i))
			continue;
		/* an image's file: its content digest says (digest_check); its inode is the mount's */
		if (root_image_digest(rr, f->path, hex) == 0)
			continue;
		if (root_stat(rr, f->path, &st))
			goto changed;
		mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->size ||
		    mtime != f->mtime_ns || (uint64_t)st.st_ino != f->ino)
			goto changed;
		continue;
changed:
		if (asprintf(&out, "%s changed", f->path) < 0)
			return strdup("a file changed");
		return out;
	}
	return NULL;
}

/*
 * Why the snapshot under our key cannot be used, or NULL when it can (caller
 * frees); then *ret_img is the snapshot, read once for the restore too.
 */
static char *check_candidate(struct run *r, struct repo_meta *meta, const char *dir,
			     struct image **ret_img)
{
	char *why = NULL, *changed;
	struct image *img = NULL;
	struct capture cap;
	int ret;

	if (access(dir, F_OK))
		return strdup("no snapshot yet");
	if (meta->control_fd < 0)
		return strdup("snapshot metadata is damaged");
	if (!json_equal(meta->ingredients, r->ingredients))
		return key_explain(meta->ingredients, r->ingredients);
	capture_start(&cap);
	ret = image_read(dir, &img);
	capture_stop(&cap, &why);
	if (ret < 0) {
		char *out;

		if (asprintf(&out, "snapshot unreadable: %s", why ? why : strerror(-ret)) < 0)
			out = NULL;
		free(why);
		return out ? out : strdup("snapshot unreadable");
	}
	free(why);
	changed = changed_file(r->root, img);
	/* contents only where size, mtime and inode all match: hashing is the slow part */
	if (!changed && digests_on(r))
		changed = digest_check(dir, img, r->root);
	if (changed)
		image_free(img);
	else
		*ret_img = img;
	return changed;
}

/*
 * A snapshot whose stdout was our relay pipe gets a new one at fd 1: the
 * engine hands the program the restoring process's fd 1, so ours is that
 * pipe's write end until the engine returns (*saved keeps our stdout).
 */
static int relay_for_restore(struct run *r, int *saved)
{
	int p[2], err;

	*saved = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (*saved < 0 && errno != EBADF)
		return -errno;
	if (pipe2(p, O_CLOEXEC))
		goto fail;
	if (dup2(p[1], STDOUT_FILENO) < 0) {
		close(p[0]);
		close(p[1]);
		goto fail;
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	r->out_r = p[0];
	return 0;
fail:
	err = -errno;
	if (*saved >= 0)
		close(*saved);
	*saved = -1;
	return err;
}

/* Our stdout again, and no write end of the relay left with us. */
static void relay_restored(int saved)
{
	if (saved >= 0) {
		dup2(saved, STDOUT_FILENO);
		close(saved);
	} else {
		close(STDOUT_FILENO);
	}
}

/* The metadata under our key; else *reason says why there is none: what changed, if known. */
static int find_meta(struct run *r, struct repo_meta *meta, char **reason)
{
	struct repo_meta other;
	struct capture cap;
	char *why = NULL;
	int ret, found = -ENOENT;

	/* a chunk store logs its misses and errors: they become the reason or nothing */
	capture_start(&cap);
	ret = repo_load(r->repo, r->key, meta);
	if (ret == -ENOENT)
		found = repo_newest_named(r->repo, r->name, r->key, &other);
	capture_stop(&cap, &why);
	if (ret == -ENOENT && found == 0) {
		*reason = key_explain(other.ingredients, r->ingredients);
		repo_meta_release(&other);
	} else if (ret == -ENOENT) {
		*reason = strdup("no snapshot yet");
	} else if (ret < 0 && (!why ||
			       asprintf(reason, "snapshot metadata is unreadable: %s", why) < 0)) {
		*reason = strdup("snapshot metadata is unreadable");
	}
	free(why);
	return ret;
}

/*
 * A chunk store's snapshot is opened for a restore (its small files rebuilt
 * on tmpfs) once its key's ingredients match, and its own run.json is then
 * the metadata: the name may have moved on since find_meta() read it.  A
 * plain directory's is checked where it lies (check_candidate).
 */
static int open_restore(struct run *r, struct repo_meta *meta, struct repo_restore **rr,
			char **reason)
{
	struct capture cap;
	char *why = NULL;
	int ret;

	if (repo_is_chunk_store(r->repo) && meta->control_fd < 0) {
		*reason = strdup("snapshot metadata is damaged");
		return -ESTALE;
	}
	if (repo_is_chunk_store(r->repo) && !json_equal(meta->ingredients, r->ingredients)) {
		*reason = key_explain(meta->ingredients, r->ingredients);
		return -ESTALE;
	}
	capture_start(&cap);
	ret = repo_restore_open(r->repo, r->key, rr);
	capture_stop(&cap, &why);
	if (ret < 0) {
		if (asprintf(reason, "restore failed: %s", why ? why : strerror(-ret)) < 0)
			*reason = NULL;
		free(why);
		return ret;
	}
	free(why);
	ret = repo_restore_meta(*rr, meta);
	if (ret < 0)
		*reason = strdup("snapshot metadata is unreadable");
	return ret;
}

/* The engine's part: a control socket and stdout for the program, then engine_restore. */
static int restore_from(struct run *r, const struct repo_meta *meta, struct repo_restore *rr,
			struct image *img, char **reason)
{
	struct engine_restore_opts o = { .detach = true, .die_with_caller = true };
	const struct engine_page_source *pages = repo_restore_pages(rr);
	char *why = NULL;
	struct capture cap;
	int sv[2], ret, status, saved_out = -1;

	r->control_fd = meta->control_fd;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		ret = -errno;
		*reason = strdup("no control socket");
		return ret;
	}
	/* the restored program's recv() restarts on this socket and finds the answer */
	if (dup2(sv[1], r->control_fd) < 0 ||
	    send(sv[0], "restored", 8, MSG_NOSIGNAL) != 8) {
		if (asprintf(reason, "control fd %d: %s", r->control_fd, strerror(errno)) < 0)
			*reason = NULL;
		close(sv[0]);
		close(sv[1]);
		return -EIO;
	}
	close(sv[1]);
	if (meta->stdout_pipe && (ret = relay_for_restore(r, &saved_out)) < 0) {
		if (asprintf(reason, "stdout pipe: %s", strerror(-ret)) < 0)
			*reason = NULL;
		close(sv[0]);
		close(r->control_fd);
		return ret;
	}
	o.dir = repo_restore_dir(rr);
	o.image = img;
	o.verify = r->opts->verify;
	/* from a chunk store, the page server fetches the chunks it copies in */
	o.lazy = r->opts->lazy;
	o.ret_init_pid = &r->init;
	o.ret_program_pid = &r->program;
	if (r->root) {
		o.enter_root = root_enter;
		o.enter_root_arg = r->root;
	}
	o.pages = pages; /* a chunk store's pages go straight into the process */
	capture_start(&cap);
	ret = engine_restore(&o, &status);
	capture_stop(&cap, &why);
	close(r->control_fd);
	if (meta->stdout_pipe)
		relay_restored(saved_out);
	if (ret < 0) {
		if (r->out_r >= 0)
			close(r->out_r);
		r->out_r = -1;
		if (asprintf(reason, "restore failed: %s", why ? why : strerror(-ret)) < 0)
			*reason = NULL;
		free(why);
		close(sv[0]);
		/* the engine's init and helper are gone: reap them */
		while (waitpid(-1, &status, WNOHANG) > 0)
			;
		return ret;
	}
	free(why);
	r->sock = sv[0];
	r->restored = true;
	return 0;
}

/* 0 when the program runs again from its snapshot; else *reason says why not. */
static int try_restore(struct run *r, char **reason)
{
	struct repo_restore *rr = NULL;
	struct image *img = NULL;
	struct repo_meta meta;
	double t0 = now_ms();
	int ret;

	*reason = NULL;
	ret = find_meta(r, &meta, reason);
	repo_release(r->repo);
	if (ret < 0)
		return ret;
	ret = open_restore(r, &meta, &rr, reason);
	if (ret < 0)
		goto out;
	*reason = check_candidate(r, &meta, repo_restore_dir(rr), &img);
	if (*reason) {
		ret = -ESTALE;
		goto out;
	}
	ret = restore_from(r, &meta, rr, img, reason);
	image_free(img);
	if (ret < 0)
		goto out;
	events_emit(&r->ev, "restored",
		    json_pack("{s:s, s:s, s:f, s:f}", "name", r->name, "key", r->key, "ms",
			      now_ms() - r->ev.t0_ms, "restore_ms", now_ms() - t0),
		    "restored %s from snapshot in %.0f ms", r->name, now_ms() - r->ev.t0_ms);
	repo_count_restore(r->repo, &meta);
out:
	/* the program no longer needs it; behind a URL this fills the local cache first */
	repo_restore_close(rr);
	repo_meta_release(&meta);
	return ret;
}

/* ------------------------------------------------------------- wait */

static void forward_signal(struct run *r, const struct signalfd_siginfo *si)
{
	pid_t target = r->restored ? r->program : r->init;

	/*
	 * A terminal's ^C reaches the whole foreground group (SI_KERNEL); a
	 * program in our group has had it already.
	 */
	if (si->ssi_code == SI_KERNEL && r->program > 0 && getpgid(r->program) == getpgrp())
		return;
	if (target > 0)
		kill(target, (int)si->ssi_signo);
}

static void handle_control(struct run *r)
{
	switch (control_read(r->sock)) {
	case CONTROL_NONE:
		return;
	case CONTROL_CLOSED:
		close(r->sock);
		r->sock = -1;
		return;
	case CONTROL_SNAPSHOT:
		take_snapshot(r, true);
		return;
	case CONTROL_UNKNOWN:
		reply(r, "failed: unknown request");
		return;
	}
}

static void no_snapshot_point(struct run *r, const char *why)
{
	events_emit(&r->ev, "snapshot_skipped",
		    json_pack("{s:s, s:s, s:s}", "name", r->name, "key", r->key, "reason", why),
		    "no snapshot of %s: %s; it runs on without one", r->name, why);
}

/* The condition (or the stdout line) is there: the thread does warm-up and delay. */
static void start_trigger(struct run *r, bool condition_met)
{
	if (r->program <= 0)
		r->program = find_program(r->init);
	if (trigger_start(&r->trig, r->opts, r->program, condition_met, r->deadline_ms) < 0)
		no_snapshot_point(r, "the snapshot condition could not be watched");
}

static void trigger_done(struct run *r)
{
	const char *why = NULL;
	int ret = trigger_result(r->trig, &why);

	if (ret == -EAGAIN)
		return;
	if (ret == 0)
		take_snapshot(r, false);
	else if (ret != -ECANCELED)
		no_snapshot_point(r, why && *why ? why : strerror(-ret));
	trigger_stop(r->trig);
	r->trig = NULL;
}

/* One complete (or overlong) line of CMD's stdout while still looking for the match. */
static void match_line(struct run *r)
{
	r->line[r->line_len] = '\0';
	r->line_len = 0;
	if (regexec(&r->re, r->line, 0, NULL, 0) == 0) {
		r->matching = false;
		/* a port or URL given as well must hold too: the thread waits for them */
		start_trigger(r, !(r->opts->snap_on_port > 0 || r->opts->snap_on_http));
	}
}

/*
 * Copies what CMD wrote to our stdout as it comes (no buffering of ours:
 * order and bytes are kept), matching lines on the way.  all: until the
 * pipe is empty (the program is gone).
 */
static void relay(struct run *r)
{
	char buf[65536];
	ssize_t n, off, w;

	for (;;) {
		n = read(r->out_r, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				close(r->out_r);
				r->out_r = -1;
			}
			return;
		}
		for (off = 0; off < n; off += w) {
			w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR) {
				w = 0;
			} else if (w < 0 && errno == EPIPE) {
				/* nobody reads our stdout: CMD's next write gets its EPIPE, as it would */
				close(r->out_r);
				r->out_r = -1;
				r->matching = false;
				return;
			} else if (w <= 0) {
				break;
			}
		}
		for (off = 0; r->matching && off < n; off++) {
			if (buf[off] == '\n') {
				match_line(r);
				continue;
			}
			r->line[r->line_len++] = buf[off];
			if (r->line_len == sizeof(r->line) - 1)
				match_line(r);
		}
		if ((size_t)n < sizeof(buf))
			return;
	}
}

static int wait_program(struct run *r, int sfd, int *ret_status)
{
	for (;;) {
		struct pollfd p[4] = { { .fd = sfd, .events = POLLIN },
				       { .fd = r->sock, .events = POLLIN },
				       { .fd = r->out_r, .events = POLLIN },
				       { .fd = r->trig ? trigger_fd(r->trig) : -1,
					 .events = POLLIN } };
		struct signalfd_siginfo si;
		int status, timeout = -1;
		pid_t got;

		while ((got = waitpid(-1, &status, WNOHANG)) > 0) {
			if (got != r->init)
				continue;
			*ret_status = WIFSIGNALED(status) ? 128 + WTERMSIG(status)
							  : WEXITSTATUS(status);
			goto out;
		}
		if (got < 0 && errno == ECHILD) {
			log_error("the program's init is gone");
			*ret_status = 1;
			goto out;
		}
		if (r->matching) {
			double left = r->deadline_ms - now_ms();

			if (left <= 0) {
				char why[128];

				r->matching = false;
				snprintf(why, sizeof(why), "no line of its output matched within %g s",
					 r->opts->snap_timeout_s > 0 ? r->opts->snap_timeout_s : 120.0);
				no_snapshot_point(r, why);
			} else {
				timeout = (int)left + 1;
			}
		}
		/* poll ignores the entries whose fd is -1 */
		if (poll(p, 4, timeout) < 0 && errno != EINTR)
			return log_errno("poll");
		if (p[0].revents & POLLIN && read(sfd, &si, sizeof(si)) == sizeof(si) &&
		    si.ssi_signo != SIGCHLD)
			forward_signal(r, &si);
		if (r->sock >= 0 && p[1].revents & (POLLIN | POLLHUP | POLLERR))
			handle_control(r);
		if (r->out_r >= 0 && p[2].revents & (POLLIN | POLLHUP | POLLERR))
			relay(r);
		if (r->trig && p[3].revents & POLLIN)
			trigger_done(r);
	}
out:
	/* the program is gone; what it wrote last is still ours to pass on */
	if (r->out_r >= 0)
		relay(r);
	trigger_stop(r->trig);
	r->trig = NULL;
	return 0;
}

/* ------------------------------------------------------------- main */

static int block_signals(sigset_t *old)
{
	sigset_t set;
	size_t i;
	int sfd;

	sigemptyset(&set);
	for (i = 0; i < NR_FORWARDED; i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, old))
		return log_errno("sigprocmask");
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return log_errno("signalfd");
	/*
	 * Relaying CMD's stdout into a closed pipe must not kill thaw run: the
	 * write says EPIPE instead (the children empty their masks before exec).
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return sfd;
}

/*
 * --image: the image's store is --image-store, else --store, else what
 * thaw image uses ($THAW_STORE, ~/.cache/thaw/store); a URL has --cache in
 * front of it.  So a program's snapshots can live in its image's store.
 */
static int prepare_image(struct run *r, int *ret_status)
{
	const struct runtime_run_opts *o = r->opts;
	const char *loc = o->image_store ? o->image_store : o->store.location;
	char def[PATH_MAX], *alloc = NULL;
	struct store_config cfg;
	int ret;

	if (!loc)
		loc = getenv("THAW_STORE");
	if (!loc || !*loc) {
		const char *home = getenv("HOME");

		if (!home || !*home) {
			log_error("--image: no store: give --image-store, or set THAW_STORE or HOME");
			*ret_status = 2;
			return -EINVAL;
		}
		snprintf(def, sizeof(def), "%s/.cache/thaw/store", home);
		loc = def;
	}
	/* the configuration files' cache and key file, as thaw image takes them */
	ret = store_snap_config(loc, o->store.cache ? o->store.cache : o->store.default_cache, &cfg,
				&alloc);
	if (ret < 0) {
		log_error("--image: the store %s: %s", loc, strerror(-ret));
		*ret_status = 2;
		return ret;
	}
	cfg.key_file = o->store.key_file ? o->store.key_file : o->store.default_key_file;
	ret = root_prepare_image(&r->root_storage, o->image, &cfg, r->sdk, o->image_keep_s);
	free(alloc);
	if (ret < 0)
		*ret_status = ret == -EINVAL || ret == -ENOTDIR ? 2 : 1;
	return ret;
}

int runtime_run(const struct runtime_run_opts *opts, int *ret_status)
{
	struct run r = { .opts = opts, .sock = -1, .init = -1, .program = -1, .out_r = -1,
			 .out_w = -1 };
	char *reason = NULL;
	bool usage;
	sigset_t old;
	int ret, sfd = -1;

	r.ev.t0_ms = now_ms();
	r.ev.json_fd = -1;
	*ret_status = 1;
	if (opts->snap_on_stdout) {
		char err[256];

		ret = regcomp(&r.re, opts->snap_on_stdout, REG_EXTENDED | REG_NOSUB);
		if (ret) {
			regerror(ret, &r.re, err, sizeof(err));
			log_error("--snap-on-stdout '%s': %s", opts->snap_on_stdout, err);
			*ret_status = 2;
			return -EINVAL;
		}
		r.re_ok = true;
	}
	python_sdk_dir(r.sdk, sizeof(r.sdk));
	if (opts->image) {
		ret = prepare_image(&r, ret_status);
		if (ret < 0)
			return ret;
		r.root = &r.root_storage;
	} else if (opts->root) {
		/* before any thread: thaw run moves into a mount namespace of its own */
		ret = root_prepare(&r.root_storage, opts->root, r.sdk);
		if (ret < 0) {
			*ret_status = ret == -EINVAL || ret == -ENOTDIR ? 2 : 1;
			return ret;
		}
		r.root = &r.root_storage;
	}
	ret = key_ingredients(opts, r.root, &r.ingredients, &r.exe);
	if (ret == -ENOENT) {
		log_error("%s: command not found%s", opts->argv[0],
			  opts->image ? " in the image" : r.root ? " in --root" : "");
		*ret_status = 127;
		goto out;
	}
	if (ret < 0)
		goto out;
	key_digest(r.ingredients, r.key);
	derive_name(&r);
	r.control_fd = pick_control_fd();
	ret = repo_open(&opts->store, true, &r.repo, &usage);
	if (ret < 0) {
		*ret_status = usage ? 2 : 1;
		goto out;
	}
	ret = events_open(&r.ev, opts->json_events);
	if (ret < 0)
		goto out;
	sfd = block_signals(&old);
	if (sfd < 0) {
		ret = sfd;
		goto out;
	}
	if (opts->no_snapshot) {
		reason = strdup("snapshots are off (--no-snapshot)");
		ret = -ENOENT;
	} else {
		ret = try_restore(&r, &reason);
	}
	if (ret < 0) {
		events_emit(&r.ev, "cold_start",
			    json_pack("{s:s, s:s, s:s}", "name", r.name, "key", r.key, "reason",
				      reason ? reason : "unknown"),
			    "cold start: %s", reason ? reason : "restore failed");
		r.control_fd = pick_control_fd();
		repo_release(r.repo);
		ret = cold_start(&r);
		if (ret < 0) {
			*ret_status = 127;
			goto out;
		}
		r.deadline_ms = now_ms() + 1000 * (opts->snap_timeout_s > 0
							   ? opts->snap_timeout_s : 120.0);
		if (!opts->no_snapshot && opts->snap_on_stdout)
			r.matching = true;
		else if (!opts->no_snapshot && (opts->snap_on_port > 0 || opts->snap_on_http))
			start_trigger(&r, false);
	}
	ret = wait_program(&r, sfd, ret_status);
	events_emit(&r.ev, "exit",
		    json_pack("{s:s, s:i, s:b}", "name", r.name, "status", *ret_status, "restored",
			      r.restored),
		    "%s exited with status %d", r.name, *ret_status);
out:
	if (sfd >= 0) {
		struct timespec zero = { 0 };
		sigset_t pipe_set;

		close(sfd);
		/* a SIGPIPE our relay caused is ours, not the caller's to receive */
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
			;
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	if (r.sock >= 0)
		close(r.sock);
	if (r.out_r >= 0)
		close(r.out_r);
	if (r.re_ok)
		regfree(&r.re);
	events_close(&r.ev);
	repo_close(r.repo);
	if (r.root)
		root_release(r.root);
	free(reason);
	free(r.exe);
	json_decref(r.ingredients);
	return ret;
}
