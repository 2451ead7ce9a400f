/*
 * cmd-image.c - `thaw image`: program images in the chunk store, served as a
 * lazy FUSE filesystem (the layer is src/imagefs/imagefs.h; docs/imagefs.md).
 *
 * The store is given as for `thaw store` (--store DIR|URL, default
 * $THAW_STORE; --cache DIR in front of a URL).  `mount` returns once the
 * mount answers, leaving its server in the background (--foreground keeps
 * it in this process); `umount` ends it.  Exit status: 0 done, 1 failed,
 * 2 bad usage.
 */
#define LOG_TAG "image"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/cli.h"
#include "imagefs/imagefs.h"
#include "store/store.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: thaw image push ROOT --name NAME [OPTIONS]\n"
		"       thaw image ls|inspect NAME [--files]|rm NAME [OPTIONS]\n"
		"       thaw image mount --name NAME [OPTIONS] MOUNTPOINT\n"
		"       thaw image umount MOUNTPOINT\n"
		"       thaw image record --name NAME [OPTIONS] MOUNTPOINT -- CMD [ARGS]\n"
		"\n"
		"Program images (a root filesystem, a venv, a model directory) in the chunk store,\n"
		"served as a read-only FUSE filesystem that fetches file contents on first read.\n"
		"push packs the tree at ROOT as image NAME; ls lists the images of a local store;\n"
		"inspect shows one (--files: every path); rm removes its name (store gc then frees\n"
		"its chunks); mount serves it at MOUNTPOINT (a server in the background, its pid\n"
		"printed, unless --foreground); umount ends it; record mounts, runs CMD, and keeps\n"
		"the chunks its start read, in order, for later mounts to prefetch.\n"
		"\n"
		"Options:\n"
		"  --name NAME         the image (push, mount, record)\n"
		"  --store DIR|URL     the store (default $THAW_STORE, the configuration\n"
		"                      files' store, else ~/.cache/thaw/store)\n"
		"  --cache DIR         local cache in front of a URL (default ~/.cache/thaw/chunks)\n"
		"  --cache-limit BYTES size limit of that cache (default 10 GiB)\n"
		"  --key-file FILE     encrypt/decrypt at rest with this 32-byte key\n"
		"  --token TOKEN       bearer token for HTTP (default $THAW_STORE_TOKEN)\n"
		"  --s3-endpoint URL   the S3-compatible server of an s3://BUCKET/PREFIX store\n"
		"  --s3-style STYLE    path or virtual (as for thaw store)\n"
		"  --compress CODEC    none, lz4 or zstd[:LEVEL] for the disk tier (lz4)\n"
		"  --retries N         HTTP retries after a 5xx or timeout (4)\n"
		"  --timeout-ms MS     HTTP request timeout (mount: 10000)\n"
		"  --fetch-timeout-ms MS  a read waiting longer for a chunk fails with EIO (60000)\n"
		"  --ram-limit BYTES   verified chunks a mount keeps in RAM (256 MiB)\n"
		"  --threads N         FUSE worker threads at most (16)\n"
		"  --no-prefetch       mount: do not prefetch the recorded start\n"
		"  --foreground        mount: serve in this process until unmounted\n"
		"  --record FILE       mount: write the chunk numbers reads first wanted to FILE\n"
		"  --files             inspect: list every path\n"
		"  --help              show this help\n"
		"\n"
		"Exit status:\n"
		"  0 done; 1 failed (record: also when CMD did not exit 0); 2 usage error.\n");
}

struct opts {
	const char *store, *cache, *key_file, *token, *name, *record, *s3_endpoint, *s3_style;
	uint64_t cache_limit, ram_limit;
	int codec, level;
	unsigned retries, timeout_ms, fetch_timeout_ms, threads;
	bool foreground, no_prefetch, files;
};

static char *default_path(const char *rel)
{
	const char *home = getenv("HOME");
	char *p;

	if (asprintf(&p, "%s/%s", home && *home ? home : "/root", rel) < 0)
		return NULL;
	return p;
}

/* Fills cfg from the options; *cache_buf (to free) holds a default cache path. */
static void store_config_of(const struct opts *o, struct store_config *cfg, char **cache_buf)
{
	store_config_init(cfg);
	cfg->key_file = o->key_file;
	cfg->token = o->token;
	cfg->disk_codec = o->codec;
	cfg->disk_level = o->level;
	cfg->http_retries = o->retries;
	cfg->http_timeout_ms = o->timeout_ms;
	cfg->s3_endpoint = o->s3_endpoint;
	cfg->s3_style = o->s3_style;
	*cache_buf = NULL;
	if (store_is_remote(o->store)) {
		cfg->url = o->store;
		cfg->dir = o->cache ? o->cache : (*cache_buf = default_path(".cache/thaw/chunks"));
		cfg->disk_limit = o->cache_limit;
	} else {
		cfg->dir = o->store;
	}
}

