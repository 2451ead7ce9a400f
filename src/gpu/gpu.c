/*
 * gpu.c - CUDA processes in snapshots: find them, checkpoint and restore
 * their device state around the engine's CPU dump and restore, and the GPU
 * fingerprint a restore checks.  See gpu.h and docs/gpu.md.
 *
 * After a CUDA checkpoint the process holds no /dev/nvidia* file or mapping
 * but keeps one thing the engine cannot dump: the driver's listening
 * SOCK_SEQPACKET socket with the abstract name "cuda-uvmfd-<pid namespace
 * inode>-<pid>", which its checkpoint thread polls.  It is not dumped
 * (passed to the engine as an external fd); the restore helper binds a new
 * one at the same number, named for the new PID namespace.
 */
#define LOG_TAG "gpu"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "gpu-internal.h"
#include "gpu.h"

#define UVM_PREFIX "cuda-uvmfd-"
#define GPU_TIMEOUT_S 600 /* a checkpoint of tens of GiB takes tens of seconds */

int gpu_for_each_fd(pid_t pid, int (*fn)(pid_t, int, const char *, void *), void *arg)
{
	char path[64], link[512];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		ssize_t n;

		if (*end || end == de->d_name)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%ld", pid, fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue; /* closed meanwhile */
		link[n] = '\0';
		ret = fn(pid, (int)fd, link, arg);
	}
	closedir(d);
	return ret;
}

static int is_nvidia_fd(pid_t pid, int fd, const char *link, void *arg)
{
	(void)pid;
	if (strncmp(link, "/dev/nvidia", 11))
		return 0;
	if (arg)
		snprintf(arg, 512, "fd %d (%s)", fd, link);
	return 1;
}

/* 1 and what (a 512-byte buffer, may be NULL) when a /dev/nvidia* mapping is there. */
static int has_nvidia_mapping(pid_t pid, char *what)
{
	char path[64], line[1024];
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *name = strstr(line, " /dev/nvidia");

		if (!name)
			continue;
		if (what) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(what, 512, "mapping %.480s", line);
		}
		ret = 1;
		break;
	}
	fclose(f);
	return ret;
}

int gpu_process_uses_gpu(pid_t pid)
{
	int ret = gpu_for_each_fd(pid, is_nvidia_fd, NULL);

	if (ret < 0)
		return log_errno("pid %d: listing its fds", pid);
	if (ret)
		return 1;
	ret = has_nvidia_mapping(pid, NULL);
	if (ret < 0)
		return log_errno("pid %d: reading its maps", pid);
	return ret;
}

/* Resident anonymous + shmem bytes: the checkpoint grows them by the device state. */
static uint64_t rss_bytes(pid_t pid)
{
	char path[64], line[256];
	uint64_t kb, total = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %lu kB", &kb) == 1 ||
		    sscanf(line, "RssShmem: %lu kB", &kb) == 1)
			total += kb << 10;
	fclose(f);
	return total;
}

int gpu_read_vmas(pid_t pid, struct gpu_vma **ret, size_t *nr)
{
	struct gpu_vma *v = NULL, *grown;
	size_t cap = 0, n = 0;
	char path[64], *line = NULL;
	size_t line_cap = 0;
	unsigned long long start, end, ino, kb;
	FILE *f;

	*ret = NULL;
	*nr = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* whole lines: a long mapped path cut by a fixed buffer could end in what looks like a VMA */
	while (getline(&line, &line_cap, f) > 0) {
		if (sscanf(line, "%llx-%llx %*s %*s %*s %llu", &start, &end, &ino) == 3) {
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				grown = realloc(v, cap * sizeof(*v));
				if (!grown) {
					free(v);
					free(line);
					fclose(f);
					return -ENOMEM;
				}
				v = grown;
			}
			v[n++] = (struct gpu_vma){ start, end, ino, 0 };
		} else if (n && sscanf(line, "Rss: %llu kB", &kb) == 1) {
			v[n - 1].rss = (uint64_t)kb << 10;
		}
	}
	free(line);
	fclose(f);
	*ret = v;
	*nr = n;
	return 0;
}

