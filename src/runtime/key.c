/*
 * key.c - the launch key: which snapshot a start may restore.
 *
 * The key digests everything a snapshot silently depends on: the command line,
 * the environment given to the command (minus the per-invocation variables
 * of runtime_env_left_out, unless --env-keep, and minus --env-ignore), the working
 * directory, the executable's identity, the CPU feature words, the kernel
 * release, the GPU models, the snapshot format, --fixed-layout and --root.  The ingredients are kept
 * beside the snapshot (environment values only as digests: they may be
 * secrets) so that a start whose key differs can say which one changed.
 * Files the program mapped or opened are checked later, against the
 * snapshot itself (run.c), because only the dump knows them.
 */
#define LOG_TAG "run"
#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/log.h"
#include "image/image.h"
#include "runtime-internal.h"

extern char **environ;

/* Names thaw itself sets or that only choose where thaw keeps things. */
static const char *const always_ignored[] = { "THAW_CONTROL_FD", "THAW_STORE",
					      "THAW_VERIFY_DIGEST", "THAW_VERIFY" };

/*
 * Variables that differ from one start of the same command to the next by
 * their nature: who started it and from where (the shell's _ is the path of
 * the last command it ran, so the same command from two wrappers differed),
 * the terminal and the login session.  A program that reads one keeps the
 * snapshot's value when restored, hence --env-keep.
 */
const char *const runtime_env_left_out[] = {
	"_", "OLDPWD", "SHLVL", "TERM", "COLORTERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION",
	"TERM_SESSION_ID", "COLUMNS", "LINES", "WINDOWID", "TMUX", "TMUX_PANE", "STY", "WINDOW",
	"SSH_*", "XDG_SESSION_*", "XDG_SEAT", "XDG_VTNR", "INVOCATION_ID", "JOURNAL_STREAM",
	NULL,
};

static bool matches_any(const char *name, const char *const *globs, size_t n)
{
	size_t i;

	for (i = 0; i < n && globs[i]; i++)
		if (!fnmatch(globs[i], name, 0))
			return true;
	return false;
}

static bool env_ignored(const struct runtime_run_opts *opts, const char *name, size_t len)
{
	char buf[256];

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (matches_any(buf, always_ignored, sizeof(always_ignored) / sizeof(always_ignored[0])) ||
	    matches_any(buf, opts->env_ignore, opts->nr_env_ignore))
		return true;
	return matches_any(buf, runtime_env_left_out, SIZE_MAX) &&
	       !matches_any(buf, opts->env_keep, opts->nr_env_keep);
}

static json_t *env_digests(const struct runtime_run_opts *opts)
{
	json_t *env = json_object();
	char **e, hex[65], name[256];

	for (e = environ; env && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : strlen(*e);

		if (!eq || len == 0 || len >= sizeof(name) || env_ignored(opts, *e, len))
			continue;
		memcpy(name, *e, len);
		name[len] = '\0';
		runtime_sha256_hex(*e, strlen(*e), hex);
		hex[16] = '\0';
		json_object_set_new(env, name, json_string(hex));
	}
	return env;
}

/* execvp's search, done here so that the key names the file that will run. */
static char *find_exe(const char *cmd)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) ? NULL : realpath(cmd, NULL);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchrnul(path, ':');
		int n = (int)(end - path);

		snprintf(buf, sizeof(buf), "%.*s/%s", n ? n : 1, n ? path : ".", cmd);
		if (!access(buf, X_OK))
			return realpath(buf, NULL);
		path = *end ? end + 1 : end;
	}
	return NULL;
}

