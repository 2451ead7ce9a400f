/*
 * curl-dl.h - libcurl, loaded when first needed.
 *
 * libcurl brings some twenty libraries with it (TLS, HTTP/2, LDAP, GSSAPI);
 * loading them at every start of thaw cost several milliseconds of each
 * restore, though only the HTTP store tier and `thaw run --snap-on-http` use
 * it.  A file that calls libcurl includes this header after <curl/curl.h>
 * (built with CURL_DISABLE_TYPECHECK) and calls curl_dl_load() first; the
 * calls below then go through pointers resolved by dlopen.
 */
#ifndef THAW_BASE_CURL_DL_H
#define THAW_BASE_CURL_DL_H

#include <curl/curl.h>

struct curl_dl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *curl);
	void (*easy_cleanup)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
	CURLMcode (*multi_add_handle)(CURLM *multi, CURL *curl);
	CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *curl);
	CURLMcode (*multi_perform)(CURLM *multi, int *running);
	CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd *extra, unsigned int nr,
				int timeout_ms, int *numfds);
	CURLMsg *(*multi_info_read)(CURLM *multi, int *msgs_in_queue);
	CURLMcode (*multi_cleanup)(CURLM *multi);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

extern struct curl_dl curl_dl;

/* Loads libcurl.so.4 once; 0 or -ENOENT (logged: which library, and why). */
int curl_dl_load(void) __attribute__((warn_unused_result));

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init curl_dl.global_init
#define curl_easy_init curl_dl.easy_init
#define curl_easy_setopt curl_dl.easy_setopt
#define curl_easy_getinfo curl_dl.easy_getinfo
#define curl_easy_perform curl_dl.easy_perform
#define curl_easy_cleanup curl_dl.easy_cleanup
#define curl_easy_strerror curl_dl.easy_strerror
#define curl_multi_init curl_dl.multi_init
#define curl_multi_setopt curl_dl.multi_setopt
#define curl_multi_add_handle curl_dl.multi_add_handle
#define curl_multi_remove_handle curl_dl.multi_remove_handle
#define curl_multi_perform curl_dl.multi_perform
#define curl_multi_poll curl_dl.multi_poll
#define curl_multi_info_read curl_dl.multi_info_read
#define curl_multi_cleanup curl_dl.multi_cleanup
#define curl_slist_append curl_dl.slist_append
#define curl_slist_free_all curl_dl.slist_free_all

#endif