void gpu_state_ranges(const struct gpu_vma *before, size_t nb, const struct gpu_vma *after,
		      size_t na, struct image_gpu *g)
{
	size_t i, k = 0;

	g->nr_state = 0;
	g->state_known = true;
	for (i = 0; i < na; i++) {
		const struct gpu_vma *a = &after[i];

		/* both lists are in address order */
		while (k < nb && before[k].end <= a->start)
			k++;
		if (k < nb && before[k].start == a->start && before[k].end == a->end &&
		    before[k].ino == a->ino && before[k].rss >= a->rss)
			continue; /* the same mapping, nothing more resident: not the driver's */
		if (g->nr_state && g->state[g->nr_state - 1].end == a->start) {
			g->state[g->nr_state - 1].end = a->end;
			continue;
		}
		if (g->nr_state == IMAGE_MAX_GPU_STATE) {
			g->state_known = false; /* too many to keep: all of it stays eager */
			g->nr_state = 0;
			return;
		}
		g->state[g->nr_state].start = a->start;
		g->state[g->nr_state].end = a->end;
		g->nr_state++;
	}
}

struct uvm_find {
	int fd;
	bool has_nul;
	int pidfd;
};

static int find_uvm_socket(pid_t pid, int fd, const char *link, void *arg)
{
	struct uvm_find *u = arg;
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	size_t plen = strlen(UVM_PREFIX);
	int local, ret = 0;

	if (strncmp(link, "socket:", 7))
		return 0;
	local = (int)syscall(SYS_pidfd_getfd, u->pidfd, fd, 0);
	if (local < 0)
		return log_errno("pid %d fd %d (%s): pidfd_getfd", pid, fd, link);
	if (getsockname(local, (struct sockaddr *)&sa, &len) == 0 && sa.sun_family == AF_UNIX &&
	    len > offsetof(struct sockaddr_un, sun_path) + 1 + plen && sa.sun_path[0] == '\0' &&
	    !memcmp(sa.sun_path + 1, UVM_PREFIX, plen)) {
		size_t n = len - offsetof(struct sockaddr_un, sun_path);

		if (u->fd >= 0) {
			log_error("pid %d: two CUDA uvm sockets (fds %d and %d)", pid, u->fd, fd);
			ret = -ENOTSUP;
		} else {
			u->fd = fd;
			u->has_nul = sa.sun_path[n - 1] == '\0';
		}
	}
	close(local);
	return ret;
}

/* After the checkpoint: nothing of the device may be left, and where the driver's socket is. */
static int check_checkpointed(pid_t pid, struct image_gpu *g)
{
	struct uvm_find u = { .fd = -1 };
	char what[512];
	int ret;

	ret = gpu_for_each_fd(pid, is_nvidia_fd, what);
	if (ret == 0)
		ret = has_nvidia_mapping(pid, what);
	if (ret > 0) {
		log_error("pid %d still holds %s after the CUDA checkpoint (a device file opened "
			  "outside CUDA, e.g. by NVML or a library that forked?)",
			  pid, what);
		return -EBUSY;
	}
	if (ret < 0)
		return log_errno("pid %d: reading its fds and maps", pid);
	u.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (u.pidfd < 0)
		return log_errno("pid %d: pidfd_open", pid);
	ret = gpu_for_each_fd(pid, find_uvm_socket, &u);
	close(u.pidfd);
	if (ret < 0)
		return ret;
	g->uvm_socket_fd = u.fd;
	g->uvm_socket_nul = u.has_nul;
	return 0;
}

static void log_reply(const struct cuda_reply *r)
{
	if (r->msg[0])
		log_error("%s", r->msg);
}

