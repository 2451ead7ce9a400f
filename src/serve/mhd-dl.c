/*
 * mhd-dl.c - resolves libmicrohttpd's entry points when serve starts (mhd-dl.h).
 */
#define LOG_TAG "serve"
#include "mhd-dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "base/log.h"

struct mhd_dl mhd_dl;

static const struct {
	const char *name;
	size_t offset;
} symbols[] = {
	{ "MHD_start_daemon", offsetof(struct mhd_dl, start_daemon) },
	{ "MHD_quiesce_daemon", offsetof(struct mhd_dl, quiesce_daemon) },
	{ "MHD_stop_daemon", offsetof(struct mhd_dl, stop_daemon) },
	{ "MHD_create_response_from_buffer", offsetof(struct mhd_dl, create_response_from_buffer) },
	{ "MHD_create_response_from_callback",
	  offsetof(struct mhd_dl, create_response_from_callback) },
	{ "MHD_add_response_header", offsetof(struct mhd_dl, add_response_header) },
	{ "MHD_queue_response", offsetof(struct mhd_dl, queue_response) },
	{ "MHD_destroy_response", offsetof(struct mhd_dl, destroy_response) },
	{ "MHD_get_connection_values", offsetof(struct mhd_dl, get_connection_values) },
	{ "MHD_lookup_connection_value", offsetof(struct mhd_dl, lookup_connection_value) },
	{ "MHD_get_connection_info", offsetof(struct mhd_dl, get_connection_info) },
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_result = -ENOENT;

static void load(void)
{
	void *lib = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (!lib) {
		log_error("cannot load libmicrohttpd.so.12 (Debian package libmicrohttpd12): %s",
			  dlerror());
		return;
	}
	for (i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		void *fn = dlsym(lib, symbols[i].name);

		if (!fn) {
			log_error("libmicrohttpd.so.12 has no %s", symbols[i].name);
			return;
		}
		*(void **)((char *)&mhd_dl + symbols[i].offset) = fn;
	}
	load_result = 0;
}

int mhd_dl_load(void)
{
	pthread_once(&once, load);
	return load_result;
}