/* Options and positional words, in any order; "--" ends them (record's command follows). */
static int parse(int argc, char **argv, struct opts *o, char **args, int max_args, int *nargs)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "cache", required_argument, NULL, 'c' },
		{ "cache-limit", required_argument, NULL, 'l' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "token", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "compress", required_argument, NULL, 'z' },
		{ "retries", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 'o' },
		{ "fetch-timeout-ms", required_argument, NULL, 'F' },
		{ "ram-limit", required_argument, NULL, 'R' },
		{ "threads", required_argument, NULL, 'T' },
		{ "record", required_argument, NULL, 'e' },
		{ "no-prefetch", no_argument, NULL, 'P' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "files", no_argument, NULL, 'L' },
		{ "s3-endpoint", required_argument, NULL, 'E' },
		{ "s3-style", required_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c, idx = 0;

	optind = 1;
	*nargs = 0;
	while ((c = getopt_long(argc, argv, "-h", longopts, &idx)) != -1) {
		switch (c) {
		case 1:
			if (*nargs >= max_args) {
				cli_usage_error(usage, "too many arguments");
				return -1;
			}
			args[(*nargs)++] = optarg;
			break;
		case 's': o->store = optarg; break;
		case 'c': o->cache = optarg; break;
		case 'k': o->key_file = optarg; break;
		case 't': o->token = optarg; break;
		case 'n': o->name = optarg; break;
		case 'e': o->record = optarg; break;
		case 'E': o->s3_endpoint = optarg; break;
		case 'Y': o->s3_style = optarg; break;
		case 'P': o->no_prefetch = true; break;
		case 'f': o->foreground = true; break;
		case 'L': o->files = true; break;
		case 'z':
			if (cli_parse_codec(optarg, &o->codec, &o->level))
				goto bad;
			break;
		case 'l':
		case 'R':
			if (cli_parse_u64(optarg, &v))
				goto bad;
			*(c == 'l' ? &o->cache_limit : &o->ram_limit) = v;
			break;
		case 'r':
			if (cli_parse_u64(optarg, &v) || v > 20)
				goto bad;
			o->retries = (unsigned)v;
			break;
		case 'o':
		case 'F':
			if (cli_parse_u64(optarg, &v) || !v || v > 3600000)
				goto bad;
			*(c == 'o' ? &o->timeout_ms : &o->fetch_timeout_ms) = (unsigned)v;
			break;
		case 'T':
			if (cli_parse_u64(optarg, &v) || !v || v > 256)
				goto bad;
			o->threads = (unsigned)v;
			break;
		case 'h': usage(stdout); return -2;
		default: cli_usage_error(usage, NULL); return -1;
		}
	}
	return optind;
bad:
	cli_usage_error(usage, "--%s: bad value '%s'", longopts[idx].name, optarg);
	return -1;
}

static int do_push(struct store *s, const char *root, const char *name)
{
	struct imagefs_push_stats st;
	struct store_digest id;
	char hex[STORE_DIGEST_HEX];

	if (imagefs_push(s, root, name, &st, &id))
		return 1;
	store_digest_hex(&id, hex);
	printf("image %s %s\n", name, hex);
	printf("%" PRIu64 " files, %" PRIu64 " directories, %" PRIu64 " symlinks, %" PRIu64
	       " other, %" PRIu64 " hard links; %" PRIu64 " bytes in %" PRIu64
	       " chunks (%" PRIu64 " bytes); index %" PRIu64 " bytes\n",
	       st.files, st.dirs, st.symlinks, st.others, st.hardlinks, st.bytes, st.chunks,
	       st.chunk_bytes, st.index_bytes);
	return 0;
}