static json_t *file_identity(const struct run_root *rr, const char *path)
{
	char hex[65];
	struct stat st;

	/* a file of an image: its contents, wherever and however it is mounted */
	if (root_image_digest(rr, path, hex) == 0)
		return json_pack("{s:s, s:s}", "path", path, "content", hex);

	if (root_stat(rr, path, &st))
		return json_pack("{s:s}", "path", path);
	return json_pack("{s:s, s:I, s:I, s:I, s:I}", "path", path, "size", (json_int_t)st.st_size,
			 "mtime_ns",
			 (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec, "ino",
			 (json_int_t)st.st_ino, "dev", (json_int_t)st.st_dev);
}

/* The CPUID feature words the engine's host check compares (leaf 1 ebx holds the APIC id: not). */
static json_t *cpu_features(void)
{
	unsigned int a, b, c, d, words[8] = { 0 };
	char hex[8 * 9 + 1];
	int i;

	if (__get_cpuid_count(1, 0, &a, &b, &c, &d))
		words[0] = c, words[1] = d;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		words[2] = b, words[3] = c, words[4] = d;
	if (__get_cpuid_count(7, 1, &a, &b, &c, &d))
		words[5] = a;
	if (__get_cpuid_count(0x80000001, 0, &a, &b, &c, &d))
		words[6] = c, words[7] = d;
	for (i = 0; i < 8; i++)
		snprintf(hex + 9 * i, 10, "%08x%s", words[i], i < 7 ? "." : "");
	return json_string(hex);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "Model:" lines of the NVIDIA driver's per-GPU files, in bus order; "" without GPUs. */
static json_t *gpu_models(void)
{
	DIR *d = opendir("/proc/driver/nvidia/gpus");
	char *names[64], line[256], path[512], models[4096] = "";
	size_t n = 0, i, used = 0;
	struct dirent *de;

	while (d && (de = readdir(d)) && n < 64)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 0; i < n; i++) {
		FILE *f;

		if (!names[i])
			continue;
		snprintf(path, sizeof(path), "/proc/driver/nvidia/gpus/%s/information", names[i]);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "Model:", 6) && used < sizeof(models) - 1) {
				line[strcspn(line, "\n")] = '\0';
				used += (size_t)snprintf(models + used, sizeof(models) - used,
							 "%s%s", used ? "; " : "",
							 line + 6 + strspn(line + 6, " \t"));
				if (used >= sizeof(models))
					used = sizeof(models) - 1;
			}
		if (f)
			fclose(f);
		free(names[i]);
	}
	return json_string(models);
}

int key_ingredients(const struct runtime_run_opts *opts, const struct run_root *rr, json_t **ret,
		    char **ret_exe)
{
	char cwd[PATH_MAX], format[64], *exe;
	bool in_root = rr && !rr->mountpoint[0];
	struct utsname u;
	json_t *obj, *argv;
	size_t i;

	exe = in_root ? root_find_exe(rr, opts->argv[0]) : find_exe(opts->argv[0]);
	if (!exe)
		return -ENOENT;
	if (in_root)
		snprintf(cwd, sizeof(cwd), "/"); /* the program starts at its root's top */
	else if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), "?");
	uname(&u);
	snprintf(format, sizeof(format), "image %d runtime %d", IMAGE_FORMAT_VERSION,
		 RUNTIME_FORMAT_VERSION);
	argv = json_array();
	for (i = 0; opts->argv[i]; i++)
		json_array_append_new(argv, json_string(opts->argv[i]));
	obj = json_pack("{s:s, s:o, s:o, s:s, s:o, s:o, s:s, s:o}", "format", format, "argv", argv,
			"env", env_digests(opts), "cwd", cwd, "exe", file_identity(rr, exe), "cpu",
			cpu_features(), "kernel", u.release, "gpus", gpu_models());
	/* only when asked: the keys of every start without it stay what they were */
	if (obj && opts->fixed_layout)
		json_object_set_new(obj, "layout", json_string("fixed"));
	/* likewise: a start without --root keeps its key */
	if (obj && rr && rr->image)
		json_object_set_new(obj, "root",
				    json_pack("{s:s, s:s, s:s}", "image", rr->image_name, "digest",
					      rr->image_id, "at",
					      rr->mountpoint[0] ? rr->mountpoint : "/"));
	else if (obj && rr)
		json_object_set_new(obj, "root",
				    json_pack("{s:s, s:s}", "dir", rr->lower, "at",
					      rr->mountpoint[0] ? rr->mountpoint : "/"));
	if (!obj) {
		free(exe);
		return -ENOMEM;
	}
	*ret = obj;
	*ret_exe = exe;
	return 0;
}

void key_digest(json_t *ingredients, char key[RUNTIME_KEY_LEN + 1])
{
	char *text = json_dumps(ingredients, JSON_SORT_KEYS | JSON_COMPACT), hex[65];

	runtime_sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
	free(text);
	memcpy(key, hex, RUNTIME_KEY_LEN);
	key[RUNTIME_KEY_LEN] = '\0';
}