/* The driver's restore thread as the snapshot names it (its own PID namespace), or 0. */
static int32_t ns_tid(pid_t pid, int tid)
{
	char path[64], line[256];
	int32_t inner = 0;
	FILE *f;

	if (tid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "NSpid:", 6)) {
			char *p = line + 6, *end;

			for (;;) {
				long v = strtol(p, &end, 10);

				if (end == p)
					break;
				inner = (int32_t)v;
				p = end;
			}
		}
	fclose(f);
	return inner;
}

/* The image's view of a region: what a load needs after a restore. */
static void weights_ref_of(const struct image_gpu *g, struct weights_ref *w)
{
	memset(w, 0, sizeof(*w));
	w->found = g->weights_tid > 0;
	w->reg.req_fd = g->weights_req_fd;
	w->reg.rep_fd = g->weights_rep_fd;
	w->reg.bytes = g->weights_bytes;
	w->reg.nr_segments = g->weights_segments;
}

/*
 * Asks pid's agent for op; 0 or -errno, logged, with the figures in st.
 * *answered (may be NULL) says whether the agent answered: a failure it
 * reports leaves the region as it was, while one without an answer (a
 * timeout) leaves it unknown.
 */
static int weights_op(pid_t pid, const struct weights_ref *w, enum tw_op op, struct gpu_stats *st,
		      bool *answered)
{
	const char *what = op == TW_OP_SAVE ? "save" : "load";
	struct tw_reply r;
	int ret = weights_request(pid, w, op, GPU_TIMEOUT_S, &r);
	double ms, copy_ms;

	if (answered)
		*answered = ret == 0;
	if (ret < 0)
		return ret;
	if (r.ret < 0) {
		log_error("pid %d: GPU weights %s failed: %s", pid, what,
			  r.msg[0] ? r.msg : strerror(-r.ret));
		return r.ret;
	}
	ms = (double)r.total_us / 1e3;
	copy_ms = (double)r.copy_us / 1e3;
	if (st) {
		st->weights_ms = ms;
		st->weights_copy_ms = copy_ms;
		st->weights_bytes = r.bytes;
		st->weights_segments = r.nr_segments;
	}
	log_info("pid %d: GPU weights %s in %.1f ms: %.2f GiB in %u allocations, copied at "
		 "%.2f GB/s",
		 pid, op == TW_OP_SAVE ? "saved to host memory" : "back on the GPU", ms,
		 (double)r.bytes / (1u << 30), r.nr_segments,
		 copy_ms > 0 ? (double)r.bytes / copy_ms / 1e6 : 0.0);
	return 0;
}

