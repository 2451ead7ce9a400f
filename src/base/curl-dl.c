/*
 * curl-dl.c - resolves libcurl's entry points at first use (see curl-dl.h).
 */
#define LOG_TAG "curl"
#define CURL_DISABLE_TYPECHECK
#include "curl-dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "log.h"

struct curl_dl curl_dl;

static const struct {
	const char *name;
	size_t offset;
} symbols[] = {
	{ "curl_global_init", offsetof(struct curl_dl, global_init) },
	{ "curl_easy_init", offsetof(struct curl_dl, easy_init) },
	{ "curl_easy_setopt", offsetof(struct curl_dl, easy_setopt) },
	{ "curl_easy_getinfo", offsetof(struct curl_dl, easy_getinfo) },
	{ "curl_easy_perform", offsetof(struct curl_dl, easy_perform) },
	{ "curl_easy_cleanup", offsetof(struct curl_dl, easy_cleanup) },
	{ "curl_easy_strerror", offsetof(struct curl_dl, easy_strerror) },
	{ "curl_multi_init", offsetof(struct curl_dl, multi_init) },
	{ "curl_multi_setopt", offsetof(struct curl_dl, multi_setopt) },
	{ "curl_multi_add_handle", offsetof(struct curl_dl, multi_add_handle) },
	{ "curl_multi_remove_handle", offsetof(struct curl_dl, multi_remove_handle) },
	{ "curl_multi_perform", offsetof(struct curl_dl, multi_perform) },
	{ "curl_multi_poll", offsetof(struct curl_dl, multi_poll) },
	{ "curl_multi_info_read", offsetof(struct curl_dl, multi_info_read) },
	{ "curl_multi_cleanup", offsetof(struct curl_dl, multi_cleanup) },
	{ "curl_slist_append", offsetof(struct curl_dl, slist_append) },
	{ "curl_slist_free_all", offsetof(struct curl_dl, slist_free_all) },
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_result = -ENOENT;

static void load(void)
{
	void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (!lib) {
		log_error("cannot load libcurl.so.4 (Debian package libcurl4): %s", dlerror());
		return;
	}
	for (i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		void *fn = dlsym(lib, symbols[i].name);

		if (!fn) {
			log_error("libcurl.so.4 has no %s", symbols[i].name);
			return;
		}
		*(void **)((char *)&curl_dl + symbols[i].offset) = fn;
	}
	load_result = 0;
}

int curl_dl_load(void)
{
	pthread_once(&once, load);
	return load_result;
}