static int do_ls(struct store *s)
{
	char **names = NULL, hex[STORE_DIGEST_HEX];
	size_t n = 0, i;
	int rc = 0;

	if (imagefs_image_list(s, &names, &n))
		return 1;
	printf("%-32s %-16s %8s %14s %8s\n", "IMAGE", "ID", "INODES", "BYTES", "CHUNKS");
	for (i = 0; i < n; i++) {
		struct imagefs_image *img = NULL;
		uint64_t bytes = 0;
		uint32_t k;

		if (imagefs_image_open(s, names[i], &img)) {
			rc = 1;
			free(names[i]);
			continue;
		}
		for (k = 0; k < img->index->nr_inodes; k++)
			if (S_ISREG(img->index->inodes[k].mode))
				bytes += img->index->inodes[k].size;
		store_digest_hex(&img->index->id, hex);
		printf("%-32s %-16.16s %8u %14" PRIu64 " %8u\n", names[i], hex,
		       img->index->nr_inodes, bytes, img->index->nr_chunks);
		imagefs_image_free(img);
		free(names[i]);
	}
	free(names);
	return rc;
}

static void print_path(const struct imagefs_index *ix, uint32_t dir, const char *prefix)
{
	const struct imagefs_inode *d = &ix->inodes[dir];

	for (uint32_t e = d->first; e < d->first + d->count; e++) {
		const struct imagefs_dirent *de = &ix->dirents[e];
		const struct imagefs_inode *n = &ix->inodes[de->ino];
		char *path;

		if (asprintf(&path, "%s/%.*s", prefix, (int)de->name_len,
			     ix->strings + de->name_off) < 0)
			return;
		printf("%06o %5u %5u %12" PRIu64 " %s", n->mode, n->uid, n->gid, n->size, path);
		if (S_ISLNK(n->mode))
			printf(" -> %.*s", (int)n->target_len, ix->strings + n->target_off);
		printf("\n");
		if (S_ISDIR(n->mode))
			print_path(ix, de->ino, path);
		free(path);
	}
}

static int do_inspect(struct store *s, const char *name, bool files)
{
	struct imagefs_image *img = NULL;
	const struct imagefs_index *ix;
	uint64_t bytes = 0, stored = 0, chunk_bytes = 0;
	uint32_t k, nfiles = 0, ndirs = 0, nlinks = 0;
	char hex[STORE_DIGEST_HEX];

	if (imagefs_image_open(s, name, &img))
		return 1;
	ix = img->index;
	for (k = 0; k < ix->nr_inodes; k++) {
		const struct imagefs_inode *n = &ix->inodes[k];

		nfiles += S_ISREG(n->mode);
		ndirs += S_ISDIR(n->mode);
		nlinks += S_ISLNK(n->mode);
		if (S_ISREG(n->mode)) {
			bytes += n->size;
			stored += n->stored;
		}
	}
	for (k = 0; k < ix->nr_chunks; k++)
		chunk_bytes += ix->chunks[k].len;
	printf("image      %s\n", name);
	store_digest_hex(&ix->id, hex);
	printf("id         %s\n", hex);
	store_digest_hex(&img->manifest, hex);
	printf("manifest   %s\n", hex);
	printf("inodes     %u (%u files, %u directories, %u symlinks, %u other)\n",
	       ix->nr_inodes, nfiles, ndirs, nlinks, ix->nr_inodes - nfiles - ndirs - nlinks);
	printf("names      %u\n", ix->nr_dirents);
	printf("bytes      %" PRIu64 " (%" PRIu64 " in chunks, the rest holes)\n", bytes, stored);
	printf("chunks     %u (%" PRIu64 " bytes)\n", ix->nr_chunks, chunk_bytes);
	printf("prefetch   %u chunks recorded\n", img->nr_prefetch);
	if (files)
		print_path(ix, 0, "");
	imagefs_image_free(img);
	return 0;
}