int gpu_checkpoint(pid_t pid, unsigned lock_timeout_ms, struct image *img, struct gpu_stats *st)
{
	struct image_gpu *g = &img->gpu;
	struct gpu_stats wst = { 0 };
	struct weights_ref w;
	struct gpu_vma *vmas_before = NULL, *vmas_after = NULL;
	size_t nb = 0, na = 0;
	struct cuda_reply *r;
	bool answered = false;
	uint64_t before;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = gpu_process_uses_gpu(pid);
	if (ret <= 0)
		return ret;
	/*
	 * Where what the restore reads back lands (the weights saved, the
	 * device state): what the save and the checkpoint map or fill.  A lazy
	 * restore keeps it eager (docs/gpu.md).
	 */
	if (gpu_read_vmas(pid, &vmas_before, &nb) < 0)
		log_warn("pid %d: its mappings before the checkpoint are unknown: a lazy restore "
			 "will keep all of its memory eager",
			 pid);
	/*
	 * Weights first: the agent's CUDA calls would block once the process is
	 * locked.  A region that cannot be used, or whose agent says its save
	 * failed (the region is then as it was), is left to the driver.
	 */
	ret = 0;
	if (weights_find(pid, &w) < 0)
		log_warn("pid %d: its GPU weights go through the driver's checkpoint", pid);
	else if (w.found && w.reg.bytes)
		ret = weights_op(pid, &w, TW_OP_SAVE, &wst, &answered);
	if (ret < 0 && !answered) {
		/*
		 * No answer: the save may still be under way.  The agent takes
		 * requests in order, so a load asked for now follows it; the dump
		 * cannot go on without knowing what the region holds.
		 */
		struct tw_reply lr;

		log_error("pid %d: the dump stops; its GPU weights thread is asked to load them "
			  "back once its save is done",
			  pid);
		if (weights_request(pid, &w, TW_OP_LOAD, 0, &lr) < 0) {
			/* not waited for: -ETIMEDOUT is what it says */
		}
		free(vmas_before);
		return ret;
	}
	if (ret < 0)
		log_warn("pid %d: its GPU weights go through the driver's checkpoint", pid);
	/* nothing saved (a failed save, or every allocation freed meanwhile): nothing to load */
	if (ret < 0 || !wst.weights_bytes)
		w.found = false;
	ret = 0;
	r = calloc(1, sizeof(*r));
	if (!r) {
		ret = -ENOMEM;
		goto undo;
	}
	before = rss_bytes(pid);
	ret = cuda_request(CUDA_OP_CHECKPOINT, pid, lock_timeout_ms ? lock_timeout_ms :
								      GPU_LOCK_TIMEOUT_MS,
			   GPU_TIMEOUT_S, r);
	if (ret == 0 && r->ret < 0) {
		log_reply(r);
		ret = r->ret;
	}
	if (ret < 0) {
		free(r);
		goto undo;
	}
	st->lock_ms = r->lock_ms;
	st->checkpoint_ms = r->checkpoint_ms;
	st->weights_ms = wst.weights_ms;
	st->weights_copy_ms = wst.weights_copy_ms;
	st->weights_bytes = wst.weights_bytes;
	memset(g, 0, sizeof(*g));
	if (w.found) {
		g->weights_tid = ns_tid(pid, w.host_tid);
		g->weights_req_fd = w.reg.req_fd;
		g->weights_rep_fd = w.reg.rep_fd;
		g->weights_segments = wst.weights_segments;
		g->weights_bytes = wst.weights_bytes;
	}
	if (nvidia_driver_version(g->driver, sizeof(g->driver)) < 0)
		snprintf(g->driver, sizeof(g->driver), "unknown");
	g->cuda_version = r->cuda_version;
	g->restore_tid = ns_tid(pid, r->restore_tid);
	g->nr_devs = r->nr_devs;
	memcpy(g->devs, r->devs, sizeof(g->devs));
	ret = check_checkpointed(pid, g);
	/* only a restore that runs the agent before the program gets the weights back in time */
	if (ret == 0 && w.found && (!g->restore_tid || !g->weights_tid)) {
		log_error("pid %d: the CUDA driver does not name its restore thread (or the GPU "
			  "weights thread has no TID in the snapshot): the weights could not be "
			  "back before the program runs",
			  pid);
		ret = -ENOTSUP;
	}
	if (ret < 0) {
		free(r);
		/* back on its GPU, then its weights (what g names of them may be what failed) */
		if (gpu_resume(pid, NULL) < 0) {
			free(vmas_before);
			return ret;
		}
		goto undo;
	}
	g->device_bytes = rss_bytes(pid);
	g->device_bytes = g->device_bytes > before ? g->device_bytes - before : 0;
	if (vmas_before && gpu_read_vmas(pid, &vmas_after, &na) == 0)
		gpu_state_ranges(vmas_before, nb, vmas_after, na, g);
	free(vmas_before);
	free(vmas_after);
	st->device_bytes = g->device_bytes;
	img->has_gpu = true;
	log_info("pid %d: CUDA checkpoint in %.1f ms (lock %.1f ms): %.2f GiB of device state "
		 "now in host memory",
		 pid, r->lock_ms + r->checkpoint_ms, r->lock_ms,
		 (double)g->device_bytes / (1u << 30));
	free(r);
	return 0;
undo:
	free(vmas_before);
	/* the driver's checkpoint did not happen or was undone: the program gets its weights back */
	if (w.found && weights_op(pid, &w, TW_OP_LOAD, NULL, NULL) < 0)
		log_error("pid %d: its GPU weights stay in host memory; the program cannot use "
			  "them until thaw_gpu_weights_load() succeeds",
			  pid);
	return ret;
}