static char *explain_argv(json_t *was, json_t *now)
{
	size_t i, n = json_array_size(was), m = json_array_size(now);
	char *out = NULL;

	for (i = 0; i < n || i < m; i++) {
		if (i >= n || i >= m || !json_equal(json_array_get(was, i), json_array_get(now, i))) {
			if (asprintf(&out, "argument %zu %s", i,
				     i >= n ? "added" : i >= m ? "removed" : "changed") < 0)
				out = NULL;
			return out;
		}
	}
	return NULL;
}

static char *explain_env(json_t *was, json_t *now)
{
	const char *name;
	json_t *v;
	char *out = NULL;

	json_object_foreach(now, name, v) {
		json_t *old = json_object_get(was, name);

		if (!json_equal(old, v)) {
			if (asprintf(&out, "environment variable %s %s", name,
				     old ? "changed" : "was set") < 0)
				out = NULL;
			return out;
		}
	}
	json_object_foreach(was, name, v) {
		if (!json_object_get(now, name)) {
			if (asprintf(&out, "environment variable %s was unset", name) < 0)
				out = NULL;
			return out;
		}
	}
	return NULL;
}

static char *explain_root(json_t *was, json_t *now)
{
	const char *dir = json_string_value(json_object_get(now, "dir"));
	const char *image = json_string_value(json_object_get(now, "image"));
	const char *was_image = json_string_value(json_object_get(was, "image"));
	char *out = NULL;
	int n = -1;

	if (!was)
		return strdup(image ? "--image was given" : "--root was given");
	if (!now)
		return strdup(was_image ? "--image was left out" : "--root was left out");
	if (!was_image != !image)
		return strdup(image ? "--image was given instead of --root"
				    : "--root was given instead of --image");
	if (!json_equal(json_object_get(was, "at"), json_object_get(now, "at"))) {
		n = asprintf(&out, "%s's mount point changed", image ? "--image" : "--root");
	} else if (image && strcmp(image, was_image)) {
		n = asprintf(&out, "image changed (was %s, now %s)", was_image, image);
	} else if (image) {
		/* the same name, another image: what the issue wants named */
		n = asprintf(&out, "image %s changed (now %.12s)", image,
			     json_string_value(json_object_get(now, "digest")) ?: "?");
	} else {
		n = asprintf(&out, "root directory changed (now %s)", dir ? dir : "?");
	}
	return n < 0 ? NULL : out;
}

char *key_explain(json_t *was, json_t *now)
{
	static const struct {
		const char *field, *what;
	} simple[] = {
		{ "format", "thaw's snapshot format changed" },
		{ "cwd", "working directory changed" },
		{ "cpu", "CPU features changed" },
		{ "kernel", "kernel release changed" },
		{ "gpus", "GPU models changed" },
	};
	char *out = NULL;
	size_t i;

	if (!json_is_object(was))
		return strdup("the stored snapshot has no key ingredients");
	/* the tree first: every other difference follows from another tree */
	if ((json_object_get(was, "root") || json_object_get(now, "root")) &&
	    !json_equal(json_object_get(was, "root"), json_object_get(now, "root")))
		return explain_root(json_object_get(was, "root"), json_object_get(now, "root"));
	if (!json_equal(json_object_get(was, "exe"), json_object_get(now, "exe"))) {
		const char *path = json_string_value(
			json_object_get(json_object_get(now, "exe"), "path"));

		if (asprintf(&out, "%s changed", path ? path : "the executable") < 0)
			out = NULL;
		return out;
	}
	out = explain_argv(json_object_get(was, "argv"), json_object_get(now, "argv"));
	if (out)
		return out;
	out = explain_env(json_object_get(was, "env"), json_object_get(now, "env"));
	if (out)
		return out;
	if (!json_object_get(was, "layout") != !json_object_get(now, "layout"))
		return strdup(json_object_get(now, "layout") ? "--fixed-layout was given"
							      : "--fixed-layout was left out");
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (!json_equal(json_object_get(was, simple[i].field),
				json_object_get(now, simple[i].field)))
			return strdup(simple[i].what);
	return strdup("launch key changed");
}