/* A server's exit status; 1 when it died of a signal. */
static int wait_server(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int do_record(struct store *s, struct imagefs_mount_opts *mo, char **cmd)
{
	char path[] = "/tmp/thaw-record-XXXXXX";
	uint32_t *chunks = NULL;
	struct stat st;
	pid_t server, child;
	int fd, status, rc = 1;
	FILE *f;

	fd = mkstemp(path);
	if (fd < 0)
		return 1;
	close(fd);
	mo->record = path;
	mo->no_prefetch = true;
	if (imagefs_mount_spawn(mo, &server))
		goto out;
	child = fork();
	if (child == 0) {
		execvp(cmd[0], cmd);
		cli_error("record: %s: %s", cmd[0], strerror(errno));
		_exit(127);
	}
	if (child > 0)
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
	if (imagefs_umount(mo->mountpoint) || wait_server(server) || child < 0)
		goto out;
	if (stat(path, &st) || st.st_size % 4 || !(f = fopen(path, "re")))
		goto out;
	chunks = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (chunks && fread(chunks, 1, (size_t)st.st_size, f) == (size_t)st.st_size &&
	    !imagefs_image_set_prefetch(s, mo->name, chunks, (uint32_t)(st.st_size / 4))) {
		printf("image %s: recorded %zu chunks read by the start of %s\n", mo->name,
		       (size_t)st.st_size / 4, cmd[0]);
		rc = WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : 1;
		if (rc)
			cli_error("record: %s did not exit 0 (what it read is kept)", cmd[0]);
	}
	fclose(f);
out:
	free(chunks);
	unlink(path);
	return rc;
}

static int do_mount(struct imagefs_mount_opts *mo, bool foreground)
{
	pid_t pid;

	if (foreground)
		return imagefs_serve(mo) ? 1 : 0;
	if (imagefs_mount_spawn(mo, &pid))
		return 1;
	printf("image %s mounted at %s (server pid %d)\n", mo->name, mo->mountpoint, (int)pid);
	return 0;
}

int cmd_image(int argc, char **argv)
{
	struct opts o = { .codec = STORE_CODEC_LZ4, .level = 1, .cache_limit = 10ull << 30 };
	struct imagefs_mount_opts mo = { .ready_fd = -1 };
	char *args[3] = { 0 }, *default_store = NULL, *cache_buf = NULL, **cmd = NULL;
	struct store_config cfg;
	struct store *s = NULL;
	int nargs, end, rc;

	end = parse(argc, argv, &o, args, 3, &nargs);
	if (end < 0)
		return end == -2 ? CLI_OK : CLI_USAGE;
	if (end < argc)
		cmd = argv + end; /* after "--" */
	if (!nargs)
		return cli_usage_error(usage, "which command?");
	if (!o.token)
		o.token = getenv("THAW_STORE_TOKEN");
	if (cli_default(&o.store, "THAW_STORE", CONFIG_STORE) ||
	    cli_default(&o.cache, NULL, CONFIG_CACHE) ||
	    cli_default(&o.key_file, NULL, CONFIG_KEY_FILE) ||
	    cli_default(&o.s3_endpoint, "THAW_S3_ENDPOINT", CONFIG_S3_ENDPOINT))
		return 1;
	if (!o.store || !*o.store)
		o.store = default_store = default_path(".cache/thaw/store");
	store_config_of(&o, &cfg, &cache_buf);
	rc = 1;
	/* a store named by the user is made only by push */
	if (strcmp(args[0], "umount") &&
	    cli_store_location(o.store, !default_store && strcmp(args[0], "push")))
		goto out;
	rc = 2;
	if (!strcmp(args[0], "umount")) {
		if (nargs != 2)
			goto usage;
		rc = imagefs_umount(args[1]) ? 1 : 0;
		goto out;
	}
	if (!strcmp(args[0], "mount") || !strcmp(args[0], "record")) {
		bool rec = args[0][0] == 'r';

		if (nargs != 2 || !o.name || (rec && !cmd) || (!rec && cmd))
			goto usage;
		mo.store = &cfg;
		mo.name = o.name;
		mo.mountpoint = args[1];
		mo.ram_limit = o.ram_limit;
		mo.fetch_timeout_ms = o.fetch_timeout_ms;
		mo.threads = o.threads;
		mo.no_prefetch = o.no_prefetch;
		mo.record = o.record;
		if (!rec) {
			rc = do_mount(&mo, o.foreground);
			goto out;
		}
	}
	rc = 1;
	if (store_open(&cfg, &s))
		goto out;
	if (!strcmp(args[0], "record")) {
		rc = do_record(s, &mo, cmd);
	} else if (!strcmp(args[0], "push")) {
		rc = nargs == 2 && o.name ? do_push(s, args[1], o.name) : -1;
	} else if (!strcmp(args[0], "ls")) {
		rc = nargs == 1 ? do_ls(s) : -1;
	} else if (!strcmp(args[0], "inspect")) {
		rc = nargs == 2 ? do_inspect(s, args[1], o.files) : -1;
	} else if (!strcmp(args[0], "rm")) {
		rc = nargs == 2 ? (imagefs_image_remove(s, args[1]) ? 1 : 0) : -1;
	} else {
		rc = cli_usage_error(usage, "unknown command '%s'", args[0]);
		goto out;
	}
	if (rc >= 0)
		goto out;
usage:
	rc = cli_usage_error(usage, "%s: wrong arguments", args[0]);
out:
	store_close(s);
	free(default_store);
	free(cache_buf);
	return rc;
}
