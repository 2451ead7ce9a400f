/*
 * cmd-restore.c - thaw restore (--dir DIR | --store DIR|URL --name NAME) [--detach] [--pidfile F]
 *
 * From a store, the snapshot is first rebuilt on tmpfs by several decoding
 * threads (store-snap.h), the engine restores from there, and the copy is
 * removed as soon as the program runs again.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "engine/engine.h"
#include "image/image.h"
#include "store/store-snap.h"

static void restore_usage(FILE *out)
{
	fprintf(out, "usage: thaw restore --dir DIR [--detach] [--pidfile FILE]\n"
		     "       thaw restore --store DIR|URL --name NAME [--cache DIR] [--key-file FILE]\n"
		     "                    [--detach] [--pidfile FILE]\n"
		     "\n"
		     "Recreates the snapshot's process in a fresh PID namespace with its original\n"
		     "PID and TIDs, and lets it run on.  In the foreground thaw restore forwards\n"
		     "SIGINT/SIGTERM/SIGHUP and exits with the program's status (128+signal when\n"
		     "killed); --detach returns once the program runs again.  --pidfile receives\n"
		     "the program's PID as the caller sees it.  --store: the snapshot NAME of a\n"
		     "store (docs/store.md); in front of a URL sits a local cache (--cache,\n"
		     "default ~/.cache/thaw/chunks).\n");
}

struct copy {
	char dir[PATH_MAX]; /* the rebuilt snapshot; empty once removed */
	struct image *img; /* read here when its pages lie on a huge tmpfs */
};

/* Once the program runs again, or when the restore failed: the copy goes. */
static void remove_copy(void *arg)
{
	struct copy *c = arg;

	if (c->img)
		c->img->pages_fd = -1; /* the store's: store_snap_remove closes it */
	if (c->dir[0])
		store_snap_remove(c->dir);
	c->dir[0] = 0;
}

/*
 * The rebuilt pages.img on a huge tmpfs (store_snap_pages_fd): the engine
 * gets the snapshot read here, with that file's fd in place of the
 * directory's placeholder.  The fd itself, not a copy: the engine's init
 * inherits every fd thaw has when it starts and closes the image's once the
 * program runs, while a copy would keep the whole tmpfs for the program's
 * lifetime.
 */
static int read_copy(struct copy *c, struct engine_restore_opts *opts)
{
	int fd = store_snap_pages_fd(c->dir), rc;

	if (fd < 0)
		return 0;
	rc = image_read(c->dir, &c->img);
	if (rc)
		return rc;
	close(c->img->pages_fd);
	c->img->pages_fd = fd;
	opts->image = c->img;
	return 0;
}

static int restore_from_store(const struct engine_restore_opts *base, const char *location,
			      const char *cache, const char *key_file, const char *name,
			      int *status)
{
	struct engine_restore_opts opts = *base; /* a copy: set to point into this frame */
	struct store_config cfg;
	struct copy copy = { .dir = "" };
	char *alloc = NULL;
	int rc;

	if (!store_name_valid(name)) {
		fprintf(stderr, "thaw restore: bad snapshot name '%s'\n", name);
		return -EINVAL;
	}
	rc = store_snap_config(location, cache, &cfg, &alloc);
	if (rc)
		goto out;
	cfg.key_file = key_file;
	rc = store_snap_materialize_pages_apart(&cfg, name, getenv("THAW_RESTORE_TMPDIR"), 0,
						copy.dir, sizeof(copy.dir), NULL);
	if (rc)
		goto out;
	rc = read_copy(&copy, &opts);
	if (rc)
		goto done;
	opts.dir = copy.dir;
	opts.on_restored = remove_copy;
	opts.on_restored_arg = &copy;
	rc = engine_restore(&opts, status);
done:
	remove_copy(&copy);
	image_free(copy.img);
out:
	free(alloc);
	return rc;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "detach", no_argument, NULL, 'D' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "store", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "cache", required_argument, NULL, 'c' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct engine_restore_opts opts = { 0 };
	const char *store = NULL, *name = NULL, *cache = NULL, *key_file = NULL;
	int c, status, rc;

	while ((c = getopt_long(argc, argv, "d:Dp:s:n:c:k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			opts.dir = optarg;
			break;
		case 'D':
			opts.detach = true;
			break;
		case 'p':
			opts.pidfile = optarg;
			break;
		case 's':
			store = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'c':
			cache = optarg;
			break;
		case 'k':
			key_file = optarg;
			break;
		case 'h':
			restore_usage(stdout);
			return 0;
		default:
			restore_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !opts.dir == !store || !store != !name ||
	    (!store && (cache || key_file))) {
		restore_usage(stderr);
		return 2;
	}
	if (store)
		rc = restore_from_store(&opts, store, cache, key_file, name, &status);
	else
		rc = engine_restore(&opts, &status);
	if (rc < 0)
		return 1;
	return status;
}