static int restore_request(pid_t pid, struct cuda_child *c, struct gpu_stats *st)
{
	struct cuda_reply *r = calloc(1, sizeof(*r));
	int ret;

	if (!r) {
		if (c)
			cuda_cancel(c);
		return -ENOMEM;
	}
	if (c && c->pid > 0)
		ret = cuda_finish(c, pid, GPU_TIMEOUT_S, r);
	else
		ret = cuda_request(CUDA_OP_RESTORE, pid, 0, GPU_TIMEOUT_S, r);
	if (ret == 0 && r->ret < 0) {
		log_reply(r);
		ret = r->ret;
	}
	if (ret == 0 && st) {
		st->restore_ms = r->restore_ms;
		st->unlock_ms = r->unlock_ms;
		st->init_ms = r->init_ms;
	}
	free(r);
	return ret;
}

int gpu_resume(pid_t pid, const struct image_gpu *g)
{
	struct weights_ref w;
	int ret = restore_request(pid, NULL, NULL);

	if (ret < 0) {
		log_error("pid %d: could not put the process back on its GPU", pid);
		return ret;
	}
	if (!g || !g->weights_tid)
		return 0;
	weights_ref_of(g, &w);
	ret = weights_op(pid, &w, TW_OP_LOAD, NULL, NULL);
	if (ret < 0)
		log_error("pid %d: its GPU weights stay in host memory; the program cannot use "
			  "them until thaw_gpu_weights_load() succeeds",
			  pid);
	return ret;
}

void gpu_restore_begin(const struct image *img, struct cuda_child *c)
{
	c->pid = -1;
	if (img->has_gpu && cuda_start(CUDA_OP_RESTORE, 0, 0, c) < 0)
		c->pid = -1;
}

void gpu_restore_cancel(struct cuda_child *c)
{
	cuda_cancel(c);
}

int gpu_restore(pid_t pid, const struct image *img, struct cuda_child *c, struct gpu_stats *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	if (!img->has_gpu)
		return 0;
	ret = restore_request(pid, c, st);
	if (ret < 0)
		return ret;
	st->device_bytes = img->gpu.device_bytes;
	if (img->gpu.weights_tid) {
		struct weights_ref w;

		weights_ref_of(&img->gpu, &w);
		ret = weights_op(pid, &w, TW_OP_LOAD, st, NULL);
		if (ret < 0)
			return ret;
	}
	log_info("pid %d: CUDA restore in %.1f ms (unlock %.1f ms; driver loaded in %.1f ms, "
		 "beforehand): %.2f GiB at %.2f GB/s",
		 pid, st->restore_ms + st->unlock_ms, st->unlock_ms, st->init_ms,
		 (double)st->device_bytes / (1u << 30),
		 st->restore_ms > 0 ? (double)st->device_bytes / st->restore_ms / 1e6 : 0.0);
	return 0;
}

/* "580.159.04" < "580.95.05"?  Compares numerically, part by part. */
static int version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		if ((*a && (*a < '0' || *a > '9')) || (*b && (*b < '0' || *b > '9')))
			break;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The GPU models in PCI order, from /proc/driver/nvidia/gpus/<bus>/information. */
static int host_gpu_models(char names[][IMAGE_GPU_NAME], uint32_t max, uint32_t *ret_nr)
{
	char *buses[IMAGE_MAX_GPUS];
	uint32_t nr = 0, i;
	struct dirent *de;
	DIR *d = opendir("/proc/driver/nvidia/gpus");

	*ret_nr = 0;
	if (!d)
		return -ENODEV;
	while ((de = readdir(d)) && nr < max) {
		if (de->d_name[0] == '.')
			continue;
		buses[nr] = strdup(de->d_name);
		if (buses[nr])
			nr++;
	}
	closedir(d);
	qsort(buses, nr, sizeof(buses[0]), cmp_str);
	for (i = 0; i < nr; i++) {
		char path[512], line[256];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/driver/nvidia/gpus/%s/information", buses[i]);
		names[i][0] = '\0';
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f)) {
			char *v = line + 6;

			if (strncmp(line, "Model:", 6))
				continue;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(names[i], IMAGE_GPU_NAME, "%s", v);
			break;
		}
		if (f)
			fclose(f);
		free(buses[i]);
	}
	*ret_nr = nr;
	return 0;
}

int gpu_compare(const struct image *img, char *why, size_t whylen)
{
	const struct image_gpu *g = &img->gpu;
	char (*names)[IMAGE_GPU_NAME] = NULL, driver[32];
	uint32_t nr = 0, i;
	int ret = 0;

	if (!img->has_gpu)
		return 0;
	if (nvidia_driver_version(driver, sizeof(driver)) < 0) {
		snprintf(why, whylen, "the snapshot holds CUDA state of %u GPU(s) (%s), but this "
				      "host has no NVIDIA driver",
			 g->nr_devs, g->nr_devs ? g->devs[0].name : "none");
		return -ENODEV;
	}
	if (version_cmp(driver, g->driver) < 0) {
		snprintf(why, whylen, "NVIDIA driver %s here is older than the snapshot's %s",
			 driver, g->driver);
		return -ENODEV;
	}
	names = calloc(IMAGE_MAX_GPUS, sizeof(*names));
	if (!names)
		return -ENOMEM;
	host_gpu_models(names, IMAGE_MAX_GPUS, &nr);
	if (nr != g->nr_devs) {
		snprintf(why, whylen, "the snapshot was taken with %u GPU(s), this host has %u",
			 g->nr_devs, nr);
		ret = -ENODEV;
		goto out;
	}
	for (i = 0; i < nr; i++)
		if (strcmp(names[i], g->devs[i].name)) {
			snprintf(why, whylen, "GPU %u is a %s here but was a %s in the snapshot", i,
				 names[i], g->devs[i].name);
			ret = -ENODEV;
			goto out;
		}
out:
	free(names);
	return ret;
}

int gpu_helper_prepare(const struct image *img)
{
	const struct image_gpu *g = &img->gpu;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat ns;
	socklen_t len;
	int fd, n;

	if (!img->has_gpu || g->uvm_socket_fd < 0)
		return 0;
	if (stat("/proc/self/ns/pid", &ns) < 0)
		return log_errno("gpu: reading this PID namespace's inode");
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 2, UVM_PREFIX "%lu-%d",
		     (unsigned long)ns.st_ino, (int)getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n +
			  (g->uvm_socket_nul ? 1 : 0));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_errno("gpu: socket for the CUDA uvm socket");
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 64) < 0) {
		int ret = log_errno("gpu: binding the CUDA uvm socket @%s", sa.sun_path + 1);

		close(fd);
		return ret;
	}
	if (fd != g->uvm_socket_fd) {
		if (dup3(fd, g->uvm_socket_fd, O_CLOEXEC) < 0) {
			int ret = log_errno("gpu: moving the CUDA uvm socket to fd %d",
					    g->uvm_socket_fd);

			close(fd);
			return ret;
		}
		close(fd);
	}
	return 0;
}

int *gpu_external_fds(const struct image *img, const int *fds, size_t nr, size_t *ret_nr)
{
	int *all;

	*ret_nr = nr;
	if (!img->has_gpu || img->gpu.uvm_socket_fd < 0)
		return NULL;
	all = malloc((nr + 1) * sizeof(*all));
	if (!all)
		return NULL;
	if (nr)
		memcpy(all, fds, nr * sizeof(*all));
	all[nr] = img->gpu.uvm_socket_fd;
	*ret_nr = nr + 1;
	return all;
}
